"""Load any registered backbone: an embedded zoo model or a timm ViT / DeiT / Swin by name.

Zoo weights are verified against the SHA-256 recorded in the manifest.
timm models come pretrained through timm (needs internet access) or from
``--checkpoint PATH``: a safetensors file, or a torch file read with
``weights_only=True`` (never unpickled).
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file
from timm.models.deit import VisionTransformerDistilled
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer

from dfqbench.errors import UserError
from dfqbench.naming import did_you_mean, match_wildcards
from dfqbench.quant.wrap import check_supported
from dfqbench.zoo.registry import get_zoo_model, is_zoo_model, sha256_file, zoo_models

TIMM_FAMILIES = ("vit_*", "deit_*", "deit3_*", "swin_*")


@dataclass(frozen=True)
class Backbone:
    """A loaded full-precision model and what identifies it."""

    name: str
    family: str
    model: nn.Module
    weights_hash: str
    dataset: str
    source: str

    @property
    def data_config(self) -> dict:
        return timm.data.resolve_data_config(model=self.model)


def family_of(model: nn.Module, name: str) -> str:
    if isinstance(model, SwinTransformer):
        return "swin"
    if isinstance(model, VisionTransformerDistilled) or name.startswith("deit"):
        return "deit"
    if isinstance(model, VisionTransformer):
        return "vit"
    raise UserError(f"'{name}' is not a ViT, DeiT or Swin model")


def timm_model_names(pattern: str | None = None) -> list[str]:
    names = sorted({n for fam in TIMM_FAMILIES for n in timm.list_models(fam)})
    return match_wildcards(names, pattern)


def state_dict_hash(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file or a weights-only torch file (``state_dict``/``model`` nesting unwrapped)."""
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot read checkpoint {path}: {first} (give a safetensors file or a weights-only "
                        "torch file)") from None
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"checkpoint {path} holds no state dict of tensors")
    return state


def checkpoint_num_classes(state: dict[str, torch.Tensor]) -> int:
    """Class count of a checkpoint, read off its classifier weight (1000 when it has none)."""
    for key in ("head.weight", "head.fc.weight"):
        if key in state:
            return state[key].shape[0]
    return 1000


def load_state(model: nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = str(exc).strip().splitlines()
        detail = lines[1].strip() if len(lines) > 1 else lines[0]
        raise UserError(f"{origin} does not fit the model: {detail}") from None


def load_zoo(name: str) -> Backbone:
    entry = get_zoo_model(name)
    path, record = entry.weights_path, entry.record
    if not path.is_file() or record is None:
        raise UserError(f"zoo model '{name}' has no trained weights yet; run: dfqbench zoo train {name}")
    digest = sha256_file(path)
    if digest != record["sha256"]:
        raise UserError(f"zoo weights corrupt (SHA-256 {digest[:12]} != recorded {record['sha256'][:12]}): {path}")
    model = entry.build()
    load_state(model, load_file(str(path)), str(path))
    return Backbone(name, entry.family, model.eval(), digest, entry.dataset, "zoo")


def load_timm(name: str, checkpoint: Path | None = None, **kwargs) -> Backbone:
    if name not in timm.list_models():
        candidates = timm_model_names() + zoo_models()
        raise UserError(f"unknown model '{name}'{did_you_mean(name, candidates)}")
    if checkpoint is not None:
        state = read_checkpoint(checkpoint)
        kwargs.setdefault("num_classes", checkpoint_num_classes(state))
        model = timm.create_model(name, pretrained=False, **kwargs)
        load_state(model, state, str(checkpoint))
        source = f"checkpoint:{checkpoint}"
    else:
        check_supported(timm.create_model(name, pretrained=False, **kwargs), name)  # before any download
        model = pretrained_timm(name, **kwargs)
        source = "timm-pretrained"
    check_supported(model, name)
    family = family_of(model, name)
    fit_input_size(model)
    return Backbone(name, family, model.eval(), state_dict_hash(model), "imagenet", source)


HUB = ("huggingface.co", 443)
NO_WEIGHTS = ("cannot load pretrained weights for '{name}': {why}; give your own: dfqbench run --checkpoint "
              "{name}=PATH, or dfqbench eval --model {name} --checkpoint PATH (safetensors or a weights-only torch "
              "file)")


def hub_reachable(timeout: float = 2.0) -> bool:
    import socket

    try:
        socket.create_connection(HUB, timeout=timeout).close()
    except OSError:
        return False
    return True


def pretrained_timm(name: str, **kwargs) -> nn.Module:
    """timm's pretrained model, from the hub or its local cache; without a reachable hub, from the cache only
    (at once, instead of a minute of retries), else one line naming ``--checkpoint``."""
    import contextlib
    import io
    import logging

    import huggingface_hub.constants as hub

    offline = not hub_reachable()
    saved, hub.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE or offline
    quiet = logging.getLogger("huggingface_hub"), logging.getLogger("timm")
    levels = [logger.level for logger in quiet]
    try:
        for logger in quiet:
            logger.setLevel(logging.ERROR)
        with contextlib.redirect_stderr(io.StringIO()):
            return timm.create_model(name, pretrained=True, **kwargs)
    except Exception as exc:  # no network and nothing cached, or the hub refused
        why = "no hub reachable and none cached" if offline else f"the hub answered {type(exc).__name__}"
        raise UserError(NO_WEIGHTS.format(name=name, why=why)) from None
    finally:
        hub.HF_HUB_OFFLINE = saved
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


def fit_input_size(model: nn.Module) -> None:
    """Make the data config's input size the model's own (timm keeps 224 when built with another img_size)."""
    cfg = dict(getattr(model, "pretrained_cfg", {}) or {})
    in_chans = model.patch_embed.proj.in_channels
    size = (in_chans, *model.patch_embed.img_size)
    if cfg.get("input_size") != size:
        model.pretrained_cfg = {**cfg, "input_size": size}


def load_backbone(name: str, checkpoint: Path | None = None, img_size: int | None = None) -> Backbone:
    """A zoo model by name, or a timm ViT/DeiT/Swin (pretrained, or from ``checkpoint``, at ``img_size``)."""
    if is_zoo_model(name):
        if checkpoint is not None or img_size is not None:
            raise UserError(f"'{name}' is a zoo model with committed weights; --checkpoint and --img-size "
                            "are for timm models")
        return load_zoo(name)
    return load_timm(name, checkpoint, **({"img_size": img_size} if img_size else {}))
