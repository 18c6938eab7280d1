"""Bit-width notation and quantizer presets (dfqbench/PROTOCOL.md)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dfqbench.errors import UserError
from dfqbench.quant.bits import MAX_BITS, MIN_BITS, BitWidth, parse_bit_list
from dfqbench.quant.preset import PRESETS, QuantPreset, get_preset, preset_names

# --- BitWidth.parse -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["4w4a", "W4A4", "w4a4", "W4/A4", "w4/a4", "4W4A", " 4w4a ", "W4 / A4", "04w04a"])
def test_parse_accepted_forms_are_canonical(text):
    bits = BitWidth.parse(text)
    assert bits == BitWidth(4, 4)
    assert (bits.weight, bits.activation) == (4, 4)
    assert str(bits) == "4w4a"


@pytest.mark.parametrize("text, weight, activation", [
    ("4w8a", 4, 8), ("W4A8", 4, 8), ("W4/A8", 4, 8), ("8w4a", 8, 4), ("W8A4", 8, 4),
    ("2w2a", 2, 2), ("16w16a", 16, 16), ("W3/A6", 3, 6),
])
def test_parse_keeps_weight_and_activation_apart(text, weight, activation):
    bits = BitWidth.parse(text)
    assert (bits.weight, bits.activation) == (weight, activation)
    assert str(bits) == f"{weight}w{activation}a"
    assert BitWidth.parse(str(bits)) == bits  # the canonical form parses back to itself


@pytest.mark.parametrize("bits", range(MIN_BITS, MAX_BITS + 1))
def test_every_bit_width_in_range_round_trips(bits):
    for text in (f"{bits}w{bits}a", f"W{bits}A{bits}", f"W{bits}/A{bits}"):
        assert str(BitWidth.parse(text)) == f"{bits}w{bits}a"


@pytest.mark.parametrize("text", ["1w4a", "4w1a", "0w0a", "17w4a", "4w17a", "W1A8", "W8/A32", "W0/A0", "99w99a"])
def test_parse_rejects_bits_outside_2_to_16(text):
    with pytest.raises(UserError, match=r"2\.\.16"):
        BitWidth.parse(text)


@pytest.mark.parametrize("weight, activation", [(1, 4), (4, 1), (17, 8), (8, 17), (0, 0), (-4, 4)])
def test_constructor_rejects_bits_outside_range(weight, activation):
    with pytest.raises(UserError):
        BitWidth(weight, activation)


@pytest.mark.parametrize("text", ["fp", "FP", " fp "])
def test_parse_rejects_fp_with_a_clear_message(text):
    with pytest.raises(UserError, match="full-precision"):
        BitWidth.parse(text)


@pytest.mark.parametrize("text", [
    "", " ", "4", "4w", "w4", "4a4w", "a4w4", "A4W4", "4w4a4", "4x4a", "4.5w4a", "-4w4a", "w4a", "wa", "4w4a,",
    "4w 4a 8w", "W4//A4", "fp16", "int4", "four", "4 bits",
])
def test_parse_rejects_garbage(text):
    with pytest.raises(UserError) as info:
        BitWidth.parse(text)
    assert "\n" not in str(info.value)  # one line for the CLI


def test_malformed_message_names_the_accepted_forms():
    with pytest.raises(UserError, match="4w4a"):
        BitWidth.parse("int4")


def test_bit_width_is_hashable_and_frozen():
    bits = BitWidth.parse("4w8a")
    assert {bits, BitWidth(4, 8)} == {bits}
    with pytest.raises(dataclasses.FrozenInstanceError):
        bits.weight = 8  # type: ignore[misc]


# --- parse_bit_list -----------------------------------------------------------------------------------------------


def test_bit_list_dedups_and_keeps_order():
    bits = parse_bit_list("8w8a,4w4a,W4A4,W8/A8,w4a8,4w4a")
    assert [str(b) for b in bits] == ["8w8a", "4w4a", "4w8a"]


def test_bit_list_order_is_first_appearance():
    assert [str(b) for b in parse_bit_list("W4A8, 3w3a ,4w8a")] == ["4w8a", "3w3a"]
    assert [str(b) for b in parse_bit_list("4w4a")] == ["4w4a"]


def test_bit_list_skips_empty_items():
    assert [str(b) for b in parse_bit_list("4w4a,,8w8a,")] == ["4w4a", "8w8a"]


@pytest.mark.parametrize("text", ["", ",", " , "])
def test_bit_list_rejects_empty(text):
    with pytest.raises(UserError):
        parse_bit_list(text)


@pytest.mark.parametrize("text", ["4w4a,fp", "4w4a,garbage", "4w4a,1w4a", "4w4a;8w8a"])
def test_bit_list_rejects_a_bad_item(text):
    with pytest.raises(UserError):
        parse_bit_list(text)


# --- presets ------------------------------------------------------------------------------------------------------


def test_standard_preset_is_the_protocol_default():
    preset = get_preset("standard")
    assert isinstance(preset, QuantPreset)
    assert preset.name == "standard"
    assert preset.act_learnable is True
    assert preset.quantize_matmuls is True
    assert preset.softmax_quantizer == "uniform"
    assert preset.first_last_8bit is False
    assert preset == QuantPreset()


def test_psaq_preset_has_frozen_activations_and_fp_softmax():
    preset = get_preset("psaq")
    assert preset.name == "psaq"
    assert preset.act_learnable is False
    assert preset.softmax_quantizer == "none"
    assert preset.first_last_8bit is False


def test_preset_names():
    assert preset_names() == ["psaq", "standard"]
    assert preset_names("ps*") == ["psaq"]
    assert set(PRESETS) == {"standard", "psaq"}


@pytest.mark.parametrize("name", ["standrad", "Standard", "stanard", "psa", "psaqq"])
def test_unknown_preset_suggests_a_close_name(name):
    with pytest.raises(UserError, match=r"did you mean: .*(standard|psaq)"):
        get_preset(name)


def test_unknown_preset_without_close_name():
    with pytest.raises(UserError, match="unknown preset 'zzzz'") as info:
        get_preset("zzzz")
    assert "did you mean" not in str(info.value)


def test_overrides_replace_fields_without_touching_the_registry():
    preset = get_preset("standard", first_last_8bit=True, softmax_quantizer="log2")
    assert preset.first_last_8bit is True and preset.softmax_quantizer == "log2"
    assert get_preset("standard").first_last_8bit is False
    assert get_preset("standard").softmax_quantizer == "uniform"


def test_unknown_override_is_a_user_error():
    with pytest.raises(UserError, match="first_last_8"):
        get_preset("standard", first_last_8=True)


def test_bad_softmax_quantizer_is_a_user_error():
    with pytest.raises(UserError, match="softmax_quantizer"):
        get_preset("standard", softmax_quantizer="log10")


def test_presets_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_preset("standard").act_learnable = False  # type: ignore[misc]


@pytest.mark.parametrize("name", ["standard", "psaq"])
def test_hash_is_stable_across_calls(name):
    first = get_preset(name).hash()
    assert len(first) == 12 and all(c in "0123456789abcdef" for c in first)
    assert get_preset(name).hash() == first
    assert dataclasses.replace(get_preset(name)).hash() == first
    assert QuantPreset.from_json(get_preset(name).to_json()).hash() == first


def test_hash_is_stable_across_processes():
    """The hash is printed in result rows, so it must not depend on PYTHONHASHSEED or the process."""
    code = ("from dfqbench.quant.preset import get_preset; "
            "print(get_preset('standard').hash(), get_preset('psaq').hash())")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root,
                         check=True, timeout=120).stdout.split()
    assert out == [get_preset("standard").hash(), get_preset("psaq").hash()]


def _changed(value):
    if isinstance(value, bool):
        return not value
    if value == "uniform":
        return "log2"
    if value in ("log2", "none"):
        return "uniform"
    return f"{value}-x"


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(QuantPreset)])
def test_hash_changes_when_any_field_changes(field):
    base = get_preset("standard")
    changed = dataclasses.replace(base, **{field: _changed(getattr(base, field))})
    assert changed != base
    assert changed.hash() != base.hash()


def test_the_two_presets_hash_differently():
    assert get_preset("standard").hash() != get_preset("psaq").hash()


@pytest.mark.parametrize("preset", [
    get_preset("standard"), get_preset("psaq"), get_preset("standard", first_last_8bit=True),
    get_preset("psaq", softmax_quantizer="log2"),
])
def test_json_round_trip(preset):
    text = preset.to_json()
    data = json.loads(text)
    assert data["type"] == "QuantPreset" and data["version"] == QuantPreset.CONFIG_VERSION
    back = QuantPreset.from_json(text)
    assert back == preset
    assert back.to_json() == text
    assert back.hash() == preset.hash()
    assert QuantPreset.from_dict(preset.to_dict()) == preset


def test_from_json_rejects_other_types_versions_and_fields():
    data = get_preset("standard").to_dict()
    with pytest.raises(ValueError, match="QuantPreset"):
        QuantPreset.from_dict({**data, "type": "Other"})
    with pytest.raises(ValueError, match="version"):
        QuantPreset.from_dict({**data, "version": QuantPreset.CONFIG_VERSION + 1})
    with pytest.raises(ValueError, match="bogus"):
        QuantPreset.from_dict({**data, "bogus": 1})
