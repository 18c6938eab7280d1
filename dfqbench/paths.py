"""Each default defined once: where dfqbench writes (relative to the working directory), the default model, and the
published numbers it ships (package data)."""

from pathlib import Path

DEFAULT_STORE = Path("runs") / "dfqbench.sqlite"  # the SQLite results store
DEFAULT_CACHE = Path("runs") / "cache"            # synthetic sets
DEFAULT_OUT = Path("runs") / "out"                # a run's leaderboard files
DEFAULT_CHECKPOINTS = Path("runs") / "checkpoints"  # cells in flight, removed when stored
DEFAULT_MODEL = "canvas56a_vit"  # what run, tune and eval use without --models: the test bed the README decides

PUBLISHED = Path(__file__).parent / "tables"
REPORTED = PUBLISHED / "reported.csv"    # numbers published in the papers (dfqbench table --reported)
CLAIMS = PUBLISHED / "claims.csv"        # the papers' testable claims (dfqbench table --view claims)
