"""Figures of the results (matplotlib, the non-interactive Agg backend): one figure per module, drawn from the
tables' objects (:mod:`dfqbench.tables`), written by :func:`dfqbench.plots.style.save` as PNG or SVG with the
same bytes for the same inputs."""
