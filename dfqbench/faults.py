"""Injection points for fault tests: ``DFQBENCH_FAULT=NAME`` makes the process fail at the point named NAME.

Points that kill the process (SIGKILL, as ``kill -9`` or the OOM killer would; nothing is cleaned up):

- ``after-store``: right after a finished cell's row is committed to the store;
- ``mid-store-write``: inside the store's transaction, after the row is written and before the commit;
- ``mid-cache-write``: after a synthetic set's temporary file is written and before it replaces the entry.

Points that make a write fail as a disk would: ``cache-full`` (ENOSPC) and ``cache-read-only`` (EROFS), in the
synthesis cache's write. Nothing happens when the variable is unset, which is always outside tests.
"""

from __future__ import annotations

import errno
import os
import signal

VARIABLE = "DFQBENCH_FAULT"
KILL_POINTS = ("after-store", "mid-store-write", "mid-cache-write")
DISK_FAULTS = {"cache-full": errno.ENOSPC, "cache-read-only": errno.EROFS}


def kill_point(name: str) -> None:
    """Die here when the fault variable names this point."""
    if os.environ.get(VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def disk_fault(scope: str) -> None:
    """Raise the OSError of a full or read-only disk when the fault variable names one for ``scope``."""
    name = os.environ.get(VARIABLE, "")
    if name.startswith(scope + "-") and name in DISK_FAULTS:
        code = DISK_FAULTS[name]
        raise OSError(code, os.strerror(code))
