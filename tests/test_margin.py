"""The zoo's ranking margin: real minus noise per bit-width and the bar's verdict."""

from __future__ import annotations

import pandas as pd
import pytest

from dfqbench.tables.margin import margin_markdown, margins


def frame(rows: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    records = [dict(method="fp", synthesizer="", model="m", bits="fp", seed=0, status="ok", top1=90.0)]
    for (method, bits), values in rows.items():
        records += [dict(method=method, synthesizer=method, model="m", bits=bits, seed=s, status="ok", top1=v)
                    for s, v in enumerate(values)]
    return pd.DataFrame(records)


@pytest.mark.parametrize(("noise", "real", "verdict"), [
    ([80.0, 81.0, 82.0], [85.0, 85.5, 86.0], "met"),                 # 4.5 points, stds 1.0 and 0.5
    ([80.0, 81.0, 82.0], [83.0, 83.5, 84.0], "**not met**"),         # 2.5 points < 3
    ([70.0, 75.0, 80.0], [81.0, 81.0, 81.0], "**not met**"),         # 6 points but < 2 x std 5.0
    ([80.0, 81.0], [85.0, 86.0], "fewer than 3 seeds"),
])
def test_verdict_at_4w4a(noise, real, verdict):
    (m,) = margins(frame({("noise", "4w4a"): noise, ("real", "4w4a"): real}), "m")
    assert m.bits == "4w4a" and m.verdict == verdict
    assert m.value == pytest.approx(sum(real) / len(real) - sum(noise) / len(noise))


def test_other_bits_are_informative_and_missing_rows_show_a_dash():
    rows = {("noise", "5w5a"): [80.0, 80.0, 80.0], ("real", "5w5a"): [81.0, 81.0, 81.0], ("noise", "3w3a"): [50.0]}
    text = margin_markdown(frame(rows), "m")
    assert "| 5w5a | 80.00 ± 0.00 (n=3) | 81.00 ± 0.00 (n=3) | 1.00 [1.00, 1.00] | (informative) |" in text
    assert "| 3w3a | 50.00 (n=1) | – | – | – |" in text


def test_the_margin_carries_its_welch_interval():
    from dfqbench.tables.cell import Cell
    from dfqbench.tables.margin import Margin
    from dfqbench.tables.stats import welch_t_test

    noise, real = [82.0, 82.1, 81.9], [85.4, 85.3, 85.2]
    margin = Margin("4w4a", Cell(82.0, 0.1, 3), Cell(85.3, 0.1, 3))
    assert margin.interval == pytest.approx(welch_t_test(real, noise).interval())
