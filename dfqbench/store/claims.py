"""Claims: which process is computing which cells of a store, so that several processes share one grid.

A process claims each cell it starts in the store's ``claims`` table, with the cell's synthetic-set key (its
*group*). Another process running an overlapping grid on the same store puts off a cell claimed by someone else
(it is being computed) and a cell whose synthetic set someone else is making and the cache does not hold yet; a
put-off cell is looked at again at the end of its grid: still claimed, it is left to its holder; its set still
being made, it is made here too rather than waited for. Start the same ``dfqbench run`` N times and the N
processes split the grid as they go.

A claim is dead, and is taken over, when its process is gone: on the same host when its pid no longer runs,
anywhere when it has not been refreshed (:meth:`ClaimBoard.heartbeat`) for ``STALE_AFTER_S`` seconds.
"""

from __future__ import annotations

import contextlib
import enum
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable
from contextlib import AbstractContextManager

STALE_AFTER_S = 30 * 60.0
HEARTBEAT_EVERY_S = 30.0
CLAIMS_TABLE = ("CREATE TABLE IF NOT EXISTS claims (cell_id TEXT PRIMARY KEY, grp TEXT NOT NULL, "
                "host TEXT NOT NULL, pid INTEGER NOT NULL, seen_at REAL NOT NULL)")


class Verdict(enum.Enum):
    MINE = "mine"    # claimed now: compute it
    DONE = "done"    # finished: an 'ok' row, or a row that failed during this run
    TAKEN = "taken"  # claimed by a live process: it computes this cell
    BUSY = "busy"    # a live process is making this cell's synthetic set: better later


def pid_running(pid: int) -> bool:
    if pid <= 0:  # os.kill(0, ...) would mean the whole process group
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class ClaimBoard:
    """The ``claims`` table of one store, seen by this process (host and pid)."""

    def __init__(self, conn: sqlite3.Connection, transaction: Callable[[], AbstractContextManager],
                 host: str | None = None, pid: int | None = None, now: Callable[[], float] = time.time) -> None:
        self.conn, self.transaction, self.now = conn, transaction, now
        self.host = host if host is not None else socket.gethostname()
        self.pid = pid if pid is not None else os.getpid()
        self.last_beat = -HEARTBEAT_EVERY_S

    def alive(self, host: str, pid: int, seen_at: float) -> bool:
        if self.now() - seen_at > STALE_AFTER_S:
            return False
        return host != self.host or pid == self.pid or pid_running(pid)

    def _drop_dead(self) -> None:
        rows = self.conn.execute("SELECT host, pid, MAX(seen_at) FROM claims GROUP BY host, pid").fetchall()
        dead = [(host, pid) for host, pid, seen in rows if not self.alive(host, pid, seen)]
        self.conn.executemany("DELETE FROM claims WHERE host = ? AND pid = ?", dead)

    def take(self, cell_id: str, group: str, wait_for_group: bool = True, retry: Collection[str] = ()) -> Verdict:
        """Claim ``cell_id`` unless it is finished (an 'ok' row, or a 'failed' row unless the cell is in
        ``retry``: the cells that had failed before this run), claimed by another live process, or
        (``wait_for_group``) another live process holds a cell of ``group``, i.e. is making its synthetic set."""
        mine = (self.host, self.pid)
        with self.transaction():
            self._drop_dead()
            row = self.conn.execute("SELECT status FROM cells WHERE cell_id = ?", (cell_id,)).fetchone()
            if row is not None and (row[0] == "ok" or cell_id not in retry):
                return Verdict.DONE
            holder = self.conn.execute("SELECT host, pid FROM claims WHERE cell_id = ?", (cell_id,)).fetchone()
            if holder is not None and tuple(holder) != mine:
                return Verdict.TAKEN
            if holder is None and wait_for_group and self.conn.execute(
                    "SELECT 1 FROM claims WHERE grp = ? AND NOT (host = ? AND pid = ?)", (group, *mine)).fetchone():
                return Verdict.BUSY
            self.conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                              (cell_id, group, *mine, self.now()))
        self.last_beat = self.now()
        return Verdict.MINE

    def release(self, cell_ids: Iterable[str] | None = None) -> None:
        """Drop this process's claims on ``cell_ids`` (all of them when None). A store that cannot be written
        just now keeps them: they lapse when this process ends."""
        with contextlib.suppress(sqlite3.Error), self.transaction():
            if cell_ids is None:
                self.conn.execute("DELETE FROM claims WHERE host = ? AND pid = ?", (self.host, self.pid))
            else:
                self.conn.executemany("DELETE FROM claims WHERE cell_id = ? AND host = ? AND pid = ?",
                                      [(i, self.host, self.pid) for i in cell_ids])

    def heartbeat(self) -> None:
        """Refresh this process's claims (at most every ``HEARTBEAT_EVERY_S`` seconds)."""
        if self.now() - self.last_beat < HEARTBEAT_EVERY_S:
            return
        self.last_beat = self.now()
        with contextlib.suppress(sqlite3.Error), self.transaction():  # a busy store: the next beat will do
            self.conn.execute("UPDATE claims SET seen_at = ? WHERE host = ? AND pid = ?",
                              (self.last_beat, self.host, self.pid))

    def holder(self, cell_id: str) -> str | None:
        """``host:pid`` of the process holding ``cell_id``, or None."""
        row = self.conn.execute("SELECT host, pid FROM claims WHERE cell_id = ?", (cell_id,)).fetchone()
        return None if row is None else f"{row[0]}:{row[1]}"
