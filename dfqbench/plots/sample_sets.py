"""The images of ``dfqbench plot samples``: real test images and each synthesizer's set, from the cache or made.

A synthesizer's set is looked up in the synthesis cache under the key a grid cell of that method, model, seed,
profile and bit-width would use (:func:`dfqbench.runner.plan.plan_cell`); when the cache lacks it, it is made at
``fallback`` (a smaller profile) in this process and cached like any set, and the row's name records that profile.
"""

from __future__ import annotations

import dataclasses

import torch

from dfqbench.api import SyntheticSet
from dfqbench.data.splits import eval_batches
from dfqbench.data.transforms import to_pixels
from dfqbench.plots.samples import SampleRow
from dfqbench.profiles import get_profile
from dfqbench.quant.bits import parse_bit_list
from dfqbench.runner.cell import RunSettings, cell_models, synthetic_set
from dfqbench.runner.grid import Cell, resolve_method
from dfqbench.runner.plan import plan_cell
from dfqbench.zoo.backbones import Backbone

REAL_IMAGES = 2000  # test images searched for one of each class


def real_row(backbone: Backbone, settings: RunSettings) -> SampleRow:
    """The first test images of the model's dataset, with their labels."""
    images, labels = [], []
    for x, y in eval_batches(backbone.dataset, backbone.data_config, 256, REAL_IMAGES, settings.data_dir,
                             settings.imagenet):
        images.append(x)
        labels.append(y)
    return SampleRow("real (test)", to_pixels(torch.cat(images), backbone.data_config), torch.cat(labels))


def synthetic_images(method: str, backbone: Backbone, seed: int, bits: str, settings: RunSettings,
                     fallback: str | None) -> tuple[SyntheticSet | None, str]:
    """One method's set, from the cache, else made at ``fallback`` (and cached); with the profile it has.
    Without a fallback a set missing from the cache is None."""
    cell = Cell(resolve_method(method, {}), backbone.name, parse_bit_list(bits)[0], seed)
    planned = plan_cell(cell, backbone, settings)
    profile = settings.profile.name
    if settings.cache.load(planned.set_key) is None:
        if fallback is None:
            return None, profile
        settings = dataclasses.replace(settings, profile=get_profile(fallback))
        planned, profile = plan_cell(cell, backbone, settings), fallback
    _, context = cell_models(planned, settings, lambda stage, done, total: None)
    synthetic, _ = synthetic_set(planned.synth, planned.set_key, cell, settings, context, {})
    return synthetic, profile


def synthetic_row(method: str, backbone: Backbone, seed: int, bits: str, settings: RunSettings,
                  fallback: str) -> SampleRow:
    """One method's set (from the cache, else made at ``fallback``) with the class of each image."""
    return synthetic_row_or_none(method, backbone, seed, bits, settings, fallback)


def synthetic_row_or_none(method: str, backbone: Backbone, seed: int, bits: str, settings: RunSettings,
                          fallback: str | None = None) -> SampleRow | None:
    """:func:`synthetic_row`; None when the set is not in the cache and there is no ``fallback``."""
    synthetic, profile = synthetic_images(method, backbone, seed, bits, settings, fallback)
    if synthetic is None:
        return None
    if synthetic.labels is not None:
        classes, how = synthetic.labels.cpu(), "target"
    else:
        with torch.no_grad():
            classes, how = backbone.model.eval()(synthetic.images).argmax(-1).cpu(), "FP prediction"
    name = f"{method}\n({profile}, by {how})"
    return SampleRow(name, to_pixels(synthetic.images, backbone.data_config), classes)
