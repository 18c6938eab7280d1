"""FiniteWatch: a non-finite loss stops the loop at once on the CPU, at the next check on a GPU (one read)."""

from __future__ import annotations

import pytest
import torch

from dfqbench.kit.finite import FiniteWatch


def test_on_the_cpu_a_non_finite_loss_raises_at_its_step():
    watch = FiniteWatch("calibration loss")
    watch.add(torch.tensor(1.0), 0)
    with pytest.raises(FloatingPointError, match="calibration loss is nan at step 1"):
        watch.add(torch.tensor(float("nan")), 1)


def test_deferred_a_non_finite_loss_raises_at_the_next_check_naming_the_steps():
    watch = FiniteWatch("calibration loss", immediate=False)  # as on a GPU
    for step, value in enumerate([1.0, 2.0, float("inf"), 3.0]):
        watch.add(torch.tensor(value), step)
    with pytest.raises(FloatingPointError, match="between steps 0 and 3"):
        watch.check()


def test_deferred_finite_losses_pass_every_check_and_the_window_restarts():
    watch = FiniteWatch("loss", immediate=False)
    watch.add(torch.tensor(1.0), 0)
    watch.check()
    watch.add(torch.tensor(float("nan")), 5)
    with pytest.raises(FloatingPointError, match="between steps 5 and 5"):
        watch.check()
