"""Per-tensor uniform activation quantizer with learnable step size and zero point (LSQ)."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from dfqbench.quant.frozen import read_once
from dfqbench.quant.lsq_function import LSQFakeQuant, lsq_forward, quant_params
from dfqbench.quant.observers import make_observer
from dfqbench.quant.state import Quantizer, QuantState


class ActQuantizer(Quantizer):
    """``x_q = (clamp(round(x / s) + z, q_min, q_max) - z) * s`` with LSQ gradients for ``s`` and ``z``
    (``s``'s scaled by LSQ's ``g``, ``z``'s unscaled, as the official MimiQ/MaskAQ quantizer).

    The grid is unsigned (``[0, 2^b - 1]``) when the first batch it sees is
    all >= 0, signed (``[-2^(b-1), 2^(b-1) - 1]``) otherwise. ``s`` and ``z``
    are initialised by an observer (``init``: minmax, percentile, mse, lsq),
    either from the batches seen in the CALIBRATE state, or, if the quantizer
    reaches QUANTIZE uninitialised, from the first batch it quantizes.
    With ``learnable=False`` they are frozen after initialisation.
    """

    def __init__(self, bits: int, learnable: bool = True, init: str = "lsq") -> None:
        super().__init__(bits)
        self.step = nn.Parameter(torch.tensor(1.0), requires_grad=learnable)
        self.zero_point = nn.Parameter(torch.tensor(0.0), requires_grad=learnable)
        self.register_buffer("initialised", torch.tensor(False))
        self.register_buffer("signed", torch.tensor(False))
        self.init = init
        self.observer = None
        # the two flags as Python values, kept equal to the buffers by every method that writes them (and by
        # state-dict loading): read on every call, they would be a device synchronisation each on a GPU
        self.host_flags = {"initialised": False, "signed": False}

    def set_flag(self, name: str, value: bool) -> None:
        getattr(self, name).fill_(value)
        self.host_flags[name] = bool(value)
        self.forget_reads()

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self.host_flags = {name: bool(getattr(self, name)) for name in self.host_flags}
        self.forget_reads()

    @property
    def is_initialised(self) -> bool:
        return self.host_flags["initialised"]

    @property
    def qrange(self) -> tuple[int, int]:
        if self.host_flags["signed"]:
            return -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1
        return 0, 2 ** self.bits - 1

    def quant_params(self, x: torch.Tensor):
        """``(s, z)`` for ``x``'s device (see :func:`~dfqbench.quant.lsq_function.quant_params`)."""
        return read_once(self, f"params/{x.device.type}", lambda: quant_params(self.step, self.zero_point, x))

    def reset(self, init: str | None = None) -> None:
        """Forget the range so that the next calibration initialises it again (with ``init``)."""
        self.init = init or self.init
        self.observer = None
        self.set_flag("initialised", False)

    def observe(self, x: torch.Tensor) -> None:
        if self.observer is None:
            self.observer = make_observer(self.init)
            self.set_flag("signed", bool((x.detach() < 0).any()))
        self.observer.observe(x)

    def finish_calibration(self) -> None:
        if self.observer is None:
            return
        step, zero_point = self.observer.compute(*self.qrange)
        with torch.no_grad():
            self.step.fill_(step)
            self.zero_point.fill_(zero_point)
        self.set_flag("initialised", True)
        self.observer = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.state is QuantState.OFF:
            return x
        if self.state is QuantState.CALIBRATE:
            self.observe(x)
            return x
        if not self.is_initialised:
            self.observe(x)
            self.finish_calibration()
        return self.fake_quant(x)

    def fake_quant(self, x: torch.Tensor) -> torch.Tensor:
        """``clamp(round(x/s), qmin - z, qmax - z) * s`` with a straight-through round.

        Learnable ``s`` and ``z`` get LSQ's gradients (``s``'s scaled); frozen ones get
        none, but the input still gets its straight-through gradient (see
        :class:`~dfqbench.quant.lsq_function.LSQFakeQuant`). Without autograd
        the same arithmetic runs in place.
        """
        qmin, qmax = self.qrange
        if torch.is_grad_enabled() and (x.requires_grad or self.step.requires_grad):
            grad_factor = 1.0 / math.sqrt(x.numel() * max(qmax, 1))
            return LSQFakeQuant.apply(x, self.step, self.zero_point, qmin, qmax, grad_factor,
                                      self.quant_params(x))
        scale, zero_point = self.quant_params(x)
        return lsq_forward(x, scale, qmin - zero_point, qmax - zero_point)
