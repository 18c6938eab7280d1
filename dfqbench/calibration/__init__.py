"""Shared calibration pieces: logit KD, batch augmentation, range initialisation, the QAT loop."""
