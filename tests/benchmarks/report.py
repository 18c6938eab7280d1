"""Summarise a pytest-benchmark JSON file as the README's Markdown tables.

Usage: .venv/bin/python -m tests.benchmarks.report runs/bench.json
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict


def main(path: str) -> None:
    data = json.load(open(path))
    machine = data["machine_info"]
    print(f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, python {machine.get('python_version')}; "
          f"torch threads {data['benchmarks'][0].get('extra_info', {}).get('threads', '?')}\n")
    means = {b["name"]: b["stats"]["median"] for b in data["benchmarks"]}
    rows = defaultdict(dict)
    for name, median in means.items():
        match = re.match(r"(\w+)\[(.+)\]", name)
        test, params = match.group(1), match.group(2).split("-")
        rows[test]["-".join(params)] = median
    if "test_forward_backward_batch32" in rows:
        print("| model | forward+backward, batch 32 (ms, median) |\n|---|---|")
        for model, t in sorted(rows["test_forward_backward_batch32"].items()):
            print(f"| {model} | {1000 * t:.1f} |")
        print()
    if "test_eval_fp_vs_fake_quant" in rows:
        evals = rows["test_eval_fp_vs_fake_quant"]
        print("| model | FP eval, 1024 images (ms) | fake-quant 4w4a (ms) | ratio |\n|---|---|---|---|")
        models = sorted({k.split("-", 1)[0] for k in evals})
        for model in models:
            fp, q = evals.get(f"{model}-fp"), evals.get(f"{model}-4w4a")
            if fp and q:
                print(f"| {model} | {1000 * fp:.0f} | {1000 * q:.0f} | {q / fp:.2f}x |")


if __name__ == "__main__":
    main(sys.argv[1])
