"""Reference rows: fp, noise, real."""
