"""Block-wise reconstruction (BRECQ-style), the calibration of SARDFQ (Zhong et al., ICCV 2025). Calibrator
``block-recon``; the method ``sardfq`` (``methods/sardfq.py``) pairs it with its synthesizer.

**A re-implementation from SARDFQ's paper** (the authors' code was not available).

block-wise reconstruction in order, SARDFQ's calibration (BRECQ-style). Unit ``l``
(the patch embedding rides with the first block, Swin's patch merging with
the first block of its stage, the final norm and head(s) with the last
block) gets the *quantized* model's input (the output of the already
reconstructed units) and minimises ``||X_l - Xq_l||^2`` (mean over elements)
against the FP unit's output on the FP input; its weights (straight-through)
and activation step sizes train (zero points stay: ``calib.train_zero_points``);
Adam lr 4e-5, cosine to 0 per unit, 100 iterations per unit at every profile
(``calib.iters_per_block=0`` splits ``profile.calib_steps`` over the units
instead). Activation ranges are initialised with ``mse`` on the first
calibration batch [choice].
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn
import torch.nn.functional as F

from dfqbench.api import CalibrationSource, Calibrator, ModelContext, register_calibrator
from dfqbench.config import Config
from dfqbench.kit.ranges import init_activation_ranges, trainable_quant_params
from dfqbench.kit.schedules import cosine_lr, round_bounds

PAPER = ("Zhong et al., Semantic Alignment and Reinforcement for Data-Free Quantization of Vision Transformers, "
         "ICCV 2025 (block-wise reconstruction after Li et al., BRECQ, ICLR 2021)")
HEAD_MODULES = ("norm", "fc_norm", "head", "head_dist")  # timm: after the last block


class _Stop(Exception):
    """Raised by a forward hook to end a forward pass early."""


def run_until(model: nn.Module, block: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``block``'s output in ``model(images)``; the layers after it do not run."""
    out = []

    def hook(module, args, output):
        out.append(output)
        raise _Stop

    handle = block.register_forward_hook(hook)
    try:
        model(images)
    except _Stop:
        pass
    finally:
        handle.remove()
    return out[0]


@dataclasses.dataclass
class Unit:
    """One reconstruction unit: ``block`` (its output is the unit's output, logits for the last unit),
    ``before`` (Swin's patch merging, run first), ``modules`` whose quantized weights and quantizers train."""

    block: nn.Module
    before: nn.Module | None
    modules: list[nn.Module]
    first: bool = False
    last: bool = False


def reconstruction_units(model: nn.Module) -> list[Unit]:
    """The blocks of a timm ViT/DeiT (``model.blocks``) or Swin (``model.layers[i].blocks[j]``) in order; the
    patch embedding goes with the first, the final norm and the classifier head(s) with the last."""
    if hasattr(model, "blocks"):
        pairs = [(None, block) for block in model.blocks]
    else:
        pairs = [(stage.downsample if j == 0 else None, block)
                 for stage in model.layers for j, block in enumerate(stage.blocks)]
    units = [Unit(block, before, [m for m in (before, block) if m is not None]) for before, block in pairs]
    units[0].first = True
    units[0].modules.append(model.patch_embed)
    units[-1].last = True
    units[-1].modules += [m for m in (getattr(model, n, None) for n in HEAD_MODULES) if isinstance(m, nn.Module)]
    return units


def run_unit(model: nn.Module, unit: Unit, x: torch.Tensor) -> torch.Tensor:
    """The unit's output on its input ``x`` (the image for the first unit)."""
    if unit.first:
        return model(x) if unit.last else run_until(model, unit.block, x)
    if unit.before is not None:
        x = unit.before(x)
    x = unit.block(x)
    return model.forward_head(model.norm(x)) if unit.last else x


def unit_parameters(unit: Unit, weights: bool, act: bool, zero_points: bool = False) -> list[nn.Parameter]:
    """The unit's quantized-layer weights, its activation quantizers' step sizes and (``zero_points``) zero points."""
    return trainable_quant_params(unit.modules, weights, act, zero_points)


def reconstruction_loss(student_out: torch.Tensor, teacher_out: torch.Tensor) -> torch.Tensor:
    """``||X_l - Xq_l||^2``, averaged over the elements."""
    return F.mse_loss(student_out, teacher_out)


@torch.no_grad()
def _chunked(fn, x: torch.Tensor, size: int) -> torch.Tensor:
    return torch.cat([fn(x[i:i + size]) for i in range(0, len(x), size)])


