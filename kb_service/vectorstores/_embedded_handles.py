"""What the embedded store keeps per open knowledge base, and when its snapshot is read and written.

`SnapshotKeeper` holds the policy (docs/embedded-store.md, "Writing, and when"): on load, the
snapshot is used when `_embedded_snapshot.load` accepts it and a few of its vectors equal SQLite's;
after a read it is rewritten once a quarter of it has changed (and at least `min_rows` rows), or
when the int8 copy is wanted and missing; on close and eviction whenever it is behind.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import structlog

from kb_service.vectorstores import _embedded_snapshot as snapshot
from kb_service.vectorstores import _embedded_sqlite as db
from kb_service.vectorstores._embedded_index import SnapshotCorrupt, VectorIndex

log = structlog.get_logger("kb_service.vectorstores.embedded")

# Below this many live rows an index loads from SQLite in well under 0.1 s: no snapshot is kept.
SNAPSHOT_MIN_ROWS = 5_000


@dataclass(eq=False)
class KbHandle:
    """One open knowledge base in this process. `lock` guards the connection and the index."""

    kb_id: str
    conn: sqlite3.Connection
    dimension: int
    generation: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    index: VectorIndex | None = None
    # data_version when the index was last brought up to date; `stale` after this process wrote.
    data_version: int = -1
    stale: bool = True
    closed: bool = False
    # For the memory budget: when the KB was last read and what its index held then.
    last_used: float = 0.0
    nbytes: int = 0


class SnapshotKeeper:
    def __init__(self, root: Path, *, min_rows: int, int8: bool) -> None:
        self.root = root
        self.min_rows = min_rows
        self.int8 = int8

    def load(self, kb: KbHandle, floor: int, *, vectors: bool) -> VectorIndex:
        """The index from the KB's snapshot brought up to date, or, without a usable one, from SQLite."""
        path = snapshot.path_of(self.root, kb.kb_id)
        if path.exists():
            last_seq, last_tombstone = db.high_water(kb.conn)
            horizon = snapshot.Horizon(kb.generation, kb.dimension, last_seq, last_tombstone, floor)
            try:
                index = snapshot.load(path, horizon, partial(db.fetch_vector_blobs, kb.conn))
            except snapshot.SnapshotInvalid as reason:
                log.warning("vectorstore.embedded.snapshot_rejected", kb_id=kb.kb_id, reason=str(reason))
            else:
                if not self.int8:  # a copy written by a store with int8 on is not used here
                    index.q8 = index.q8_scales = None
                db.catch_up(kb.conn, index)
                return index
        return db.load_index(kb.conn, kb.dimension, floor=floor, vectors=vectors)

    def discard(self, kb: KbHandle, error: Exception) -> None:
        """A mapped block failed its checksum: forget the index and remove that snapshot file (not
        one another process wrote since), so the next read rebuilds from SQLite."""
        index, kb.index = kb.index, None
        log.warning("vectorstore.embedded.snapshot_rejected", kb_id=kb.kb_id, reason=str(error))
        path = snapshot.path_of(self.root, kb.kb_id)
        try:
            if index is not None and index.snapshot_inode == path.stat().st_ino:
                path.unlink()
        except FileNotFoundError:
            pass

    def due(self, kb: KbHandle) -> bool:
        """After a read: enough has changed since the last snapshot (a quarter of it, and at least
        `snapshot_min_rows` rows), or the int8 copy is wanted and missing."""
        index = kb.index
        if index is None or not index.holds_vectors:
            return False
        if self.wants_int8(index):
            return True
        return index.changes > 0 and index.changes >= max(self.min_rows, index.snapshot_rows // 4)

    def wants_int8(self, index: VectorIndex) -> bool:
        return self.int8 and index.q8 is None and index.size - index.dead >= max(1, self.min_rows)

    def behind(self, kb: KbHandle) -> bool:
        """On close or eviction: anything changed since the last snapshot."""
        index = kb.index
        return index is not None and index.holds_vectors and (index.changes > 0 or self.wants_int8(index))

    def write(self, kb: KbHandle, *, due: bool) -> bool:
        """Write the snapshot of the KB's index (the caller holds kb.lock) when `due` and the index is
        large enough, and continue from the mapped file; True when written."""
        index = kb.index
        if not due or index is None or not index.holds_vectors:
            return False
        if index.size - index.dead < self.min_rows:
            return False
        path = snapshot.path_of(self.root, kb.kb_id)
        started = time.perf_counter()
        try:
            size = snapshot.write(path, index, kb.generation, int8=self.int8)
            horizon = snapshot.Horizon(kb.generation, kb.dimension, index.last_seq, index.last_tombstone, 0)
            # Just written from these vectors: continue from the file, its blocks taken as checked.
            kb.index = snapshot.load(path, horizon, partial(db.fetch_vector_blobs, kb.conn))
            kb.index.unchecked = {}
        except SnapshotCorrupt as error:  # a block of the index's own snapshot, read to copy it
            self.discard(kb, error)
            return False
        except (OSError, snapshot.SnapshotInvalid) as error:
            log.warning("vectorstore.embedded.snapshot_failed", kb_id=kb.kb_id, error=str(error))
            return False
        log.info(
            "vectorstore.embedded.snapshot_written",
            kb_id=kb.kb_id,
            rows=kb.index.size,
            bytes=size,
            seconds=round(time.perf_counter() - started, 3),
        )
        return True
