"""The runner: expand the grid, run each cell (synthesize -> quantize and calibrate -> evaluate), store it."""
