"""Claims: which process is computing which cells of a store, so that several processes share one grid.

A process that starts a cell claims it, together with the cells of the same synthetic set (its *group*) that
it will compute next, in the store's ``claims`` table. Another process running an overlapping grid on the same
store then skips the cells claimed by someone else (they are being computed) and puts off a cell whose
synthetic set someone else is making (it runs later, from the cache). Start the same ``dfqbench run`` N times
and the N processes split the grid as they go.

A claim is dead, and is taken over, when its process is gone: on the same host when its pid no longer runs,
anywhere when it has not been refreshed (:meth:`ClaimBoard.heartbeat`) for ``STALE_AFTER_S`` seconds.
"""

from __future__ import annotations

import enum
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

STALE_AFTER_S = 30 * 60.0
HEARTBEAT_EVERY_S = 30.0
CLAIMS_TABLE = ("CREATE TABLE IF NOT EXISTS claims (cell_id TEXT PRIMARY KEY, grp TEXT NOT NULL, "
                "host TEXT NOT NULL, pid INTEGER NOT NULL, seen_at REAL NOT NULL)")


class Verdict(enum.Enum):
    MINE = "mine"    # claimed now: compute it
    DONE = "done"    # finished (an 'ok' row exists): skip it
    TAKEN = "taken"  # claimed by a live process: it computes this cell
    BUSY = "busy"    # a live process is making this cell's synthetic set: better later


def pid_running(pid: int) -> bool:
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
        self.host, self.pid = host or socket.gethostname(), pid or os.getpid()
        self.last_beat = -HEARTBEAT_EVERY_S

    def alive(self, host: str, pid: int, seen_at: float) -> bool:
        if self.now() - seen_at > STALE_AFTER_S:
            return False
        return host != self.host or pid == self.pid or pid_running(pid)

    def _drop_dead(self) -> None:
        rows = self.conn.execute("SELECT DISTINCT host, pid, MAX(seen_at) FROM claims GROUP BY host, pid").fetchall()
        dead = [(host, pid) for host, pid, seen in rows if not self.alive(host, pid, seen)]
        self.conn.executemany("DELETE FROM claims WHERE host = ? AND pid = ?", dead)

    def take(self, cell_id: str, group: str, siblings: Iterable[str] = (), wait_for_group: bool = True) -> Verdict:
        """Claim ``cell_id`` (and ``siblings``, this process's next cells of ``group``) unless it is finished,
        claimed by another live process, or (``wait_for_group``) its group is being made by one."""
        mine = (self.host, self.pid)
        with self.transaction():
            self._drop_dead()
            if self.conn.execute("SELECT 1 FROM cells WHERE cell_id = ? AND status = 'ok'", (cell_id,)).fetchone():
                return Verdict.DONE
            holder = self.conn.execute("SELECT host, pid FROM claims WHERE cell_id = ?", (cell_id,)).fetchone()
            if holder is not None and tuple(holder) != mine:
                return Verdict.TAKEN
            others = None if holder is not None else self.conn.execute(  # a cell already mine needs no check
                "SELECT 1 FROM claims WHERE grp = ? AND NOT (host = ? AND pid = ?)", (group, *mine)).fetchone()
            if others and wait_for_group:
                return Verdict.BUSY
            stamp = self.now()
            free = [i for i in dict.fromkeys([cell_id, *siblings])
                    if i == cell_id or self.conn.execute("SELECT 1 FROM claims WHERE cell_id = ?", (i,)).fetchone()
                    is None]
            self.conn.executemany("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                                  [(i, group, *mine, stamp) for i in free])
        self.last_beat = self.now()
        return Verdict.MINE

    def release(self, cell_ids: Iterable[str] | None = None) -> None:
        """Drop this process's claims on ``cell_ids`` (all of them when None)."""
        with self.transaction():
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
        with self.transaction():
            self.conn.execute("UPDATE claims SET seen_at = ? WHERE host = ? AND pid = ?",
                              (self.last_beat, self.host, self.pid))

    def holder(self, cell_id: str) -> str | None:
        """``host:pid`` of the process holding ``cell_id``, or None."""
        row = self.conn.execute("SELECT host, pid FROM claims WHERE cell_id = ?", (cell_id,)).fetchone()
        return None if row is None else f"{row[0]}:{row[1]}"