@register_calibrator("block-recon")
class BlockReconstruction(Calibrator):
    """Reconstruct each block's output in order (BRECQ-style, weights straight-through), Adam lr 4e-5;
    checkpoints after each block."""

    version = 3  # 2: 100 iterations per unit at every profile, zero points frozen (as the paper);
    #              3: the cosine decay ends after the last iteration (its last step ran at lr 0)
    paper = PAPER
    notes = "re-implementation of SARDFQ's block-wise reconstruction from the paper; choices are config fields."

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        recon: bool = True                      # block-wise reconstruction (else: range initialisation only)
        act_init: str = "mse"                   # activation ranges on the first calibration batch
        lr: float = 4e-5
        final_lr_ratio: float = 0.0             # cosine from lr to lr * final_lr_ratio, reached after a unit
        iters_per_block: int = 100              # per unit at every profile; 0: profile.calib_steps split over them
        batch_size: int = 0                     # 0: profile.calib_batch_size
        train_weights: bool = True              # quantized weights, straight-through
        train_act: bool = True                  # activation step sizes
        train_zero_points: bool = False         # also the activation zero points (not in the paper)

    def calibrate(self, ctx: ModelContext, source: CalibrationSource) -> None:
        cfg, student, teacher, gen = self.config, ctx.student, ctx.teacher, ctx.generator
        batch_size = cfg.batch_size or ctx.profile.calib_batch_size
        init_activation_ranges(student, [source.batch(batch_size, gen)], cfg.act_init)
        self.history: list[dict[str, float]] = []
        if not cfg.recon:
            ctx.progress(1, 1)
            return
        s_units, t_units = reconstruction_units(student), reconstruction_units(teacher)
        if cfg.iters_per_block > 0:
            iters = [cfg.iters_per_block] * len(s_units)
        else:
            bounds = round_bounds(ctx.profile.calib_steps, len(s_units))
            iters = [max(1, bounds[k + 1] - bounds[k]) for k in range(len(s_units))]
        images = source.images
        first, inputs = self.resume(ctx, images)
        done = sum(iters[:first])
        for k, (s_unit, t_unit) in enumerate(zip(s_units, t_units, strict=True)):
            if k < first:
                continue
            target = _chunked(lambda x, u=t_unit: teacher(x) if u.last else run_until(teacher, u.block, x),
                              images, batch_size)
            before = self.unit_error(student, s_unit, inputs, target, batch_size)
            params = unit_parameters(s_unit, cfg.train_weights, cfg.train_act, cfg.train_zero_points)
            if params:
                opt = torch.optim.Adam(params, lr=cfg.lr)
                for it in range(iters[k]):
                    for group in opt.param_groups:
                        # iters + 1: the decay reaches final_lr_ratio after the last step, so that
                        # with a ratio of 0 the last step still moves the parameters
                        group["lr"] = cosine_lr(it, iters[k] + 1, cfg.lr, cfg.final_lr_ratio)
                    index = torch.randint(0, len(inputs), (batch_size,), generator=gen).to(inputs.device)
                    loss = reconstruction_loss(run_unit(student, s_unit, inputs[index]), target[index])
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"reconstruction loss is {loss.item()} in block {k}")
                    grads = torch.autograd.grad(loss, params)
                    for p, g in zip(params, grads, strict=True):
                        p.grad = g
                    opt.step()
                    done += 1
                    ctx.progress(done, sum(iters))
                for p in params:
                    p.grad = None
            after = self.unit_error(student, s_unit, inputs, target, batch_size)
            self.history.append({"block": k, "before": before, "after": after})
            inputs = _chunked(lambda x, u=s_unit: run_unit(student, u, x), inputs, batch_size)
            ctx.checkpoint.save({"units": k + 1, "student": student.state_dict(), "inputs": inputs.cpu(),
                                 "history": self.history, "generator": gen.get_state()})

    def resume(self, ctx: ModelContext, images: torch.Tensor) -> tuple[int, torch.Tensor]:
        """(units done, the next unit's inputs): ``(0, images)`` without a checkpoint, else the checkpoint's,
        with the student, the history and the generator restored."""
        state = ctx.checkpoint.load()
        if state is None:
            return 0, images
        ctx.student.load_state_dict(state["student"])
        ctx.generator.set_state(state["generator"])
        self.history = state["history"]
        return state["units"], state["inputs"].to(ctx.device)

    @staticmethod
    @torch.no_grad()
    def unit_error(model: nn.Module, unit: Unit, inputs: torch.Tensor, target: torch.Tensor, size: int) -> float:
        """Mean squared error of the unit over the whole calibration set."""
        total = sum(float(reconstruction_loss(run_unit(model, unit, inputs[i:i + size]), target[i:i + size]))
                    * len(inputs[i:i + size]) for i in range(0, len(inputs), size))
        return total / len(inputs)
