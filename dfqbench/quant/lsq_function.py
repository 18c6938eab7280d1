"""LSQ fake quantization as one autograd function: a short forward, a short backward.

Forward: ``x_q = clamp(round(x / s), q_min - z, q_max - z) * s`` with
``s = |step|`` and ``z = round(zero_point)``, i.e. the integer level
``round(x/s) + z`` clamped to ``[q_min, q_max]``. Backward (LSQ, Esser et
al. 2020, with an integer zero point as in LSQ+), where "inside" means
``q_min - z <= x/s <= q_max - z``:

- ``dx_q/dx = 1`` inside, else 0 (straight through);
- ``dx_q/ds = round(x/s) - x/s`` inside, ``clamped level - z`` outside, times
  LSQ's gradient scale ``g``; as a sum, ``(grad_in . (x_q - x) + grad_out . x_q) / s``;
- ``dx_q/dz = 0`` inside, ``-s`` outside, *not* scaled by ``g``: the official MimiQ/MaskAQ quantizer
  (``QuantAct_lsq``) rounds the unscaled zero point, so its gradient reaches the parameter as it is. Scaled by
  ``g`` (about 1e-3) the zero point of a zoo model moved by less than 1e-5 in 300 steps: it never learned.

Composed from autograd primitives the same formula keeps a chain of
intermediates and runs about twice as many passes over the activations;
synthesis and QAT call it on every quantized tensor at every step.
"""

from __future__ import annotations

import torch


def quant_params(step: torch.Tensor, zero_point: torch.Tensor, on: torch.Tensor):
    """``(s, z)`` as Python floats on the CPU (scalar kernels are several times faster there),
    as 0-d tensors elsewhere (no device synchronisation)."""
    scale = step.detach().abs().clamp_min(1e-8)
    zero = torch.round(zero_point.detach())
    if on.device.type == "cpu":
        return float(scale), float(zero)
    return scale, zero


def lsq_forward(x: torch.Tensor, scale, low, high) -> torch.Tensor:
    """The forward arithmetic in four passes and one allocation.

    The output is contiguous whatever the layout of ``x`` (attention's q, k and v are permuted views of the qkv
    projection): the first pass writes it so, and the matmul that reads it needs no copy of its own.
    """
    out = torch.mul(x, 1.0 / scale, out=torch.empty(x.shape, dtype=x.dtype, device=x.device))
    return out.round_().clamp_(low, high).mul_(scale)


class LSQFakeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, step, zero_point, qmin: int, qmax: int, grad_factor: float, params=None):
        """``params``: ``quant_params(step, zero_point, x)`` when the caller has them already."""
        scale, zero = params if params is not None else quant_params(step, zero_point, x)
        out = lsq_forward(x, scale, qmin - zero, qmax - zero)
        ctx.save_for_backward(x, out, step, zero_point)
        ctx.qrange, ctx.grad_factor = (qmin, qmax), grad_factor
        ctx.host_params = (scale, zero) if isinstance(scale, float) else None  # else: tensors on a GPU
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out, step, zero_point = ctx.saved_tensors
        qmin, qmax = ctx.qrange
        grad = grad.contiguous()
        if ctx.host_params is not None:  # the CPU: bounds as Python numbers, one fused kernel
            scale, zero = ctx.host_params
            # grad where (qmin - z) s < x < (qmax - z) s, else 0: one fused pass, no boolean mask
            grad_inside = torch.ops.aten.hardtanh_backward(grad, x, (qmin - zero) * scale, (qmax - zero) * scale)
        else:  # a GPU: the same rule with the bounds as device tensors (no synchronisation)
            scale, zero = quant_params(step, zero_point, x)
            inside = (x > (qmin - zero) * scale) & (x < (qmax - zero) * scale)
            grad_inside = torch.where(inside, grad, torch.zeros((), dtype=grad.dtype, device=grad.device))
        grad_step = grad_zero = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            grad_outside = grad - grad_inside
        if ctx.needs_input_grad[1]:
            flat = (grad_inside.reshape(-1), grad_outside.reshape(-1))
            excess = torch.dot(flat[0], (out - x).reshape(-1)) + torch.dot(flat[1], out.reshape(-1))
            grad_step = (excess / scale * ctx.grad_factor * torch.sign(step.detach())).reshape(step.shape)
        if ctx.needs_input_grad[2]:
            grad_zero = (-grad_outside.sum() * scale).reshape(zero_point.shape)
        return grad_inside if ctx.needs_input_grad[0] else None, grad_step, grad_zero, None, None, None, None
