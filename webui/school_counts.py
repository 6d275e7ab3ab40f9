"""The home page's account counts, kept so that anonymous visitors never make Porth read the
directory (issue 15 point 6: counting every account took 0.1-0.2 s at 1,650 accounts).

The counts live in one file under the node's data folder, read by every web worker of the node.
At most one directory read per refresh period on a node: a worker that finds the counts older
than the period starts a background thread, which refreshes them only if it wins the node's lock
(a file lock) and nobody refreshed them meanwhile. Pages are served from the file as it is, so
after the first fill of a node no page waits on the directory; the first fill waits, under the
same lock, and one worker reads while the others wait for its result.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Snapshot:
    taken_at: float  # seconds since the epoch
    sections: list[dict[str, Any]]


class SchoolCounts:
    def __init__(self, path: Path, period_seconds: float, count: Callable[[], list[dict[str, Any]]],
                 clock: Callable[[], float] = time.time):
        self.path = path
        self.period_seconds = period_seconds
        self._count = count
        self.clock = clock
        self._lock_path = path.with_name(path.name + ".lock")
        self._memo: tuple[int, Snapshot] | None = None  # the file as last read, by its modification time
        self._one_refresher = threading.Lock()  # one background thread per process at a time
        self.refresher: threading.Thread | None = None  # the latest background refresh (tests wait for it)

    def current(self) -> Snapshot:
        """The counts to show now: from the file, refreshed behind the page when they are old."""
        snapshot = self._read()
        if snapshot is None:
            return self._refresh(wait=True) or self._fill_failed()
        if self.clock() - snapshot.taken_at >= self.period_seconds and self._one_refresher.acquire(blocking=False):
            self.refresher = threading.Thread(target=self._refresh_behind_the_page, name="school-counts",
                                              daemon=True)
            self.refresher.start()
        return snapshot

    def _fill_failed(self) -> Snapshot:
        raise RuntimeError(f"the school counts in {self.path} could not be written")

    def _refresh_behind_the_page(self) -> None:
        try:
            self._refresh(wait=False)
        except Exception:  # the page goes on with the counts it has; a later one tries again
            log.warning("the school counts could not be refreshed; the page shows the last ones", exc_info=True)
        finally:
            self._one_refresher.release()

    def _refresh(self, wait: bool) -> Snapshot | None:
        """Counts the directory once if this process holds the node's lock and the counts are
        (still) missing or old; None when another worker is refreshing and `wait` is False."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return None
            try:
                current = self._read()
                if current is not None and self.clock() - current.taken_at < self.period_seconds:
                    return current  # another worker refreshed them while this one waited
                snapshot = Snapshot(self.clock(), self._count())
                written = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
                written.write_text(json.dumps({"taken_at": snapshot.taken_at, "sections": snapshot.sections}),
                                   encoding="utf-8")
                written.replace(self.path)  # readers see the old file or the new one, never half of one
                return snapshot
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> Snapshot | None:
        try:
            modified = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        if self._memo is not None and self._memo[0] == modified:
            return self._memo[1]
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None  # replaced or cut short under us (a full disk): counted again
        snapshot = Snapshot(float(data["taken_at"]), data["sections"])
        self._memo = (modified, snapshot)
        return snapshot
