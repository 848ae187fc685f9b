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

Keyword search uses the SQLite FTS5 table written in the same transactions as the chunks (see
`_embedded_sqlite` and `_keyword`): every chunk containing a query term is scored by BM25 inside the
read's snapshot, then the same filter mask (and cosine threshold) is applied before the top k are
picked, so a filter never shortens the answer either. Hybrid search fuses the two legs by reciprocal
rank fusion (`shared.fuse`). docs/retrieval.md has the measurements behind these choices.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import structlog

from kb_service.concurrency import Coalescer
from kb_service.vectorstores import _embedded_snapshot as snapshot
from kb_service.vectorstores import _embedded_sqlite as db
from kb_service.vectorstores import _keyword
from kb_service.vectorstores._embedded_handles import SNAPSHOT_MIN_ROWS, KbHandle, SnapshotKeeper
from kb_service.vectorstores._embedded_index import SnapshotCorrupt, VectorIndex
from kb_service.vectorstores._embedded_plans import Thresholds
from kb_service.vectorstores._embedded_search import mask_of, page_of, search_index, search_many
from kb_service.vectorstores._embedded_writes import apply_change, check_dimension, latest_writes
from kb_service.vectorstores.base import (
    SYSTEM_FIELDS,
    Chunk,
    ChunkPage,
    ChunkWrite,
    Filter,
    Hits,
    IndexNotFoundError,
    RankedHit,
    SearchHit,
    SearchQuery,
    Vector,
    VectorStoreError,
    check_filter,
    check_query,
)
from kb_service.vectorstores.shared import MetadataUpdate, metadata_update

log = structlog.get_logger(__name__)

T = TypeVar("T")
_KB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_SUFFIX = ".sqlite3"
# Rows a metadata edit rewrites per statement batch (all in one transaction).
_REWRITE_ROWS = 4096
# Vector searches of one KB that share a scan at most (their vectors are one matrix product).
_SCAN_BATCH = 32
DEFAULT_MEMORY_BUDGET_BYTES = 8 << 30


