"""``--set synth.KEY=VALUE`` / ``--set calib.KEY=VALUE``: parsed and validated against the typed configs."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from dfqbench.config import Config
from dfqbench.errors import UserError
from dfqbench.naming import did_you_mean

TRUE, FALSE = {"true", "on", "yes", "1"}, {"false", "off", "no", "0"}
STAGES = ("synth", "calib")


def parse_set_options(items: list[str]) -> dict[str, dict[str, str]]:
    """``["synth.se=off", "calib.gamma=5"]`` -> ``{"synth": {"se": "off"}, "calib": {"gamma": "5"}}`` (raw strings)."""
    parsed: dict[str, dict[str, str]] = {stage: {} for stage in STAGES}
    for item in items:
        key, sep, value = item.partition("=")
        stage, dot, field = key.strip().partition(".")
        if not sep or not dot or not field or stage not in STAGES:
            raise UserError(f"malformed --set '{item}' (expected synth.KEY=VALUE or calib.KEY=VALUE)")
        parsed[stage][field] = value.strip()
    return parsed


def _convert(text: str, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if text.lower() in ("none", "null"):
            return None
        return _convert(text, args[0], where)
    if annotation is bool:
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise UserError(f"{where} expects true/false (or on/off), got '{text}'")
    if annotation in (int, float):
        try:
            return annotation(text)
        except ValueError:
            raise UserError(f"{where} expects {annotation.__name__}, got '{text}'") from None
    if annotation is str:
        return text
    if origin is tuple:
        inner = typing.get_args(annotation)[0]
        return tuple(_convert(part, inner, where) for part in text.split(":") if part)
    raise UserError(f"{where} cannot be set from the command line")


def apply_overrides(config_cls: type[Config], base: dict[str, Any], raw: dict[str, str], stage: str,
                    plugin: str) -> Config:
    """The plugin's config with the method's ``base`` overrides, then the command line's ``raw`` ones."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    values = dict(base)
    for key, text in raw.items():
        if key not in fields:
            raise UserError(f"{plugin} has no {stage} option '{key}'{did_you_mean(key, fields)} "
                            f"(options: {', '.join(fields) or 'none'})")
        values[key] = _convert(text, hints[key], f"{stage}.{key} of {plugin}")
    try:
        return config_cls(**values)
    except (TypeError, ValueError) as exc:
        raise UserError(f"invalid {stage} config for {plugin}: {exc}") from None


def variant_label(method: str, raw: dict[str, dict[str, str]]) -> str:
    """``maskaq`` + ``{"synth": {"se": "off"}}`` -> ``maskaq[se=off]``; the plain name without overrides."""
    parts = [f"{key}={value}" for stage in STAGES for key, value in sorted(raw.get(stage, {}).items())]
    return f"{method}[{','.join(parts)}]" if parts else method
