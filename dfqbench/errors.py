"""User-facing errors: one clear line and exit status 2 from the CLI."""


class UserError(Exception):
    """Bad input from the user (unknown name, malformed value, missing or corrupt file).

    The CLI prints ``str(error)`` as one line and exits with status 2.
    """

    exit_code = 2
