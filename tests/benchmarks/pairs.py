"""A step and its bare passes timed in alternation, so that the ratio between them is not moved by the drift of a
shared machine (a ratio of two medians measured minutes apart moved by 0.1x-0.3x here).

``interleaved(benchmark, step, bare, rounds)`` runs ``rounds`` pairs (step, then bare, after one warm-up pair),
hands the whole loop to pytest-benchmark once (``benchmark.pedantic``), and records in ``extra_info`` each side's
median seconds and the median of the per-pair ratios, which ``tests/benchmarks/report.py`` prints.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from dfqbench.runtime import denormals_flushed


def interleaved(benchmark, step: Callable[[], object], bare: Callable[[], object], rounds: int = 15) -> None:
    if not benchmark.enabled:  # smoke test: each side once
        step()
        bare()
        benchmark.pedantic(lambda: None, rounds=1, iterations=1)
        return
    times: dict[str, list[float]] = {"step": [], "bare": []}

    def loop():
        step()
        bare()  # warm-up pair
        for _ in range(rounds):
            for name, fn in (("step", step), ("bare", bare)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)

    benchmark.pedantic(loop, rounds=1, iterations=1)
    benchmark.extra_info.update(
        step_median=statistics.median(times["step"]), bare_median=statistics.median(times["bare"]),
        ratio_median=statistics.median(s / b for s, b in zip(times["step"], times["bare"], strict=True)),
        pairs=rounds)


def median_seconds(fn: Callable[[], object], repeats: int = 9) -> float:
    """Median wall seconds of ``fn`` over ``repeats`` calls, after one call that warms it up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def flushed(fn: Callable[[], object], on: bool = True) -> Callable[[], object]:
    """``fn`` run with subnormal floats flushed to zero (``--flush-denormal``) when ``on``."""
    def run():
        with denormals_flushed(on):
            return fn()
    return run
