"""Named budgets: how many images, synthesis steps, calibration steps and refreshes a table gets.

Every method's schedule (warm-ups, annealing, refresh points) is written as
fractions of these counts, so it keeps its shape at any budget.
"""

from __future__ import annotations

import dataclasses

from dfqbench.config import Config
from dfqbench.registry import Registry


@dataclasses.dataclass(frozen=True)
class Profile(Config):
    """One budget, the same for every method of a table."""

    name: str
    n_images: int             # synthetic (or real / noise) calibration images
    synth_batch_size: int     # images optimised together
    synth_steps: int          # optimiser steps per synthesis batch
    calib_steps: int          # calibration (QAT) optimiser steps
    calib_batch_size: int
    refreshes: int            # refreshes of a refreshing synthesizer without a schedule of its own
    description: str = ""


PROFILES: Registry[Profile] = Registry("profile", hint="choose from: {names}")
for _profile in [
    Profile("smoke", n_images=8, synth_batch_size=4, synth_steps=2, calib_steps=2, calib_batch_size=4, refreshes=1,
            description="tests and smoke runs: seconds per cell, numbers meaningless"),
    Profile("golden", n_images=8, synth_batch_size=4, synth_steps=10, calib_steps=16, calib_batch_size=4, refreshes=2,
            description="the golden test: seconds per cell, every schedule branch crossed "
                        "(warm-ups, rounds, mask annealing, refreshes, block reconstruction)"),
    Profile("quick", n_images=64, synth_batch_size=32, synth_steps=40, calib_steps=120, calib_batch_size=32,
            refreshes=1, description="the default run: minutes for the whole default grid on 2 CPU cores"),
    Profile("bench", n_images=256, synth_batch_size=32, synth_steps=200, calib_steps=1000, calib_batch_size=32,
            refreshes=2, description="committed zoo leaderboards: about 10 minutes per cell on 2 CPU cores"),
    Profile("paper", n_images=10240, synth_batch_size=32, synth_steps=2000, calib_steps=64000, calib_batch_size=32,
            refreshes=6, description="the papers' settings (10k images, 2000 steps, 200 epochs): for GPUs"),
]:
    PROFILES.add(_profile.name, _profile)


PAPER = "paper"


def budget_for(profile: Profile, paper_budget: dict[str, int]) -> Profile:
    """The profile a method's cell runs at: at ``paper``, with the fields its paper sets differently
    (``Synthesizer.paper_budget``, e.g. PSAQ-ViT's 1000 synthesis steps in all); every other profile is the same
    for every method. The changed fields change the profile's hash, so such rows are cells of their own."""
    if profile.name != PAPER or not paper_budget:
        return profile
    return dataclasses.replace(profile, **paper_budget)


def profile_names(pattern: str | None = None) -> list[str]:
    return PROFILES.names(pattern)


def get_profile(name: str) -> Profile:
    return PROFILES.get(name)
