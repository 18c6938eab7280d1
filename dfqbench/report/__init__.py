"""``dfqbench report``: one self-contained HTML page of the results (tables, figures, provenance)."""
