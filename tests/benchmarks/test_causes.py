"""The causes tool of README "Speed" runs and prints each of its measurements (on the Fashion-MNIST models)."""

from __future__ import annotations

from benchmarks.causes import entropy_cost, row_reductions, subnormals


def test_the_causes_tool_prints_its_measurements(capsys):
    row_reductions()
    entropy_cost("fmnist_vit")
    subnormals("fmnist_swin")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["mimiq", "psaq-vit", "subnormals", "subnormals"], lines
    assert all(" ms" in line for line in lines)
