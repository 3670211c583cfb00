"""Read the published snapshot that `published/current.json` names, consistently and without blocking the writer.

Every request reads one snapshot file from start to end (a cursor of one read-only connection), so it never
mixes two publishes and never sees half of one: the pipeline builds a new file and swaps the pointer
atomically (ml/publish.py). Connections are cached per snapshot; a newer pointer opens a new one, and a
snapshot file pruned between reading the pointer and opening it is retried with the newer pointer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ml.publish import Snapshot, current


class NoSnapshotError(RuntimeError):
    """Nothing published yet: the pipeline has not finished a run."""


@dataclass(frozen=True)
class Reading:
    snapshot: Snapshot
    cursor: duckdb.DuckDBPyConnection


class SnapshotReader:
    def __init__(self, published: Path, keep_open: int = 3):
        self.published = published
        self.keep_open = keep_open
        self._lock = threading.Lock()
        self._cons: OrderedDict[str, duckdb.DuckDBPyConnection] = OrderedDict()

    def _connection(self, snap: Snapshot) -> duckdb.DuckDBPyConnection:
        with self._lock:
            con = self._cons.get(snap.snapshot_id)
            if con is None:
                con = duckdb.connect(str(snap.path), read_only=True)
                self._cons[snap.snapshot_id] = con
                while len(self._cons) > self.keep_open:  # requests on an old snapshot finish on their cursor
                    self._cons.popitem(last=False)
            return con

    @contextmanager
    def read(self) -> Iterator[Reading]:
        """The current snapshot and a cursor on it, for the duration of one request."""
        for _ in range(5):
            snap = current(self.published)
            if snap is None:
                raise NoSnapshotError(f"nothing published yet in {self.published}: run the pipeline (`make run`)")
            try:
                cursor = self._connection(snap).cursor()
                break
            except duckdb.IOException:
                continue  # pruned between the pointer and the open: the pointer has moved on, read it again
        else:
            raise NoSnapshotError(f"could not open the current snapshot in {self.published}")
        try:
            yield Reading(snap, cursor)
        finally:
            cursor.close()
