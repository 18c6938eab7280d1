"""Shared synthesis pieces (shared/specs/methods.md, "Shared synthesis pieces"): label and TV priors,
per-step augmentations, the pixel-range projection and the batch loop of image optimisation."""
