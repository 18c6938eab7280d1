"""Calibrated students (``dfqbench run --save-models``) packed for committing: fewer bytes, readable names.

A packed student holds the same tensors in a smaller float type (float16 halves the file; integer and boolean
tensors, such as a quantizer's ``initialised`` flag, are kept) and the same metadata, under the name
``METHOD_MODEL_BITS_seedK.safetensors``. What float16 changes: each weight is rounded to 11 significant bits, far
below a 3- to 8-bit quantizer's step, but a weight on a rounding boundary of its grid may move to the next level;
figures drawn from packed students say so.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from dfqbench.errors import UserError

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def packed_name(cell: dict) -> str:
    """``METHOD_MODEL_BITS_seedK.safetensors``, with any character outside ``[A-Za-z0-9.+=-]`` as ``-``."""
    stem = f"{cell['method']}_{cell['model']}_{cell['bits']}_seed{cell['seed']}"
    return re.sub(r"[^A-Za-z0-9.+=_-]", "-", stem) + ".safetensors"


def pack_student(source: Path, folder: Path, dtype: str = "float16") -> Path:
    """Write ``source``'s tensors as ``dtype`` (floating ones only) with its metadata into ``folder``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from dfqbench.plots.attention_maps import student_cell

    if dtype not in DTYPES:
        raise UserError(f"--dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
    cell = student_cell(source)
    with safe_open(str(source), "pt") as file:
        metadata = file.metadata()
    state = {k: v.to(DTYPES[dtype]) if v.is_floating_point() else v for k, v in load_file(str(source)).items()}
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / packed_name(cell)
    save_file(state, str(target), metadata=metadata)
    return target
