"""``dfqbench list``: methods, synthesizers, calibrators, models, presets, profiles (wildcards allowed)."""

from __future__ import annotations

import typer
from rich.table import Table

from dfqbench.cli.console import console
from dfqbench.cli.options import plugin_option
from dfqbench.errors import UserError

KINDS = ("methods", "synthesizers", "calibrators", "models", "presets", "profiles")


def _plugin_table(registry, pattern: str | None) -> Table:
    table = Table("name", "version", "paper", "options", "notes")
    for name, cls in registry.items(pattern):
        fields = ", ".join(f"{k}={v!r}" for k, v in cls.Config().to_dict().items() if k not in ("type", "version"))
        table.add_row(name, str(cls.version), cls.paper, fields or "-", cls.notes or "")
    return table


def _methods_table(pattern: str | None) -> Table:
    from dfqbench.api import CALIBRATORS, METHODS, SYNTHESIZERS

    table = Table("method", "synthesizer", "calibrator", "paper", "notes")
    table.add_row("fp", "-", "-", "full-precision model (no quantization)", "")
    for name, method in METHODS.items(pattern):
        lines = [method.description, SYNTHESIZERS.get(method.synthesizer).notes,
                 CALIBRATORS.get(method.calibrator).notes]
        overrides = {**method.synth_overrides, **method.calib_overrides}
        if overrides:
            lines.append(f"overrides: {overrides}")
        if method.ablations:
            lines.append(f"ablations (--ablations): {', '.join(method.ablations)}")
        notes = "\n".join(dict.fromkeys(line.strip() for line in lines if line and line.strip()))
        table.add_row(name, method.synthesizer, method.calibrator, method.paper, notes)
    return table


def list_command(
    kind: str = typer.Argument(..., help="methods, synthesizers, calibrators, models, presets or profiles."),
    pattern: str = typer.Argument(None, help="Wildcard filter, e.g. '*vit*'."),
    plugin: list[str] = plugin_option(),
) -> None:
    """List what is registered.

    Examples:

      dfqbench list methods

      dfqbench list models 'deit_*'

      dfqbench list calibrators --plugin my_method.py
    """
    from dfqbench.api import CALIBRATORS, SYNTHESIZERS
    from dfqbench.registry import load_plugin_file

    for path in plugin or []:
        load_plugin_file(path)
    if kind not in KINDS:
        from dfqbench.naming import did_you_mean

        raise UserError(f"cannot list '{kind}'{did_you_mean(kind, KINDS)} (choose from: {', '.join(KINDS)})")
    if kind == "methods":
        table = _methods_table(pattern)
    elif kind == "synthesizers":
        table = _plugin_table(SYNTHESIZERS, pattern)
    elif kind == "calibrators":
        table = _plugin_table(CALIBRATORS, pattern)
    elif kind == "models":
        from dfqbench.zoo.backbones import timm_model_names
        from dfqbench.zoo.registry import get_zoo_model, zoo_models

        table = Table("model", "source", "family")
        for name in zoo_models(pattern):
            table.add_row(name, f"zoo ({get_zoo_model(name).dataset})", get_zoo_model(name).family)
        for name in timm_model_names(pattern):
            table.add_row(name, "timm (ImageNet)", name.split("_")[0])
    elif kind == "presets":
        from dfqbench.quant.preset import PRESETS, preset_names

        table = Table("preset", "hash", "config")
        for name in preset_names(pattern):
            table.add_row(name, PRESETS.get(name).hash(), PRESETS.get(name).to_json())
    else:
        from dfqbench.profiles import PROFILES, profile_names

        table = Table("profile", "images", "synth batch", "synth steps", "calib steps", "calib batch", "refreshes",
                      "description")
        for name in profile_names(pattern):
            p = PROFILES.get(name)
            table.add_row(name, *(str(v) for v in (p.n_images, p.synth_batch_size, p.synth_steps, p.calib_steps,
                                                   p.calib_batch_size, p.refreshes)), p.description)
        own = {n: cls.paper_budget for n, cls in SYNTHESIZERS.items() if cls.paper_budget}
        if own and any(name == "paper" for name in profile_names(pattern)):
            table.caption = "at paper, methods with their paper's own budget: " + "; ".join(
                f"{n}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in b.items()) for n, b in own.items())
    console.print(table)
