"""The golden test: every method's numbers on the default ViT at the ``golden`` profile, pinned.

For every registered method and a reference row of every calibrator, on ``fmnist_vit`` at 4w4a, one thread,
seed 0, the first 512 test images: the synthetic set's content hash, the cell id and the top-1 must equal the
pins in ``tests/golden/golden_fmnist_vit.json``. The ``golden`` profile (8 images in 2 batches, 10 synthesis and
16 calibration steps) crosses every schedule branch: PSAQ-ViT's two rounds with their warm-ups, V2's four rounds,
MaskAQ's mask annealing and six refreshes, SARDFQ's block reconstruction. A refactor must leave every pin as it
is; a deliberate change of a number bumps the plugin's (or preset's) version and updates the pins in the same
commit: ``DFQBENCH_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py -m slow``.

The pins are bit-exact on one kind of CPU only: the CPU's vendor and the instruction set torch dispatches to
(``torch.backends.cpu.get_cpu_capability()``) choose other kernels (oneDNN, MKL, torch's own), whose last bits
differ, and an iterative synthesis carries a last bit into another set (measured: an Intel Xeon with AVX-512 gave
other sets and top-1 than the AMD EPYC the first pins were made on, for 7 of the 11 rows). So the file holds one
set of pins per CPU kind (``GenuineIntel/AVX512``; ``AuthenticAMD/*`` stands for any AMD capability), the test
compares with its own kind's, and skips, saying how to add them, on a kind that has none; updating writes this
kind's pins and leaves the others. Pins of every kind must change together when a number changes deliberately.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from dfqbench.api import METHODS
from dfqbench.profiles import get_profile
from dfqbench.quant.bits import BitWidth
from dfqbench.quant.preset import get_preset
from dfqbench.runner.cache import SynthesisCache, content_hash
from dfqbench.runner.cell import RunSettings, plugin_configs, synthesis_key
from dfqbench.runner.grid import expand_grid, resolve_method
from dfqbench.runner.provenance import cpu_kind
from dfqbench.runner.run import run_grid
from dfqbench.store.sqlite import ResultStore
from dfqbench.zoo.backbones import load_backbone

MODEL = "fmnist_vit"
PINS = Path(__file__).parent / "golden" / f"golden_{MODEL}.json"
REFERENCES = ("noise", "real", "noise+ptq", "noise+hsad", "noise+masked-hsad", "noise+block-recon")


def golden_rows(tmp_path: Path) -> dict[str, dict]:
    labels = [*REFERENCES, *sorted(name for name in METHODS.names() if name != "fp")]
    cells = expand_grid([resolve_method(label, {}) for label in labels], [MODEL], [BitWidth(4, 4)], [0])
    settings = RunSettings(preset=get_preset("standard"), profile=get_profile("golden"), device=torch.device("cpu"),
                           cache=SynthesisCache(tmp_path / "cache"), limit=512)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ResultStore(tmp_path / "golden.sqlite") as store:
            report = run_grid(cells, settings, store)
    finally:
        torch.set_num_threads(threads)
    assert not report.failed, [(row["method"], row["error"]) for row in report.failed]
    backbone, done = load_backbone(MODEL), {row["method"]: row for row in report.done}
    rows = {}
    for cell in cells:
        row = done[cell.method.label]
        hit = settings.cache.load(synthesis_key(plugin_configs(cell)[0], cell, backbone, settings))
        rows[cell.method.label] = {"cell_id": row["cell_id"], "top1": row["top1"], "synthesis_sha256": set_hash(hit)}
    return rows


def set_hash(hit) -> str | None:
    if hit is None:
        return None
    tensors = {"images": hit.synthetic.images}
    if hit.synthetic.labels is not None:
        tensors["labels"] = hit.synthetic.labels
    return content_hash(tensors)


def pins_for(kinds: dict[str, dict], kind: str) -> dict | None:
    """The pins of ``kind``: its own, else its vendor's ``VENDOR/*``, else None."""
    return kinds.get(kind) or kinds.get(kind.split("/")[0] + "/*")


def test_pins_are_chosen_by_cpu_kind():
    kinds = {"AuthenticAMD/*": {"a": 1}, "GenuineIntel/AVX512": {"b": 2}}
    assert pins_for(kinds, "AuthenticAMD/AVX2") == {"a": 1}
    assert pins_for(kinds, "GenuineIntel/AVX512") == {"b": 2}
    assert pins_for(kinds, "GenuineIntel/AVX2") is None
    assert "/" in cpu_kind() and set(json.loads(PINS.read_text())) >= {"AuthenticAMD/*", "GenuineIntel/AVX512"}


@pytest.mark.slow
def test_every_method_matches_its_golden_pins(tmp_path):
    rows, kind = golden_rows(tmp_path), cpu_kind()
    kinds = json.loads(PINS.read_text())
    if os.environ.get("DFQBENCH_UPDATE_GOLDEN") == "1":
        kinds[kind if pins_for(kinds, kind) is None or kind in kinds else kind.split("/")[0] + "/*"] = rows
        PINS.write_text(json.dumps(kinds, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"wrote the pins of {kind} in {PINS}")
    pins = pins_for(kinds, kind)
    if pins is None:
        pytest.skip(f"no golden pins for this CPU kind ({kind}); add them with DFQBENCH_UPDATE_GOLDEN=1 on a checkout "
                    f"whose pins pass on a known kind")
    assert sorted(rows) == sorted(pins), "the registered methods changed: update the pins (see the docstring)"
    for label, pinned in pins.items():
        assert rows[label] == pinned, (f"{label} moved from its golden pins: bump its version and update the pins "
                                       "in the same commit if the change is deliberate")
