"""Summarise a pytest-benchmark JSON file as the README's Markdown tables.

Usage: .venv/bin/python -m tests.benchmarks.report runs/bench.json [more.json ...]
(several files: their benchmarks are merged, a later file's measurement replacing an earlier one's).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

# synthesis step -> the bare passes it needs (benchmarks in test_bench_synthesis_*.py)
STEP_PAIRS = {
    "mimiq step": "fp fwd+bwd",
    "maskaq step": "fp+q fwd+bwd",
    "psaq-vit": "bare-teacher",
    "psaq-vit-v2": "bare-teacher-student",  # round 1 already plays against the student (adversarial_first)
    "psaq-vit-v2-refresh": "bare-teacher-student",
    "sardfq": "bare-teacher-msr-crops",
}


def medians(data: dict) -> dict[str, dict[tuple, float]]:
    """test function -> {params tuple: median seconds}."""
    found: dict[str, dict[tuple, float]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        params = bench.get("params") or {}
        found[bench["name"].split("[")[0]][tuple(sorted(params.items()))] = bench["stats"]["median"]
    return found


def param(key: tuple, name: str):
    return dict(key)[name]


def main(*paths: str) -> None:
    files = [json.load(open(path)) for path in paths]
    data = {"machine_info": files[-1]["machine_info"], "benchmarks": [b for f in files for b in f["benchmarks"]]}
    machine = data["machine_info"]
    threads = {b.get("extra_info", {}).get("threads") for b in data["benchmarks"]} - {None}
    print(f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, {machine.get('cpu', {}).get('count', '?')} "
          f"cores, python {machine.get('python_version')}, torch threads {sorted(threads) or '?'}\n")
    found = medians(data)
    if "test_forward_backward_batch32" in found:
        passes = {param(key, "name"): t for key, t in found["test_forward_backward_batch32"].items()}
        print("| model | forward+backward, batch 32 (ms, median) | against the Fashion-MNIST model of its family |"
              "\n|---|---|---|")
        for model, t in sorted(passes.items()):
            base = passes.get(f"fmnist_{model.rsplit('_', 1)[-1]}")
            ratio = f"{t / base:.2f}x" if base and not model.startswith("fmnist_") else "–"
            print(f"| {model} | {1000 * t:.1f} | {ratio} |")
        print()
    if "test_eval_fp_vs_fake_quant" in found:
        evals = {(param(k, "name"), param(k, "mode")): t for k, t in found["test_eval_fp_vs_fake_quant"].items()}
        print("| model | FP eval, 1024 images (ms) | fake-quant 4w4a (ms) | ratio |\n|---|---|---|---|")
        for model in sorted({m for m, _ in evals}):
            fp, q = evals.get((model, "fp")), evals.get((model, "4w4a"))
            if fp and q:
                print(f"| {model} | {1000 * fp:.0f} | {1000 * q:.0f} | {q / fp:.2f}x |")
        print()
    ssim = {b["extra_info"]["form"]: b for b in data["benchmarks"]
            if b["name"].startswith("test_inter_head_ssim_forward_backward")}
    if {"moments", "direct"} <= set(ssim):
        print_ssim_table(ssim)
    paired = [b for b in data["benchmarks"] if "ratio_median" in b.get("extra_info", {})]
    if paired:
        print_paired_table(paired)
    device_steps = {(b["extra_info"]["model"], b["extra_info"]["case"]): b for b in data["benchmarks"]
                    if b["name"].startswith("test_device_step_batch32")}
    if device_steps:
        print_device_table(device_steps)
    steps = {}
    for key, t in found.get("test_synthesis_step_batch32", {}).items():
        params = dict(key)
        steps[(params["name"], params.get("case") or params.get("component"))] = t
    if steps:
        print("| model | synthesis step | step (ms) | bare passes (ms) | ratio |\n|---|---|---|---|---|")
        for (model, case), t in sorted(steps.items()):
            bare = steps.get((model, STEP_PAIRS.get(case, "")))
            if case in STEP_PAIRS and bare:
                print(f"| {model} | {case} | {1000 * t:.0f} | {1000 * bare:.0f} | {t / bare:.2f}x |")


def print_paired_table(paired: list[dict]) -> None:
    """Steps timed in alternation with their bare passes: medians of each side and of the per-pair ratios."""
    print("| model | step | against | step (ms) | bare (ms) | ratio (median of pairs) |\n|---|---|---|---|---|---|")
    for info in sorted((b["extra_info"] for b in paired), key=lambda i: (i["model"], i["case"])):
        print(f"| {info['model']} | {info['case']} | {info['bare']} | {1000 * info['step_median']:.0f} | "
              f"{1000 * info['bare_median']:.0f} | {info['ratio_median']:.2f}x |")
    print()


DEVICE_PAIRS = {"maskaq step": "teacher+student fwd+bwd", "qat step": "qat passes"}


def print_device_table(steps: dict) -> None:
    """A MaskAQ step and a QAT step against their bare passes, per model, on the device they ran on."""
    print("| model | device | step | step (ms) | bare passes (ms) | ratio |\n|---|---|---|---|---|---|")
    for (model, case), bench in sorted(steps.items()):
        bare = steps.get((model, DEVICE_PAIRS.get(case, "")))
        if bare is not None:
            t, b = bench["stats"]["median"], bare["stats"]["median"]
            print(f"| {model} | {bench['extra_info']['device_name']} | {case} | {1000 * t:.1f} | {1000 * b:.1f} | "
                  f"{t / b:.2f}x |")
    print()


def print_ssim_table(ssim: dict) -> None:
    """dfqbench's inter-head SSIM (moments) beside the direct transcription: time and peak memory, and ratios."""
    ours, direct = ssim["moments"], ssim["direct"]
    print(f"| form (batch {ours['extra_info']['batch']}, forward+backward) | median (ms) | peak memory (MiB) |"
          "\n|---|---|---|")
    for name, bench in (("dfqbench (moments)", ours), ("direct transcription", direct)):
        print(f"| {name} | {1000 * bench['stats']['median']:.0f} | {bench['extra_info']['peak_bytes'] / 2**20:.0f} |")
    print(f"| direct / dfqbench | {direct['stats']['median'] / ours['stats']['median']:.1f}x | "
          f"{direct['extra_info']['peak_bytes'] / ours['extra_info']['peak_bytes']:.1f}x |\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
