"""The zoo's ranking margin: real minus noise per bit-width and the bar's verdict."""

from __future__ import annotations

import pandas as pd
import pytest

from dfqbench.tables.margin import BARS, margin_markdown, margins, summarise, summary_markdown


def frame(rows: dict[tuple[str, str], list[float]], model: str = "m") -> pd.DataFrame:
    records = [dict(method="fp", synthesizer="", model=model, bits="fp", seed=0, status="ok", top1=90.0)]
    for (method, bits), values in rows.items():
        records += [dict(method=method, synthesizer=method.split("+")[0], model=model, bits=bits, seed=s,
                         status="ok", top1=v) for s, v in enumerate(values)]
    return pd.DataFrame(records)


@pytest.mark.parametrize(("noise", "real", "verdict"), [
    ([80.0, 81.0, 82.0], [85.0, 85.5, 86.0], "met"),                 # 4.5 points, stds 1.0 and 0.5
    ([80.0, 81.0, 82.0], [83.0, 83.5, 84.0], "**not met**"),         # 2.5 points < 3
    ([70.0, 75.0, 80.0], [81.0, 81.0, 81.0], "**not met**"),         # 6 points but < 2 x std 5.0
    ([80.0, 81.0], [85.0, 86.0], "fewer than 3 seeds"),
])
def test_verdict_at_4w4a(noise, real, verdict):
    (m,) = margins(frame({("noise", "4w4a"): noise, ("real", "4w4a"): real}), "m")
    assert m.bits == "4w4a" and m.verdict(BARS["harness"]) == verdict
    assert m.value == pytest.approx(sum(real) / len(real) - sum(noise) / len(noise))


def test_other_bits_are_informative_and_missing_rows_show_a_dash():
    rows = {("noise", "5w5a"): [80.0, 80.0, 80.0], ("real", "5w5a"): [81.0, 81.0, 81.0], ("noise", "3w3a"): [50.0]}
    text = margin_markdown(frame(rows), ["m"])
    assert ("| m | real − noise | 5w5a | 80.00 ± 0.00 (n=3) | 81.00 ± 0.00 (n=3) | 1.00 [1.00, 1.00] "
            "| (informative) |") in text
    assert "| m | real − noise | 3w3a | 50.00 (n=1) | – | – | – |" in text


def test_the_margin_carries_its_welch_interval():
    from dfqbench.tables.entry import Entry
    from dfqbench.tables.margin import Margin
    from dfqbench.tables.stats import welch_t_test

    noise, real = [82.0, 82.1, 81.9], [85.4, 85.3, 85.2]
    margin = Margin("4w4a", Entry(82.0, 0.1, 3), Entry(85.3, 0.1, 3))
    assert margin.interval == pytest.approx(welch_t_test(real, noise).interval())


@pytest.mark.parametrize(("bits", "noise", "real", "verdict"), [
    ("4w4a", [80.0, 80.5, 81.0], [87.0, 87.5, 88.0], "met"),          # 7.0 >= 6.7
    ("4w4a", [80.0, 80.5, 81.0], [86.5, 87.0, 87.5], "**not met**"),  # 6.5 < 6.7
    ("3w3a", [60.0, 60.5, 61.0], [76.0, 76.5, 77.0], "met"),          # 16 >= 15
    ("3w3a", [60.0, 60.5, 61.0], [74.0, 74.5, 75.0], "**not met**"),  # 14 < 15
    ("5w5a", [60.0, 60.5, 61.0], [61.0, 61.5, 62.0], "(informative)"),
])
def test_the_test_bed_bar(bits, noise, real, verdict):
    (m,) = margins(frame({("noise", bits): noise, ("real", bits): real}), "m")
    assert m.verdict(BARS["test-bed"]) == verdict


def test_same_calibrator_windows_compare_noise_c_with_real_c_and_are_informative():
    rows = {("noise", "4w4a"): [80.0] * 3, ("real", "4w4a"): [88.0] * 3,
            ("noise+hsad", "4w4a"): [81.0, 81.5, 82.0], ("real+hsad", "4w4a"): [85.0, 85.5, 86.0]}
    text = margin_markdown(frame(rows), ["m"], ["kd", "hsad"], BARS["test-bed"])
    assert "| m | real+hsad − noise+hsad | 4w4a | 81.50 ± 0.50 (n=3) | 85.50 ± 0.50 (n=3) | 4.00" in text
    assert text.rstrip().endswith("| (informative) |")


def test_a_test_bed_is_judged_by_its_smallest_4w4a_window_over_every_model():
    good = {("noise", "4w4a"): [80.0, 80.5, 81.0], ("real", "4w4a"): [90.0, 90.5, 91.0],
            ("noise", "3w3a"): [50.0, 50.5, 51.0], ("real", "3w3a"): [80.0, 80.5, 81.0]}
    weak = dict(good)
    weak[("real", "4w4a")] = [86.0, 86.5, 87.0]   # 6.0 < 6.7
    data = pd.concat([frame(good, "a_vit"), frame(good, "a_swin"), frame(weak, "b_vit"), frame(good, "b_swin"),
                      frame({k: v for k, v in good.items() if k[1] == "4w4a"}, "c_vit")])
    bar = BARS["test-bed"]
    a, b, c = summarise(data, {"a": ["a_vit", "a_swin"], "b": ["b_vit", "b_swin"], "c": ["c_vit"]}, bar)
    assert (a.meets_bar, a.complete, a.smallest.value) == (True, True, pytest.approx(10.0))
    assert (b.meets_bar, b.smallest.model, b.smallest.value) == (False, "b_vit", pytest.approx(6.0))
    assert (c.complete, c.meets_bar) == (False, False)   # no 3w3a rows
    text = summary_markdown([a, b, c], bar)
    assert "| a | 10.00 (a_swin) | met |" in text or "| a | 10.00 (a_vit) | met |" in text
    assert "| b | 6.00 (b_vit) | **not met** |" in text and "| c | 10.00 (c_vit) | incomplete |" in text
