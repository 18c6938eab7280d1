"""Run the dfqbench CLI in-process through its real entry point (exit codes included)."""

from __future__ import annotations

import sys

import pytest

from dfqbench.cli import main


def run_cli(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["dfqbench", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, pattern: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert pattern in lines[0]
    if "Traceback" in err:
        pytest.fail(err)


def run_ok(args: list[str]) -> None:
    """Run the CLI in-process outside a test's fixtures (e.g. in a module-scoped fixture); fail unless it exits 0."""
    saved, sys.argv = sys.argv, ["dfqbench", *args]
    try:
        main()
    except SystemExit as exc:
        assert not exc.code, exc.code
    finally:
        sys.argv = saved
