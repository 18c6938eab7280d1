"""The plugin API: synthesizers, calibrators, the calibration source, methods.

A synthesizer makes a synthetic calibration set from the FP teacher (and,
if it declares ``needs_quantized_model``, the current quantized model). A
calibrator turns the quantized model and a calibration source into a
calibrated model. A *method* is a named recipe: one synthesizer, one
calibrator and config overrides. Each plugin declares a name, a version
(bump it whenever its numbers change), the paper it follows and a typed
config whose defaults are the paper's::

    @register_synthesizer("mine")
    class Mine(Synthesizer):
        version = 1
        paper = "Me et al., 2026"

        @dataclasses.dataclass(frozen=True)
        class Config(Config):
            lr: float = 0.1

        def synthesize(self, ctx: SynthesisContext) -> SyntheticSet: ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn as nn

from dfqbench.config import Config
from dfqbench.profiles import Profile  # noqa: F401  (part of the plugin API: a budget)
from dfqbench.registry import Registry, load_entry_points

Progress = Callable[[int, int], None]  # (done, total) within the current stage


@dataclasses.dataclass(frozen=True)
class EmptyConfig(Config):
    """For plugins without options."""


@dataclasses.dataclass
class SyntheticSet:
    """Calibration images in model-input (normalised) space, with the labels they were made for (or None)."""

    images: torch.Tensor
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.images)


FP = "fp"  # the full-precision row: no synthesizer, no calibrator, no quantization
LOWER_REFERENCE, ORACLE = "noise", "real"  # the reference rows every table carries: Gaussian noise, real images
REFERENCE_ROWS = (LOWER_REFERENCE, ORACLE)
ROLES = ("method", "reference", "oracle")  # what a synthesizer's rows are (Synthesizer.role)


class Checkpoint:
    """One stage's resumable state (``ctx.checkpoint``): a rerun of the same cell ``load``s the last state that was
    ``save``d. This base keeps nothing; the runner hands each cell's synthesis and calibration stages a file-backed
    one (:mod:`dfqbench.runner.checkpoint`) and removes it when the cell is stored. A state is a dict of tensors,
    numbers, strings, None, lists and dicts, saved at the stage's natural boundaries (after a synthesis batch,
    after a refresh of the calibration set, after a reconstructed block). Large pieces that later states refer to
    (a synthesis batch's images) are saved once each as numbered parts, so that no state rewrites them."""

    def load(self) -> dict | None:
        return None

    def save(self, state: dict) -> None:
        return None

    def save_part(self, index: int, part: dict) -> None:
        return None

    def load_part(self, index: int) -> dict:
        raise KeyError(f"no checkpoint part {index}")


@dataclasses.dataclass
class ModelContext:
    """What every stage knows about the models and the budget."""

    teacher: nn.Module            # FP model, wrapped (explicit attention, quantizers OFF): taps work on it
    student: nn.Module            # the quantized model being calibrated (wrapped)
    data_config: dict             # timm data config: input_size, mean, std, ...
    num_classes: int
    profile: Profile
    generator: torch.Generator    # this stage's generator (derived from the cell's master seed)
    device: torch.device
    progress: Progress = lambda done, total: None
    real_images: Callable[[int, torch.Generator], torch.Tensor] | None = None  # training images: oracles only
    checkpoint: Checkpoint = dataclasses.field(default_factory=Checkpoint)     # this stage's resumable state

    @property
    def input_size(self) -> tuple[int, int, int]:
        return tuple(self.data_config["input_size"])

    def pixel_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel (low, high), shaped (1, C, 1, 1), of inputs that map back to [0, 1] pixels."""
        from dfqbench.data.transforms import pixel_bounds

        low, high = pixel_bounds(self.data_config)
        return low.to(self.device), high.to(self.device)


class Plugin:
    """Name, version, paper and typed config shared by synthesizers and calibrators."""

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    paper: ClassVar[str] = ""
    notes: ClassVar[str] = ""
    Config: ClassVar[type[Config]] = EmptyConfig
    # hyper-parameters the paper leaves to tuning, with the grid `dfqbench tune` searches on the validation split;
    # none where the values are confirmed from the authors' code
    tunable: ClassVar[dict[str, tuple]] = {}

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else self.Config()


class Synthesizer(Plugin):
    """Makes a synthetic calibration set.

    ``role`` says what its rows are: ``method`` (a data-free method: tested and marked in tables), ``reference``
    (a data-free reference row, e.g. ``noise``) or ``oracle`` (a row that sees real training data, ``real``: the
    only synthesizers whose context holds training images). Tables read a row's kind from it, never from a label."""

    role: ClassVar[str] = "method"
    needs_quantized_model: ClassVar[bool] = False
    # profile fields the method's paper sets differently, applied at the ``paper`` profile only (profiles.budget_for)
    paper_budget: ClassVar[dict[str, int]] = {}
    # config fields that act only after synthesis (not part of the synthetic-set cache key)
    cache_exclude: ClassVar[tuple[str, ...]] = ("refresh",)
    # whether batch k of the set depends on nothing but its own generator (no quantized model, no state carried
    # from batch to batch): only such synthesizers make their batches as parallel tasks (``--split-synthesis``,
    # :meth:`dfqbench.kit.iterative.IterativeSynthesizer.synthesize_batch`)
    independent_batches: ClassVar[bool] = False

    def synthesize(self, ctx: ModelContext) -> SyntheticSet:
        raise NotImplementedError

    def refresh(self, ctx: ModelContext, previous: SyntheticSet) -> SyntheticSet:
        """A new set made with the current quantized model; by default, a fresh synthesis."""
        return self.synthesize(ctx)

    @property
    def wants_refresh(self) -> bool:
        """Whether a calibrator should refresh this synthesizer's set during calibration."""
        return bool(getattr(self.config, "refresh", False))

    def refresh_fractions(self, profile: Profile) -> tuple[float, ...]:
        """Where in the calibration (fractions in (0, 1)) the set is refreshed: by default ``profile.refreshes``
        evenly spaced points; a synthesizer with its own schedule overrides this."""
        if not self.wants_refresh:
            return ()
        return tuple((i + 1) / (profile.refreshes + 1) for i in range(profile.refreshes))


class CalibrationSource:
    """The calibration set handed to a calibrator; it can be asked to ``refresh`` itself.

    ``refresh`` regenerates (or continues, depending on the synthesizer) the
    set with the current quantized model in ``ctx.student``.
    """

    def __init__(self, synthesizer: Synthesizer, ctx: ModelContext, initial: SyntheticSet) -> None:
        self.synthesizer, self.ctx, self.current = synthesizer, ctx, initial
        self.refreshes_done = 0

    @property
    def images(self) -> torch.Tensor:
        return self.current.images

    @property
    def labels(self) -> torch.Tensor | None:
        return self.current.labels

    def refresh(self) -> None:
        self.refreshes_done += 1
        self.current = self.synthesizer.refresh(self.ctx, self.current)

    def state(self) -> dict:
        """What a checkpoint needs to resume the source: its set, its refresh count, its refresh generator."""
        labels = None if self.current.labels is None else self.current.labels.detach().cpu()
        return {"images": self.current.images.detach().cpu(), "labels": labels,
                "refreshes_done": self.refreshes_done, "generator": self.ctx.generator.get_state()}

    def restore(self, state: dict) -> None:
        """Resume from :meth:`state`'s output."""
        labels = state["labels"]
        self.current = SyntheticSet(state["images"].to(self.ctx.device),
                                    None if labels is None else labels.to(self.ctx.device))
        self.refreshes_done = state["refreshes_done"]
        self.ctx.generator.set_state(state["generator"])

    def refresh_points(self, total_steps: int) -> set[int]:
        """Calibration steps after which the set is refreshed: the synthesizer's ``refresh_fractions``."""
        fractions = self.synthesizer.refresh_fractions(self.ctx.profile)
        return {round(total_steps * f) for f in fractions} - {0, total_steps}

    def batch(self, size: int, generator: torch.Generator) -> torch.Tensor:
        index = torch.randint(0, len(self.current), (size,), generator=generator)
        return self.current.images[index.to(self.current.images.device)]


class Calibrator(Plugin):
    """Turns ``ctx.student`` into a calibrated quantized model, using the calibration source."""

    def calibrate(self, ctx: ModelContext, source: CalibrationSource) -> None:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Method:
    """A named recipe: a synthesizer, a calibrator and config overrides (``{"synth": {...}, "calib": {...}}``)."""

    name: str
    synthesizer: str
    calibrator: str
    synth_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    calib_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    paper: str = ""
    description: str = ""
    # the paper's ablation: component -> the --set overrides that switch it off ("synth.se=false", ...)
    ablations: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


SYNTHESIZERS: Registry[type[Synthesizer]] = Registry("synthesizer", loader=load_entry_points)
CALIBRATORS: Registry[type[Calibrator]] = Registry("calibrator", loader=load_entry_points)
METHODS: Registry[Method] = Registry("method", loader=load_entry_points)


def _named(registry: Registry, name: str):
    def decorator(cls):
        cls.name = name
        return registry.register(name)(cls)
    return decorator


def register_synthesizer(name: str):
    """Class decorator registering a :class:`Synthesizer` under ``name``."""
    return _named(SYNTHESIZERS, name)


def register_calibrator(name: str):
    """Class decorator registering a :class:`Calibrator` under ``name``."""
    return _named(CALIBRATORS, name)


def register_method(name: str, synthesizer: str, calibrator: str, **fields: Any) -> Method:
    """Register a method recipe; returns it."""
    return METHODS.add(name, Method(name, synthesizer, calibrator, **fields))


def synthesizer_role(name: str) -> str:
    """The declared role of a registered synthesizer; ``method`` for a name no plugin registers."""
    return SYNTHESIZERS.get(name).role if name in SYNTHESIZERS else "method"
