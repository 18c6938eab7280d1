"""The committed numbers' environment: constraints.txt pins it, the bootstrap installs it, every row records it."""

from __future__ import annotations

import json
from pathlib import Path

from dfqbench.runner.provenance import CONSTRAINTS, constraints_record, package_versions, read_constraints

ROOT = Path(__file__).resolve().parents[1]


def test_the_constraints_pin_the_numerical_stack():
    pins = read_constraints()
    assert {"torch", "timm", "numpy", "safetensors", "scipy", "pandas"} <= set(pins)
    assert all(version and version[0].isdigit() for version in pins.values())


def test_the_bootstrap_installs_with_the_constraints():
    assert "-c constraints.txt" in (ROOT / ".ci" / "bootstrap").read_text()
    assert CONSTRAINTS == ROOT / "constraints.txt"


def test_this_environment_is_the_pinned_one_and_rows_say_so():
    record = json.loads(package_versions())
    assert record["constraints"] == constraints_record()["constraints"]
    assert record["off_constraints"] == {}, f"installed packages differ from constraints.txt: {record}"


def test_a_package_off_its_pin_is_named(tmp_path, monkeypatch):
    import dfqbench.runner.provenance as provenance

    pinned = tmp_path / "constraints.txt"
    pinned.write_text("# comment\ntorch==0.0.1\nTyping_Extensions==0.0.2  # a comment\n")
    monkeypatch.setattr(provenance, "CONSTRAINTS", pinned)
    provenance.constraints_record.cache_clear()
    try:
        assert read_constraints(pinned) == {"torch": "0.0.1", "typing-extensions": "0.0.2"}
        assert set(provenance.constraints_record()["off_constraints"]) == {"torch", "typing-extensions"}
    finally:
        provenance.constraints_record.cache_clear()
