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
CONFIG_SECTIONS = ("synth", "calib")  # the --set prefixes: the synthesizer's and the calibrator's config


def parse_set_options(items: list[str]) -> dict[str, dict[str, str]]:
    """``["synth.se=off", "calib.gamma=5"]`` -> ``{"synth": {"se": "off"}, "calib": {"gamma": "5"}}`` (raw strings)."""
    parsed: dict[str, dict[str, str]] = {stage: {} for stage in CONFIG_SECTIONS}
    for item in items:
        key, sep, value = item.partition("=")
        stage, dot, field = key.strip().partition(".")
        if not sep or not dot or not field or stage not in CONFIG_SECTIONS:
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


def parse_typed(config_cls: type[Config], raw: dict[str, str], stage: str, plugin: str) -> dict[str, Any]:
    """``--set`` strings of one stage checked against ``config_cls`` and converted to its field types."""
    fields = {f.name for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    typed = {}
    for key, text in raw.items():
        if key not in fields:
            raise UserError(f"{plugin} has no {stage} option '{key}'{did_you_mean(key, fields)} "
                            f"(options: {', '.join(fields) or 'none'})")
        typed[key] = _convert(text, hints[key], f"{stage}.{key} of {plugin}")
    return typed


def build_config(config_cls: type[Config], base: dict[str, Any], typed: dict[str, Any], stage: str,
                 plugin: str) -> Config:
    """The plugin's config with the method's ``base`` overrides, then the typed ``--set`` ones."""
    try:
        return config_cls(**{**base, **typed})
    except (TypeError, ValueError) as exc:
        raise UserError(f"invalid {stage} config for {plugin}: {exc}") from None


def apply_overrides(config_cls: type[Config], base: dict[str, Any], raw: dict[str, str], stage: str,
                    plugin: str) -> Config:
    """The plugin's config with the method's ``base`` overrides, then the command line's ``raw`` strings."""
    return build_config(config_cls, base, parse_typed(config_cls, raw, stage, plugin), stage, plugin)


def canonical_text(value: Any) -> str:
    """One spelling per value: ``off``, ``false`` and ``0`` of a bool field are all ``false``; floats by repr."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ":".join(canonical_text(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def json_value(value: Any) -> Any:
    """A typed override as JSON (tuples as lists)."""
    return [json_value(v) for v in value] if isinstance(value, (tuple, list)) else value


def variant_label(method: str, overrides: dict[str, dict[str, Any]], tuned: bool = False) -> str:
    """``maskaq`` + ``{"synth": {"se": False}}`` -> ``maskaq[se=false]``; the plain name without overrides;
    ``sardfq[tuned]`` / ``sardfq[tuned,apa=false]`` for a method run with a tuning file's values.

    Built from the typed values, so ``se=off``, ``se=false`` and ``se=0`` give one label."""
    parts = ["tuned"] if tuned else []
    parts += [f"{key}={canonical_text(value)}" for stage in CONFIG_SECTIONS
              for key, value in sorted(overrides.get(stage, {}).items())]
    return f"{method}[{','.join(parts)}]" if parts else method
