"""``ptq``: range initialisation only, no training (PSAQ-ViT's calibration)."""

from __future__ import annotations

import dataclasses

from dfqbench.api import CalibrationSource, Calibrator, ModelContext, register_calibrator
from dfqbench.config import Config
from dfqbench.kit.ranges import init_activation_ranges


@register_calibrator("ptq")
class RangeOnly(Calibrator):
    """Set every activation range from the whole calibration set (``minmax`` by default), then quantize."""

    version = 1
    paper = "PSAQ-ViT's PTQ calibration (Li et al., ECCV 2022)"

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        act_init: str = "minmax"
        batch_size: int = 32

    def calibrate(self, ctx: ModelContext, source: CalibrationSource) -> None:
        images, size = source.images, self.config.batch_size
        init_activation_ranges(ctx.student, (images[i:i + size] for i in range(0, len(images), size)),
                               self.config.act_init)
        ctx.progress(1, 1)
