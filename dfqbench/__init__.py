"""dfqbench: a benchmark suite for data-free quantization of Vision Transformers.

The packages follow a cell's data flow, synthesis -> quantization and calibration -> evaluation -> store -> tables:

- ``data`` and ``zoo``: images (Fashion-MNIST, the canvas datasets, ImageNet folders) and full-precision models
  (the embedded zoo, timm's ViT/DeiT/Swin);
- ``api``: the plugin interface (synthesizers, calibrators, methods, the calibration source, checkpoints), with
  ``config`` (typed, hashed configs) and ``registry`` (every name table);
- ``methods`` and ``baselines``: the plugins, one paper per file (the repository's ``methods/`` and ``baselines/``);
- ``kit``: what the plugins are built from (pixel optimisation, priors, augmentations, attention taps, the QAT
  loop, range initialisation, schedules);
- ``quant``: the one shared quantizer (quantizers, observers, presets, the model wrapper), with ``layout`` (where
  each model's tokens are);
- ``profiles``: the budgets; ``evaluate``: top-1/top-5;
- ``runner``: grids of cells (identity, seeds, cache, checkpoints, tuning; in this process or on Ray) against
  ``store`` (SQLite rows and their schema);
- ``tables``: leaderboards, gap, claims and margin views with their statistics;
- ``cli``: the command line. ``paths``, ``errors``, ``naming``, ``atomic`` and ``runtime`` are small shared helpers.
"""

__version__ = "0.1.0"
