"""The method kit: what synthesizers and calibrators are built from, one piece per module.

Synthesis (images optimised from noise against the FP teacher):

- ``images``: initial images, labels, the pixel-range projection and one optimiser step on the pixels;
- ``priors``: the one-hot label loss and the two total-variation priors;
- ``synth_augment``: the per-step augmentations of PSAQ-ViT and MimiQ;
- ``iterative``: the batch loop of image optimisation (with its checkpoints);
- ``attention``: taps on every attention call (logits, probabilities, per-head outputs).

Calibration (the quantized student trained or set on the calibration set):

- ``ranges``: activation-range initialisation, readiness, the trainable quantizer parameters;
- ``calib_augment``: the SimCLR-style batch augmentation;
- ``kd_loss``: logit distillation;
- ``qat``: the shared QAT loop (with its checkpoints).

Both: ``schedules``, every learning-rate schedule and step partition.

A plugin in ``methods/`` or ``baselines/`` imports the plugin API (``dfqbench.api``), ``dfqbench.config``, this kit
and, where its paper extends another, that plugin.
"""
