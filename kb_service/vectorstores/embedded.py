"""The embedded vector store: exact cosine search with numpy over vectors kept in SQLite.

Each knowledge base is one SQLite file (`<root>/<kb_id>.sqlite3`, WAL mode), the source of truth;
several processes may use it at once (Celery workers write, the API searches). Each process keeps an
in-memory index per knowledge base (see `_embedded_index`) and, at the start of every read, brings it
up to date inside the read's own snapshot: `PRAGMA data_version` says whether anyone committed, and
only rows and tombstones newer than what the index holds are loaded. A read therefore always sees one
committed state, and `write(items, delete_where=...)` is one transaction, so a search sees the old
chunks or the new ones, never both and never neither.

Search is exact: the filter becomes a boolean mask, the matching rows are scored, and the top k are
picked — k hits whenever k chunks match above min_similarity, however selective the filter.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import structlog

from kb_service.vectorstores import _embedded_sqlite as db
from kb_service.vectorstores._embedded_filters import evaluate
from kb_service.vectorstores._embedded_index import BoolArray, FloatArray, IntArray, VectorIndex, unit_rows
from kb_service.vectorstores.base import (
    SYSTEM_FIELDS,
    Chunk,
    ChunkPage,
    ChunkWrite,
    DimensionMismatchError,
    Filter,
    IndexNotFoundError,
    SearchHit,
    Vector,
    VectorStoreError,
    check_filter,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")
_KB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_SUFFIX = ".sqlite3"


@dataclass(eq=False)
class _Kb:
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


class EmbeddedVectorStore:
    def __init__(self, root: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.root = root
        self._busy_timeout_s = busy_timeout_s
        self._kbs: dict[str, _Kb] = {}
        self._lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------------

    def create_index(self, kb_id: str, dimension: int) -> None:
        if dimension < 1:
            raise VectorStoreError(f"an index needs a positive dimension, not {dimension}")
        kb = self._open(kb_id)
        if kb is not None:
            _check_dimension(kb.dimension, dimension)
            return
        path = self._path(kb_id)
        with db.exclusive(self.root), db.sqlite_errors(kb_id):
            if not path.exists():
                db.remove_files(path, main=False)  # a crash's WAL must not be replayed into a new index
            conn = db.connect(path, create=True, busy_timeout_s=self._busy_timeout_s)
            try:
                db.initialise(conn)
                with db.transaction(conn, "IMMEDIATE"):
                    meta = db.read_meta(conn)
                    if db.DIMENSION in meta and db.DROPPED not in meta:
                        _check_dimension(int(meta[db.DIMENSION]), dimension)
                        return
                    # A file whose drop was interrupted is reset; its new generation tells every
                    # process still holding it to reload.
                    for table in db.TABLES:
                        conn.execute(f"DELETE FROM {table}")
                    db.set_meta(
                        conn,
                        {
                            db.DIMENSION: str(dimension),
                            db.GENERATION: uuid.uuid4().hex,
                            db.SCHEMA: db.SCHEMA_VERSION,
                        },
                    )
            finally:
                conn.close()
        log.info("vectorstore.embedded.index_created", kb_id=kb_id, dimension=dimension)

    def drop_index(self, kb_id: str) -> None:
        path = self._path(kb_id)
        with self._lock:
            kb = self._kbs.get(kb_id)
        if kb is not None:
            self._forget(kb)
        with db.exclusive(self.root):
            if path.exists():
                db.mark_dropped(path, busy_timeout_s=self._busy_timeout_s)
            db.remove_files(path, main=True)
        log.info("vectorstore.embedded.index_dropped", kb_id=kb_id)

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".ping-"):
                pass
        except OSError as error:
            raise VectorStoreError(f"vector folder {self.root} is not writable: {error.strerror}") from error

    def close(self) -> None:
        with self._lock:
            kbs = list(self._kbs.values())
        for kb in kbs:
            self._forget(kb)

    # --- writing ---------------------------------------------------------------------------------

    def write(self, kb_id: str, items: Sequence[ChunkWrite], *, delete_where: Filter | None = None) -> None:
        self._mutate(kb_id, items, delete_where)

    def delete(self, kb_id: str, where: Filter) -> int:
        check_filter(where)
        if self._open(kb_id) is None:
            return 0
        return self._mutate(kb_id, (), where)

    def _mutate(self, kb_id: str, items: Sequence[ChunkWrite], where: Filter | None) -> int:
        """Upsert `items` and delete the rows matching `where` in one transaction; returns the
        number of rows `where` matched."""
        if where is not None:
            check_filter(where)
            # Load or catch up the filter columns before taking the write lock, so that other
            # writers wait only for the (small) remainder.
            self._read(kb_id, lambda _kb, _index: None, None, vectors=False)
        for _ in range(2):
            kb = self._open(kb_id)
            if kb is None:
                break
            chunks, vectors = _latest_writes(items, kb.dimension)
            with kb.lock, db.sqlite_errors(kb_id):
                if kb.closed:
                    continue
                before = db.data_version(kb.conn)
                with db.transaction(kb.conn, "IMMEDIATE"):
                    meta = db.read_meta(kb.conn)
                    current = self._is_current(kb, meta)
                    if current:
                        after = db.data_version(kb.conn)
                        matched = self._apply(kb, meta, (before, after), chunks, vectors, where)
                if not current:
                    self._forget(kb)
                    continue
                kb.stale = True
            log.debug("vectorstore.embedded.written", kb_id=kb_id, upserted=len(chunks), deleted=matched)
            return matched
        raise IndexNotFoundError(f"knowledge base {kb_id} has no vector index")

    def _apply(
        self,
        kb: _Kb,
        meta: dict[str, str],
        versions: tuple[int, int],
        chunks: list[Chunk],
        vectors: FloatArray,
        where: Filter | None,
    ) -> int:
        doomed = np.empty(0, dtype=np.int64)
        if where is not None:
            # The write lock is held, so the index brought up to date here is the state we change.
            index = self._refresh(kb, meta, *versions, vectors=False)
            doomed = index.seq[: index.size][evaluate(where, index) & index.alive_mask()]
        matched = int(doomed.size)
        if chunks:
            # Overwriting = removing the old row and inserting a new one with a new seq, so readers
            # in other processes see the change through the same two logs as any other.
            existing = db.seqs_of(kb.conn, [chunk.chunk_id for chunk in chunks])
            doomed = np.union1d(doomed, np.asarray(existing, dtype=np.int64))
        if doomed.size:
            db.remove(kb.conn, doomed, int(meta.get(db.TOMBSTONE_FLOOR, "0")))
        db.insert(kb.conn, chunks, vectors)
        return matched

    # --- reading ---------------------------------------------------------------------------------

    def search(
        self,
        kb_id: str,
        vector: Vector,
        *,
        k: int,
        where: Filter | None = None,
        min_similarity: float = 0.0,
    ) -> list[SearchHit]:
        if where is not None:
            check_filter(where)

        def run(kb: _Kb, index: VectorIndex) -> list[SearchHit]:
            query = unit_rows([vector], kb.dimension, "the query vector")[0]
            rows, scores = index.nearest(query, k, self._mask(index, where))
            passing = scores >= min_similarity
            seqs = index.seq[rows[passing]].tolist()
            chunks = self._fetch(kb, seqs)
            return [
                SearchHit(chunk=chunks[seq], similarity=min(1.0, max(-1.0, float(score))))
                for seq, score in zip(seqs, scores[passing].tolist(), strict=True)
            ]

        return self._read(kb_id, run, [], vectors=True)

    def list_chunks(
        self, kb_id: str, *, where: Filter | None = None, offset: int = 0, limit: int = 50
    ) -> ChunkPage:
        if where is not None:
            check_filter(where)
        offset, limit = max(offset, 0), max(limit, 0)

        def run(kb: _Kb, index: VectorIndex) -> ChunkPage:
            rows, starts = index.listing_order(self._mask(index, where))
            return ChunkPage(items=self._page(kb, index, rows, starts, offset, limit), total=int(rows.size))

        return self._read(kb_id, run, ChunkPage(items=[], total=0), vectors=False)

    def count(self, kb_id: str, where: Filter | None = None) -> int:
        if where is not None:
            check_filter(where)
        return self._read(
            kb_id, lambda _, index: int(np.count_nonzero(self._mask(index, where))), 0, vectors=False
        )

    def count_by(self, kb_id: str, field: str, where: Filter | None = None) -> dict[str, int]:
        if field not in SYSTEM_FIELDS:
            raise VectorStoreError(f"cannot count by {field!r}: use one of {', '.join(SYSTEM_FIELDS)}")
        if where is not None:
            check_filter(where)
        return self._read(
            kb_id,
            lambda _, index: index.counts_by(index.system[field], self._mask(index, where)),
            {},
            vectors=False,
        )

    def _page(
        self, kb: _Kb, index: VectorIndex, rows: IntArray, starts: IntArray, offset: int, limit: int
    ) -> list[Chunk]:
        """Chunks `offset`..`offset + limit` of `rows`, which are sorted by (collection, source_id,
        position) with runs of equal keys starting at `starts`; chunk ids order each run."""
        end = min(offset + limit, int(rows.size))
        if offset >= end:
            return []
        # Widen the page to whole runs, whose order depends on chunk ids that only SQLite holds.
        first = int(starts[np.searchsorted(starts, offset, side="right") - 1])
        after = int(np.searchsorted(starts, end - 1, side="right"))
        last = int(starts[after]) if after < starts.size else int(rows.size)
        window: list[int] = index.seq[rows[first:last]].tolist()
        runs = np.searchsorted(starts, np.arange(first, last), side="right").tolist()
        run_of = dict(zip(window, runs, strict=True))
        if last - first > end - offset:
            ids = db.fetch_chunk_ids(kb.conn, window)
            window = sorted(window, key=lambda seq: (run_of[seq], ids[seq]))[offset - first : end - first]
        chunks = self._fetch(kb, window)
        return [chunks[seq] for seq in sorted(chunks, key=lambda seq: (run_of[seq], chunks[seq].chunk_id))]

    @staticmethod
    def _mask(index: VectorIndex, where: Filter | None) -> BoolArray:
        alive = index.alive_mask()
        return alive.copy() if where is None else evaluate(where, index) & alive

    def _read(self, kb_id: str, run: Callable[[_Kb, VectorIndex], T], empty: T, *, vectors: bool) -> T:
        """Run `run` on an up-to-date index inside one read snapshot; `empty` if there is no index."""
        for _ in range(2):
            kb = self._open(kb_id)
            if kb is None:
                return empty
            with kb.lock, db.sqlite_errors(kb_id):
                if kb.closed:
                    continue
                before = db.data_version(kb.conn)
                with db.transaction(kb.conn):
                    meta = db.read_meta(kb.conn)  # the snapshot starts here
                    if self._is_current(kb, meta):
                        index = self._refresh(kb, meta, before, db.data_version(kb.conn), vectors=vectors)
                        return run(kb, index)
                self._forget(kb)
        return empty

    def _refresh(
        self, kb: _Kb, meta: dict[str, str], before: int, after: int, *, vectors: bool
    ) -> VectorIndex:
        """Bring the index to the current snapshot. `before` is data_version read before the snapshot
        began, `after` once inside it: any commit the index lacks changed `after`, and recording
        `before` makes a commit racing the snapshot's start trigger one more (cheap) catch-up."""
        try:
            return self._bring_up_to_date(kb, meta, before, after, vectors=vectors)
        except BaseException:
            kb.index = None  # half-applied; the next read loads afresh
            raise

    def _bring_up_to_date(
        self, kb: _Kb, meta: dict[str, str], before: int, after: int, *, vectors: bool
    ) -> VectorIndex:
        floor = int(meta.get(db.TOMBSTONE_FLOOR, "0"))
        index = kb.index
        if index is None or index.last_tombstone < floor:
            started = time.perf_counter()
            index = kb.index = db.load_index(kb.conn, kb.dimension, floor=floor, vectors=vectors)
            log.info(
                "vectorstore.embedded.index_loaded",
                kb_id=kb.kb_id,
                rows=index.size,
                vectors=vectors,
                seconds=round(time.perf_counter() - started, 3),
            )
        elif kb.stale or after != kb.data_version:
            db.catch_up(kb.conn, index)
        if vectors and not index.holds_vectors:
            db.attach_vectors(kb.conn, index)
        kb.data_version, kb.stale = before, False
        if index.needs_compaction():
            dead = index.dead
            index.compact()
            log.info("vectorstore.embedded.index_compacted", kb_id=kb.kb_id, rows=index.size, removed=dead)
        return index

    def _fetch(self, kb: _Kb, seqs: list[int]) -> dict[int, Chunk]:
        chunks = db.fetch_chunks(kb.conn, seqs)
        if len(chunks) != len(set(seqs)):
            # Cannot happen while the index follows the snapshot; if it ever does, reload it.
            kb.index = None
            raise VectorStoreError(f"vector index of {kb.kb_id} was out of step with its data; retry")
        return chunks

    # --- knowledge-base handles ------------------------------------------------------------------

    def _path(self, kb_id: str) -> Path:
        if not _KB_ID.fullmatch(kb_id):
            raise VectorStoreError(f"invalid knowledge base id {kb_id!r}")
        return self.root / f"{kb_id}{_SUFFIX}"

    def _open(self, kb_id: str) -> _Kb | None:
        path = self._path(kb_id)
        with self._lock:
            kb = self._kbs.get(kb_id)
            if kb is not None:
                return kb
            if not path.exists():
                return None
            with db.sqlite_errors(kb_id):
                try:
                    conn = db.connect(path, create=False, busy_timeout_s=self._busy_timeout_s)
                except sqlite3.OperationalError:
                    return None  # dropped between the check and the open
                meta = db.read_meta(conn)
            if db.DIMENSION not in meta or db.DROPPED in meta:
                conn.close()
                return None
            kb = _Kb(kb_id, conn, int(meta[db.DIMENSION]), meta[db.GENERATION])
            self._kbs[kb_id] = kb
            return kb

    @staticmethod
    def _is_current(kb: _Kb, meta: dict[str, str]) -> bool:
        """False when the file was dropped or re-created since this handle opened it."""
        return db.DROPPED not in meta and meta.get(db.GENERATION) == kb.generation

    def _forget(self, kb: _Kb) -> None:
        with self._lock:
            if self._kbs.get(kb.kb_id) is kb:
                del self._kbs[kb.kb_id]
        with kb.lock:
            if not kb.closed:
                kb.closed = True
                kb.index = None
                if kb.conn.in_transaction:
                    kb.conn.execute("ROLLBACK")
                kb.conn.close()


def _check_dimension(existing: int, requested: int) -> None:
    if existing != requested:
        raise DimensionMismatchError(f"the index has dimension {existing}, not {requested}")


def _latest_writes(items: Sequence[ChunkWrite], dimension: int) -> tuple[list[Chunk], FloatArray]:
    """Validated chunks and unit vectors to insert; of chunk ids written twice, the last write wins."""
    latest: dict[str, ChunkWrite] = {}
    for item in items:
        latest.pop(item.chunk.chunk_id, None)
        latest[item.chunk.chunk_id] = item
    if not latest:
        return [], np.empty((0, dimension), dtype=np.float32)
    vectors = unit_rows([item.vector for item in latest.values()], dimension, "a chunk vector")
    return [item.chunk for item in latest.values()], vectors
