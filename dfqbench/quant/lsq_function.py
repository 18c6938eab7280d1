"""LSQ fake quantization as one autograd function: a short forward, gradients recomputed in backward.

Forward: ``(round(clamp(x/s + z, q_min, q_max)) - z) * s`` with ``s = |step|``
and ``z = round(zero_point)``. Backward (LSQ, Esser et al. 2020, with an
integer zero point as in LSQ+):

- ``dQ/dx = 1`` where ``q_min <= x/s + z <= q_max``, else 0 (straight through);
- ``dQ/ds = round(v) - v`` inside, ``clamped level - z`` outside (v = x/s + z),
  times LSQ's gradient scale ``g``;
- ``dQ/dz = 0`` inside, ``-s`` outside, times ``g``.

Compared with composing the same formula from autograd primitives this
keeps one tensor (the input) instead of a chain of intermediates, and runs
two passes fewer in the forward, which synthesis and QAT call every step.
"""

from __future__ import annotations

import torch


class LSQFakeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, step, zero_point, qmin: int, qmax: int, grad_factor: float):
        scale = step.detach().abs().clamp_min(1e-8)
        zero = torch.round(zero_point.detach())
        ctx.save_for_backward(x, step, zero_point)
        ctx.qrange, ctx.grad_factor = (qmin, qmax), grad_factor
        out = x * (1.0 / scale)
        return out.add_(zero).clamp_(qmin, qmax).round_().sub_(zero).mul_(scale)

    @staticmethod
    def backward(ctx, grad):
        x, step, zero_point = ctx.saved_tensors
        qmin, qmax = ctx.qrange
        scale = step.detach().abs().clamp_min(1e-8)
        zero = torch.round(zero_point.detach())
        level = x * (1.0 / scale) + zero
        inside = (level >= qmin) & (level <= qmax)
        grad_x = grad_step = grad_zero = None
        if ctx.needs_input_grad[0]:
            grad_x = grad * inside
        if ctx.needs_input_grad[1]:
            rounded = level.clamp(qmin, qmax).round_()
            d_step = torch.where(inside, rounded - level, rounded - zero)
            grad_step = (grad * d_step).sum() * ctx.grad_factor * torch.sign(step.detach())
            grad_step = grad_step.reshape(step.shape)
        if ctx.needs_input_grad[2]:
            grad_zero = (-(grad * ~inside).sum() * scale * ctx.grad_factor).reshape(zero_point.shape)
        return grad_x, grad_step, grad_zero, None, None, None
