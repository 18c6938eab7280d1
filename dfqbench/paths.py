"""Each default location defined once: what dfqbench makes (relative to the working directory) and the published
numbers it ships (package data)."""

from pathlib import Path

DEFAULT_STORE = Path("runs") / "dfqbench.sqlite"  # the SQLite results store
DEFAULT_CACHE = Path("runs") / "cache"            # synthetic sets
DEFAULT_OUT = Path("runs") / "out"                # a run's leaderboard files
DEFAULT_CHECKPOINTS = Path("runs") / "checkpoints"  # cells in flight, removed when stored

PUBLISHED = Path(__file__).parent / "tables"
REPORTED = PUBLISHED / "reported.csv"    # numbers published in the papers (dfqbench table --reported)
CLAIMS = PUBLISHED / "claims.csv"        # the papers' testable claims (dfqbench table --view claims)
