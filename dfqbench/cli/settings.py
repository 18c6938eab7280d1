"""Run settings from the command line's values: device, preset switches, profile, cache, each checked."""

from __future__ import annotations

from pathlib import Path

import torch

from dfqbench.errors import UserError


def resolve_device(name: str, check: bool = True) -> torch.device:
    """``cpu`` or ``cuda[:N]``; ``check``: this machine must have it (not so for a cluster's driver)."""
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise UserError(f"unknown device '{name}' (choose cpu or cuda)")
    if check and name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no GPU")
    return torch.device(name)


def make_settings(preset: str, preset_set: list[str], profile: str, device: str, cache_dir: Path,
                  limit: int | None, data_dir: Path | None, imagenet: Path | None, save_models: Path | None,
                  checkpoint_dir: Path | None = None, check_device: bool = True, flush_denormal: bool = False):
    """Run settings from the command line's values, each checked (one-line errors)."""
    from dfqbench.profiles import get_profile
    from dfqbench.runner.cache import SynthesisCache
    from dfqbench.runner.cell import RunSettings

    if limit is not None and limit < 1:
        raise UserError(f"--limit must be at least 1, got {limit}")
    if flush_denormal and device != "cpu":
        raise UserError(f"--flush-denormal is a CPU setting; --device {device} has no use for it")
    if flush_denormal and torch.get_num_threads() != 1:
        raise UserError("--flush-denormal needs one torch thread per cell (dfqbench --threads 1, or --cpus-per-cell 1 "
                        "with Ray): the CPU flag holds for the thread that sets it only")
    return RunSettings(preset=preset_with_switches(preset, preset_set), profile=get_profile(profile),
                       device=resolve_device(device, check_device), cache=SynthesisCache(cache_dir), limit=limit,
                       data_dir=data_dir, imagenet=imagenet, save_models=save_models, checkpoint_dir=checkpoint_dir,
                       flush_denormal=flush_denormal)


def preset_with_switches(name: str, items: list[str]):
    """A registered preset with ``--preset-set`` switches; its name records them (``standard[log2...]``)."""
    import dataclasses

    from dfqbench.quant.preset import QuantPreset, get_preset
    from dfqbench.runner.overrides import apply_overrides

    base = get_preset(name)
    if not items:
        return base
    raw = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key.strip() in ("", "name"):
            raise UserError(f"malformed --preset-set '{item}' (expected KEY=VALUE, e.g. first_last_8bit=true)")
        raw[key.strip()] = value.strip()
    preset = apply_overrides(QuantPreset, dataclasses.asdict(base), raw, "preset", name)
    label = ",".join(f"{k}={v}" for k, v in sorted(raw.items()))
    return dataclasses.replace(preset, name=f"{name}[{label}]")


def executor_options(executor: str, address: str | None, cpus: int, gpus: float, device: str, need_ray: bool = True):
    """The Ray options of ``--executor ray`` (None for the in-process executor), each checked; with Ray, this
    process's torch threads become ``--cpus-per-cell``, so that the cells it plans carry the threads they run
    with. ``need_ray``: Ray must be installed (not so for a plan that computes nothing)."""
    if executor not in ("process", "ray"):
        raise UserError(f"unknown --executor '{executor}' (choose process or ray)")
    if executor == "process":
        given = [name for name, value in (("--ray-address", address), ("--cpus-per-cell", cpus != 1),
                                          ("--gpus-per-cell", gpus)) if value]
        if given:
            raise UserError(f"{', '.join(given)} needs --executor ray")
        return None
    from dfqbench.runner.ray_executor import RayOptions, require_ray

    if need_ray:
        require_ray()
    if cpus < 1:
        raise UserError(f"--cpus-per-cell must be at least 1, got {cpus}")
    if gpus < 0 or (gpus > 0 and not device.startswith("cuda")):
        raise UserError("--gpus-per-cell must be at least 0, and above 0 only with --device cuda")
    torch.set_num_threads(cpus)
    return RayOptions(address=address, cpus_per_cell=cpus, gpus_per_cell=gpus)