class EmbeddedVectorStore:
    """See the module docstring; docs/embedded-store.md describes snapshots, plans and the budget.

    `memory_budget_bytes` bounds what the indexes of all open KBs hold (mapped snapshot pages
    included): after each read, the least recently used other KBs are evicted (their snapshot
    written first when it is behind) until the total fits. `int8` keeps an int8 copy of the
    vectors in the snapshot and scans it, rescoring exactly (see `_embedded_plans`).
    `thresholds` chooses between the scan plans; tests force one.
    """

    def __init__(
        self,
        root: Path,
        *,
        busy_timeout_s: float = 30.0,
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
        snapshot_min_rows: int = SNAPSHOT_MIN_ROWS,
        int8: bool = False,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.root = root
        self._busy_timeout_s = busy_timeout_s
        self._memory_budget = memory_budget_bytes
        self._snapshots = SnapshotKeeper(root, min_rows=snapshot_min_rows, int8=int8)
        self._thresholds = thresholds or Thresholds()
        _single_threaded_blas()
        self._kbs: dict[str, KbHandle] = {}
        self._scans: dict[str, Coalescer[SearchQuery, Hits[RankedHit]]] = {}
        self._lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------------

    def create_index(self, kb_id: str, dimension: int) -> None:
        if dimension < 1:
            raise VectorStoreError(f"an index needs a positive dimension, not {dimension}")
        kb = self._open(kb_id)
        if kb is not None:
            check_dimension(kb.dimension, dimension)
            return
        path = self._path(kb_id)
        with db.exclusive(self.root), db.sqlite_errors(kb_id):
            if not path.exists():
                db.remove_files(path, main=False)  # a crash's WAL must not be replayed into a new index
                snapshot.remove(self.root, kb_id)
            conn = db.connect(path, create=True, busy_timeout_s=self._busy_timeout_s)
            try:
                db.initialise(conn)
                with db.transaction(conn, "IMMEDIATE"):
                    meta = db.read_meta(conn)
                    if db.DIMENSION in meta and db.DROPPED not in meta:
                        check_dimension(int(meta[db.DIMENSION]), dimension)
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
                            db.KEYWORD_INDEX: _keyword.KEYWORD_INDEX_VERSION,
                        },
                    )
            finally:
                conn.close()
        log.info("vectorstore.embedded.index_created", kb_id=kb_id, dimension=dimension)

    def drop_index(self, kb_id: str) -> None:
        path = self._path(kb_id)
        with self._lock:
            kb = self._kbs.get(kb_id)
            self._scans.pop(kb_id, None)
        if kb is not None:
            self._forget(kb)
        with db.exclusive(self.root):
            if path.exists():
                db.mark_dropped(path, busy_timeout_s=self._busy_timeout_s)
            db.remove_files(path, main=True)
            snapshot.remove(self.root, kb_id)
        log.info("vectorstore.embedded.index_dropped", kb_id=kb_id)

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".ping-"):
                pass
        except OSError as error:
            raise VectorStoreError(f"vector folder {self.root} is not writable: {error.strerror}") from error

    def close(self) -> None:
        """Write the snapshot of every open index that is behind, then let go of everything."""
        with self._lock:
            kbs = list(self._kbs.values())
        for kb in kbs:
            with kb.lock:
                if not kb.closed:
                    self._snapshots.write(kb, due=self._snapshots.behind(kb))
            self._forget(kb)

    # --- writing ---------------------------------------------------------------------------------

    def write(self, kb_id: str, items: Sequence[ChunkWrite], *, delete_where: Filter | None = None) -> None:
        self._mutate(kb_id, items, delete_where)

    def delete(self, kb_id: str, where: Filter) -> int:
        check_filter(where)
        if self._open(kb_id) is None:
            return 0
        return self._mutate(kb_id, (), where)

    def update_metadata(
        self,
        kb_id: str,
        where: Filter,
        set: Mapping[str, str],
        remove: Sequence[str] = (),
        replace: Mapping[str, str] | None = None,
    ) -> int:
        check_filter(where)
        edit = metadata_update(set, remove, replace)
        if self._open(kb_id) is None:
            return 0
        return self._mutate(kb_id, (), where, edit)

    def _mutate(
        self,
        kb_id: str,
        items: Sequence[ChunkWrite],
        where: Filter | None,
        edit: MetadataUpdate | None = None,
    ) -> int:
        """Upsert `items` and delete the rows matching `where` (or, with `edit`, rewrite their
        metadata) in one transaction; returns the number of rows `where` matched."""
        if where is not None:
            check_filter(where)
            # Load or catch up the filter columns before taking the write lock, so that other
            # writers wait only for the (small) remainder.
            self._read(kb_id, lambda _kb, _index: None, None, vectors=False)
        for _ in range(2):
            kb = self._open(kb_id)
            if kb is None:
                break
            chunks, vectors = latest_writes(items, kb.dimension)
            with kb.lock, db.sqlite_errors(kb_id):
                if kb.closed:
                    continue
                before = db.data_version(kb.conn)
                with db.transaction(kb.conn, "IMMEDIATE"):
                    meta = db.read_meta(kb.conn)
                    current = self._is_current(kb, meta)
                    if current:
                        after = db.data_version(kb.conn)
                        matched = apply_change(
                            kb.conn,
                            meta,
                            partial(self._refresh, kb, meta, before, after, vectors=False),
                            chunks,
                            vectors,
                            where,
                            edit,
                        )
                if not current:
                    self._forget(kb)
                    continue
                kb.stale = True
                if where is not None and edit is None and matched:
                    db.checkpoint(kb.conn)
            log.debug("vectorstore.embedded.written", kb_id=kb_id, upserted=len(chunks), deleted=matched)
            return matched
        raise IndexNotFoundError(f"knowledge base {kb_id} has no vector index")

    # --- reading ---------------------------------------------------------------------------------

    def search(
        self,
        kb_id: str,
        vector: Vector,
        *,
        k: int,
        where: Filter | None = None,
        min_similarity: float | None = None,
    ) -> Hits[SearchHit]:
        query = SearchQuery(k=k, vector=vector, where=where, min_similarity=min_similarity)
        hits = self.search_chunks(kb_id, query)
        return Hits((SearchHit(chunk=hit.chunk, similarity=hit.score) for hit in hits), hits.plan)

    def search_chunks(self, kb_id: str, query: SearchQuery) -> Hits[RankedHit]:
        check_query(query)
        if query.k < 1:
            return Hits()
        if query.mode == "vector" and query.vector is not None:
            return self._scans_of(kb_id).run(query)
        return self._read(
            kb_id,
            lambda kb, index: search_index(
                kb.conn, index, kb.dimension, query, lambda seqs: self._fetch(kb, seqs), self._thresholds
            ),
            Hits(),
            vectors=query.vector is not None,
        )

    def _scans_of(self, kb_id: str) -> Coalescer[SearchQuery, Hits[RankedHit]]:
        """The KB's vector searches, coalesced: one runs at a time (a KB's reads hold its lock), and
        those that arrive meanwhile share the next read and, filter by filter, one scan."""
        with self._lock:
            scans = self._scans.get(kb_id)
            if scans is None:
                scans = self._scans[kb_id] = Coalescer(partial(self._search_many, kb_id), limit=_SCAN_BATCH)
            return scans

    def _search_many(self, kb_id: str, queries: list[SearchQuery]) -> list[Hits[RankedHit] | Exception]:
        return self._read(
            kb_id,
            lambda kb, index: search_many(
                kb.conn, index, kb.dimension, queries, lambda seqs: self._fetch(kb, seqs), self._thresholds
            ),
            [Hits() for _ in queries],
            vectors=True,
        )

    def vectors_of(self, kb_id: str, chunk_ids: Sequence[str]) -> dict[str, Vector]:
        if not chunk_ids:
            return {}

        def run(kb: KbHandle, _: VectorIndex) -> dict[str, Vector]:
            blobs = db.fetch_vectors_by_chunk_id(kb.conn, chunk_ids)
            return {
                chunk_id: np.frombuffer(blob, dtype=db.VECTOR_DTYPE).astype(np.float32)
                for chunk_id, blob in blobs.items()
            }

        return self._read(kb_id, run, {}, vectors=False)

    def list_chunks(
        self, kb_id: str, *, where: Filter | None = None, offset: int = 0, limit: int = 50
    ) -> ChunkPage:
        if where is not None:
            check_filter(where)
        offset, limit = max(offset, 0), max(limit, 0)

        def run(kb: KbHandle, index: VectorIndex) -> ChunkPage:
            rows, starts = index.listing_order(mask_of(index, where))
            items = page_of(kb.conn, index, rows, starts, offset, limit, partial(self._fetch, kb))
            return ChunkPage(items=items, total=int(rows.size))

        return self._read(kb_id, run, ChunkPage(items=[], total=0), vectors=False)

    def count(self, kb_id: str, where: Filter | None = None) -> int:
        if where is not None:
            check_filter(where)
        return self._read(
            kb_id, lambda _, index: int(np.count_nonzero(mask_of(index, where))), 0, vectors=False
        )

    def count_by(self, kb_id: str, field: str, where: Filter | None = None) -> dict[str, int]:
        if field not in SYSTEM_FIELDS:
            raise VectorStoreError(f"cannot count by {field!r}: use one of {', '.join(SYSTEM_FIELDS)}")
        if where is not None:
            check_filter(where)
        return self._read(
            kb_id,
            lambda _, index: index.counts_by(index.system[field], mask_of(index, where)),
            {},
            vectors=False,
        )

    def _read(self, kb_id: str, run: Callable[[KbHandle, VectorIndex], T], empty: T, *, vectors: bool) -> T:
        """Run `run` on an up-to-date index inside one read snapshot; `empty` if there is no index."""
        corrupt = False
        for _ in range(3):
            kb = self._open(kb_id)
            if kb is None:
                return empty
            with kb.lock, db.sqlite_errors(kb_id):
                if kb.closed:
                    continue
                before = db.data_version(kb.conn)
                with db.transaction(kb.conn):
                    meta = db.read_meta(kb.conn)  # the snapshot starts here
                    current = self._is_current(kb, meta)
                    if current:
                        try:
                            index = self._refresh(kb, meta, before, db.data_version(kb.conn), vectors=vectors)
                            result = run(kb, index)
                        except SnapshotCorrupt as error:
                            # A mapped block failed its checksum: rebuild from SQLite, once.
                            if corrupt:
                                raise
                            if kb.index is not None:
                                self._snapshots.discard(kb, error)
                            corrupt = True
                            continue
                if current:
                    self._snapshots.write(kb, due=self._snapshots.due(kb))
                    kb.last_used = time.monotonic()
                    kb.nbytes = kb.index.nbytes if kb.index is not None else 0
            if current:
                self._enforce_budget(kb)
                return result
            self._forget(kb)
        return empty

    def _refresh(
        self, kb: KbHandle, meta: dict[str, str], before: int, after: int, *, vectors: bool
    ) -> VectorIndex:
        """Bring the index to the current snapshot. `before` is data_version read before the snapshot
        began, `after` once inside it: any commit the index lacks changed `after`, and recording
        `before` makes a commit racing the snapshot's start trigger one more (cheap) catch-up."""
        try:
            return self._bring_up_to_date(kb, meta, before, after, vectors=vectors)
        except SnapshotCorrupt as error:
            self._snapshots.discard(kb, error)
            raise
        except BaseException:
            kb.index = None  # half-applied; the next read loads afresh
            raise

    def _bring_up_to_date(
        self, kb: KbHandle, meta: dict[str, str], before: int, after: int, *, vectors: bool
    ) -> VectorIndex:
        floor = int(meta.get(db.TOMBSTONE_FLOOR, "0"))
        index = kb.index
        if index is None or index.last_tombstone < floor:
            started = time.perf_counter()
            index = kb.index = self._snapshots.load(kb, floor, vectors=vectors)
            log.info(
                "vectorstore.embedded.index_loaded",
                kb_id=kb.kb_id,
                rows=index.size,
                vectors=index.holds_vectors,
                snapshot=index.snapshot_mark is not None,
                seconds=round(time.perf_counter() - started, 3),
            )
        elif kb.stale or after != kb.data_version:
            db.catch_up(kb.conn, index)
        if vectors and not index.holds_vectors:
            db.attach_vectors(kb.conn, index)
        kb.data_version, kb.stale = before, False
        # A searching process compacts by writing the snapshot (outside any write transaction).
        if vectors and index.needs_compaction() and self._snapshots.write(kb, due=True):
            assert kb.index is not None
            return kb.index  # the snapshot holds only the live rows: the reloaded index is compact
        if index.needs_compaction():
            dead = index.dead
            index.compact()
            log.info("vectorstore.embedded.index_compacted", kb_id=kb.kb_id, rows=index.size, removed=dead)
        return index

    # --- the memory budget ---------------------------------------------------------------------

    def _enforce_budget(self, current: KbHandle) -> None:
        """Evict the least recently used other KBs until the open indexes fit the memory budget."""
        with self._lock:
            held = [kb for kb in self._kbs.values() if kb.index is not None]
        total = sum(kb.nbytes for kb in held)
        for victim in sorted(held, key=lambda kb: kb.last_used):
            if total <= self._memory_budget:
                return
            if victim is current:
                continue
            with victim.lock:
                if victim.closed:
                    continue
                self._snapshots.write(victim, due=self._snapshots.behind(victim))
            self._forget(victim)
            total -= victim.nbytes
            log.info("vectorstore.embedded.evicted", kb_id=victim.kb_id, bytes=victim.nbytes, held=total)

    def _fetch(self, kb: KbHandle, seqs: list[int]) -> dict[int, Chunk]:
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

    def _open(self, kb_id: str) -> KbHandle | None:
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
            if not db.keyword_index_current(meta):
                started = time.perf_counter()
                try:
                    built = db.ensure_keyword_index(conn)
                except BaseException:
                    conn.close()
                    raise
                if built:
                    log.info(
                        "vectorstore.embedded.keyword_index_built",
                        kb_id=kb_id,
                        seconds=round(time.perf_counter() - started, 3),
                    )
            kb = KbHandle(kb_id, conn, int(meta[db.DIMENSION]), meta[db.GENERATION])
            self._kbs[kb_id] = kb
            return kb

    @staticmethod
    def _is_current(kb: KbHandle, meta: dict[str, str]) -> bool:
        """False when the file was dropped or re-created since this handle opened it."""
        return db.DROPPED not in meta and meta.get(db.GENERATION) == kb.generation

    def _forget(self, kb: KbHandle) -> None:
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


_BLAS_LIMITED = threading.Event()


def _single_threaded_blas() -> None:
    """Hold numpy's BLAS to one thread in this process, once. The store's products are memory-bound
    and run under concurrent requests: a threaded one is no faster alone and far slower when the
    cores are busy (a 10k-row product: 45 ms instead of 3.6 ms; 16 concurrent searches through the
    API: 64 req/s threaded, 76 single-threaded, with the scans of waiting searches shared)."""
    if _BLAS_LIMITED.is_set():
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    _BLAS_LIMITED.set()
