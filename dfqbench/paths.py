"""Where dfqbench keeps what it makes, relative to the working directory: each default defined once."""

from pathlib import Path

DEFAULT_STORE = Path("runs") / "dfqbench.sqlite"  # the SQLite results store
DEFAULT_CACHE = Path("runs") / "cache"            # synthetic sets
DEFAULT_OUT = Path("runs") / "out"                # a run's leaderboard files
DEFAULT_CHECKPOINTS = Path("runs") / "checkpoints"  # cells in flight, removed when stored
