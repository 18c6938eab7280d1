"""What ``dfqbench plot attention`` shows: where the FP and calibrated quantized models look, and MaskAQ's mask.

For an image x and a model M wrapped by :func:`dfqbench.quant.wrap_model`, the map is MaskAQ's score

    s_M(x) = mean_l mean_h S_l[cls, patches] * sqrt(d)      (the CLS query's unscaled logits, per patch)

(Swin, without a CLS token: the attention each patch receives, per window, un-shifted), each block's map brought
to the finest patch grid; this is :func:`methods.maskaq.score_map` on :func:`methods.maskaq.attention_maps`, the
quantity MaskAQ's masked alignment compares between FP and quantized model. The informative region is the top
``k = max(1, floor(P r))`` of the P patches of the FP score, without the stochastic drop (``r``: ``--mask-ratio``).

A student is a file of ``dfqbench run --save-models``: the calibrated quantized model's state (float32, or float16
as committed under ``results/``) with the cell it came from in the file's metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from dfqbench.errors import UserError
from dfqbench.kit.attention import AttentionTaps
from dfqbench.methods.maskaq import attention_maps, informative_mask, logit_unscale, score_map
from dfqbench.plots.attention import AttentionRow
from dfqbench.quant.bits import parse_bit_list
from dfqbench.quant.preset import QuantPreset, get_preset
from dfqbench.quant.state import QuantState, set_quant_state
from dfqbench.quant.wrap import wrap_model
from dfqbench.zoo.backbones import Backbone


@dataclass(frozen=True)
class Student:
    """A calibrated quantized model read from a ``--save-models`` file, and the cell it came from."""

    path: Path
    method: str
    model: str
    bits: str
    seed: int
    preset: QuantPreset
    module: torch.nn.Module
    profile: str = "unrecorded"  # the profile it was calibrated at (older files do not record it)

    @property
    def name(self) -> str:
        return f"{self.method} (seed {self.seed})"


def student_cell(path: Path) -> dict:
    """The cell recorded in a student file's metadata (method, model, bits, seed; preset when recorded)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as file:
            metadata = file.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise UserError(f"{path}: not a safetensors file ({exc})") from None
    if "cell" not in metadata:
        raise UserError(f"{path}: no cell in its metadata; students come from 'dfqbench run --save-models DIR'")
    return json.loads(metadata["cell"])


def student_preset(path: Path, cell: dict) -> QuantPreset:
    """The preset a student was quantized with (files before it was recorded: ``standard``)."""
    if "preset" not in cell:
        return get_preset("standard")
    try:
        return QuantPreset.from_dict(cell["preset"])
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path}: its preset is not one this version reads ({exc})") from None


def student_files(paths: list[Path]) -> list[Path]:
    """The ``.safetensors`` files named, or found in the folders named, in a stable order."""
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(path.glob("*.safetensors"))
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"no student file or folder at {path}")
    if not files:
        raise UserError(f"no .safetensors files in {', '.join(map(str, paths))}")
    return files


def load_student(path: Path, backbone: Backbone) -> Student:
    """The student of ``path`` on ``backbone`` (its own model), in QUANTIZE state, float32."""
    from safetensors.torch import load_file

    cell = student_cell(path)
    if cell["model"] != backbone.name:
        raise UserError(f"{path} is a student of {cell['model']}, not of {backbone.name}")
    preset = student_preset(path, cell)
    module = wrap_model(backbone.model, preset, parse_bit_list(cell["bits"])[0]).eval()
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise UserError(f"{path}: its tensors do not fit {backbone.name} at {cell['bits']} with preset "
                        f"{preset.name} ({str(exc).splitlines()[0]})") from None
    set_quant_state(module, QuantState.QUANTIZE)
    return Student(path, cell["method"], cell["model"], cell["bits"], int(cell["seed"]), preset,
                   module.requires_grad_(False), cell.get("profile", "unrecorded"))


def fp_model(backbone: Backbone, student: Student) -> torch.nn.Module:
    """The FP model wrapped like the student, quantizers off (exact floating point)."""
    module = wrap_model(backbone.model, student.preset, parse_bit_list(student.bits)[0]).eval()
    set_quant_state(module, QuantState.OFF)
    return module.requires_grad_(False)


@torch.no_grad()
def score(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``s_M(x)`` of the module's doc: (B, H, W) on the finest patch grid."""
    with AttentionTaps(model, keep=("logits", "probs"), detach=True) as taps:
        model(images)
    return score_map(attention_maps(taps.records, logit_unscale(model)))


def top_patches(scores: torch.Tensor, ratio: float) -> torch.Tensor:
    """The informative region of the module's doc: (B, H, W) in {0, 1}, the top-k patches, no drop."""
    if not 0 < ratio <= 1:
        raise UserError(f"--mask-ratio must be in (0, 1], got {ratio}")
    unused = torch.Generator().manual_seed(0)  # drop = 0: the mask draws nothing
    return informative_mask(scores.flatten(1), ratio, 0.0, unused).view_as(scores)


def distinct_classes(labels: torch.Tensor, n: int) -> list[int]:
    """Indices of the first image of each class, in order, at most ``n`` of them."""
    seen, picked = set(), []
    for index, label in enumerate(labels.tolist()):
        if label not in seen and len(picked) < n:
            seen.add(label)
            picked.append(index)
    return picked


def attention_rows(backbone: Backbone, students: list[Student], images: torch.Tensor, captions: list[str],
                   ratio: float) -> list[AttentionRow]:
    """One :class:`AttentionRow` per model input of ``images`` (N, C, H, W).

    The maps are computed in float64, so that the figure's bytes are the same on every CPU (float32 matmul
    kernels sum in an order that depends on the instruction set, enough to move a pixel across a colour level);
    a quantizer's rounding differs from the float32 model's only for inputs within float32's error of a
    rounding boundary.
    """
    from dfqbench.data.transforms import to_pixels

    exact = images.double()
    fp = score(fp_model(backbone, students[0]).double(), exact)
    quantized = [score(student.module.double(), exact) for student in students]
    mask = top_patches(fp, ratio)
    pixels = to_pixels(images, backbone.data_config)
    return [AttentionRow(caption, pixels[i], fp[i], [q[i] for q in quantized], mask[i])
            for i, caption in enumerate(captions)]


__all__ = ["Student", "attention_rows", "distinct_classes", "fp_model", "load_student", "score", "student_cell",
           "student_files", "top_patches"]
