"""User-facing errors: one clear line and exit status 2 from the CLI; and one-line notes of recovered problems."""

import sys


class UserError(Exception):
    """Bad input from the user (unknown name, malformed value, missing or corrupt file).

    The CLI prints ``str(error)`` as one line and exits with status 2.
    """

    exit_code = 2


def stderr_line(message: str) -> None:
    """One line on stderr: a problem dfqbench recovered from by itself (a corrupt cache entry made again)."""
    print(message, file=sys.stderr, flush=True)
