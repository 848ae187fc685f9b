"""The SQLite side of the embedded vector store: one file per knowledge base, the source of truth.

`chunks` holds every live chunk and `vectors` its unit-length float32 vector under the same `seq`.
Keeping vectors apart lets a process that only filters (a worker deleting by document) load the
small columns without reading 1.5 kB of vector per row, and lets a searching process stream the
vectors without the text. `seq` (AUTOINCREMENT, so never reused) grows with every write, so "rows
with seq > n" is exactly what a reader has not seen yet. A deleted or overwritten row is removed and
its seq appended to `tombstones`, whose ids likewise tell a reader which deletions it has not
applied. `meta` holds the dimension, a generation id (new on every create, so a reader notices a
drop and re-create) and the tombstone floor (ids up to it were pruned; a reader behind it reloads).

`chunks_fts` is the keyword index: an FTS5 table keyed by the same `seq` (its rowid), holding each
chunk's text as `_keyword.indexed_text` gives it. It is written and deleted in the same statements'
transaction as `chunks`, so it is always in step, and searched inside the reader's snapshot. A file
from before the keyword index (schema 1) gets it built when a process first opens it
(`ensure_keyword_index`, idempotent); `meta.keyword_index` records the tokenizer version it was
built with, and a different one is rebuilt the same way.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt
import structlog

from kb_service.vectorstores._embedded_index import FloatArray, IntArray, RowBatch, VectorIndex
from kb_service.vectorstores._keyword import KEYWORD_INDEX_VERSION, TOKENIZER, indexed_text
from kb_service.vectorstores.base import SYSTEM_FIELDS, Chunk, TransientVectorStoreError, VectorStoreError

log = structlog.get_logger(__name__)

SCHEMA_VERSION = "2"
DIMENSION, GENERATION, DROPPED, TOMBSTONE_FLOOR, SCHEMA, KEYWORD_INDEX = (
    "dimension",
    "generation",
    "dropped",
    "tombstone_floor",
    "schema_version",
    "keyword_index",
)
# Vectors are stored little-endian whatever the machine, so a data folder can move between hosts.
VECTOR_DTYPE = np.dtype("<f4")
# Tombstones a reader may lag behind before it has to reload from scratch.
TOMBSTONES_KEPT = 100_000
_FETCH_ROWS = 4096

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    # The text last: loading the filter columns then stops before the text's overflow pages.
    """CREATE TABLE IF NOT EXISTS chunks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        chunk_id TEXT NOT NULL UNIQUE,
        collection TEXT NOT NULL,
        source_id TEXT NOT NULL,
        document_id TEXT,
        page INTEGER,
        position INTEGER NOT NULL,
        human_readable_id TEXT,
        mx_object_id TEXT,
        mx_entity TEXT,
        metadata TEXT NOT NULL,
        text TEXT NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS vectors (seq INTEGER PRIMARY KEY, vector BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tombstones (id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL)",
)
_KEYWORD_TABLE = f"CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, tokenize='{TOKENIZER}')"
TABLES = ("chunks", "vectors", "tombstones", "chunks_fts", "meta")
_INSERT_CHUNK = """INSERT INTO chunks (seq, chunk_id, collection, source_id, document_id, page,
    position, human_readable_id, mx_object_id, mx_entity, metadata, text)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
# Column order matches SYSTEM_FIELDS after seq and position.
_INDEX_COLUMNS = f"seq, position, {', '.join(SYSTEM_FIELDS)}, metadata"
_CHUNK_COLUMNS = (
    "seq, chunk_id, collection, text, source_id, metadata, document_id, page, "
    "human_readable_id, mx_object_id, mx_entity, position"
)
_IN_LIST = "(SELECT value FROM json_each(?))"


@contextmanager
def sqlite_errors(kb_id: str) -> Iterator[None]:
    """Turn sqlite3 errors into the store's error family; a busy database may be retried."""
    try:
        yield
    except sqlite3.OperationalError as error:
        message = str(error)
        if "locked" in message or "busy" in message:
            raise TransientVectorStoreError(f"vector index of {kb_id} is busy: {message}") from error
        raise VectorStoreError(f"vector index of {kb_id} failed: {message}") from error
    except sqlite3.Error as error:
        raise VectorStoreError(f"vector index of {kb_id} failed: {error}") from error


def connect(path: Path, *, create: bool, busy_timeout_s: float) -> sqlite3.Connection:
    # mode=rw never creates a file, so a reader racing a drop cannot resurrect an empty index.
    uri = f"{path.resolve().as_uri()}?mode={'rwc' if create else 'rw'}"
    conn = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    # In WAL mode NORMAL never corrupts; a power cut may lose the last commits, which re-running the
    # (idempotent) ingestion task restores.
    conn.execute("PRAGMA synchronous = NORMAL")
    # Deleted chunk text is overwritten with zeros, not left in free pages (see checkpoint()).
    conn.execute("PRAGMA secure_delete = ON")
    return conn


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy the write-ahead log into the main file and truncate it, so the page images that still
    hold deleted chunk text leave the WAL too (best effort: a reader mid-transaction makes SQLite
    keep the log, and the next delete's checkpoint clears it)."""
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError as error:  # busy: the change itself is committed
        log.info("vectorstore.embedded.checkpoint_deferred", error=str(error))


@contextmanager
def exclusive(root: Path) -> Iterator[None]:
    """Serialise creating and dropping index files across processes."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_files(path: Path, *, main: bool) -> None:
    for suffix in ("", "-wal", "-shm") if main else ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def mark_dropped(path: Path, *, busy_timeout_s: float) -> None:
    """Flag the file before it is deleted: a process still holding it open reads the flag and lets
    go instead of serving a dropped index. Checkpointing puts the flag into the main file, which is
    what such a process still has open once the WAL is gone."""
    try:
        conn = connect(path, create=False, busy_timeout_s=busy_timeout_s)
    except sqlite3.Error:
        return
    try:
        with transaction(conn, "IMMEDIATE"):
            set_meta(conn, {DROPPED: "1"})
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as error:
        log.warning("vectorstore.embedded.drop_flag_failed", path=str(path), error=str(error))
    finally:
        conn.close()


def initialise(conn: sqlite3.Connection) -> None:
    # 16 kB pages hold ten 1.5 kB vectors where 4 kB pages hold two and waste a quarter; loading
    # 100k vectors measured 30 % less CPU. Only effective before the first table exists.
    conn.execute("PRAGMA page_size = 16384")
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in (*_SCHEMA, _KEYWORD_TABLE):
        conn.execute(statement)


def keyword_index_current(meta: Mapping[str, str]) -> bool:
    return meta.get(KEYWORD_INDEX) == KEYWORD_INDEX_VERSION


def ensure_keyword_index(conn: sqlite3.Connection) -> bool:
    """Build the keyword index of a file that lacks it (or has one of another tokenizer version), in
    one write transaction; a no-op when another process did it first. True when it built."""
    with transaction(conn, "IMMEDIATE"):
        meta = read_meta(conn)
        if keyword_index_current(meta) or DIMENSION not in meta or DROPPED in meta:
            return False
        conn.execute("DROP TABLE IF EXISTS chunks_fts")
        conn.execute(_KEYWORD_TABLE)
        cursor = conn.execute("SELECT seq, text FROM chunks ORDER BY seq")
        while rows := cursor.fetchmany(_FETCH_ROWS):
            conn.executemany(
                "INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)",
                [(seq, indexed_text(text)) for seq, text in rows],
            )
        set_meta(conn, {KEYWORD_INDEX: KEYWORD_INDEX_VERSION, SCHEMA: SCHEMA_VERSION})
    return True


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def set_meta(conn: sqlite3.Connection, values: Mapping[str, str]) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items())


def data_version(conn: sqlite3.Connection) -> int:
    """Changes whenever another connection commits: the cheap "anything new?" check."""
    row = conn.execute("PRAGMA data_version").fetchone()
    return int(row[0])


@contextmanager
def transaction(conn: sqlite3.Connection, mode: str = "DEFERRED") -> Iterator[None]:
    conn.execute(f"BEGIN {mode}")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# --- loading into the in-memory index -----------------------------------------------------------


def load_index(conn: sqlite3.Connection, dimension: int, *, floor: int, vectors: bool) -> VectorIndex:
    """Everything in the snapshot, streamed batch by batch into an index preallocated to size."""
    (count,) = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()
    (last_tombstone,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM tombstones").fetchone()
    index = VectorIndex(dimension, capacity=int(count))
    # The tables hold only live rows, so no tombstone up to now concerns this index.
    index.last_tombstone = max(int(last_tombstone), floor)
    _append_rows(conn, index)
    if vectors:
        attach_vectors(conn, index)
    return index


def catch_up(conn: sqlite3.Connection, index: VectorIndex) -> None:
    """Apply the deletions and load the rows committed since the index last looked."""
    tombstones = conn.execute(
        "SELECT id, seq FROM tombstones WHERE id > ? ORDER BY id", (index.last_tombstone,)
    ).fetchall()
    if tombstones:
        index.delete(np.fromiter((seq for _, seq in tombstones), dtype=np.int64, count=len(tombstones)))
        index.last_tombstone = int(tombstones[-1][0])
    seen = index.last_seq
    _append_rows(conn, index)
    if index.holds_vectors and index.last_seq > seen:
        _attach(conn, index, after=seen)


def attach_vectors(conn: sqlite3.Connection, index: VectorIndex) -> None:
    """Load the vectors of every row of an index that has none yet."""
    index.hold_vectors()
    _attach(conn, index, after=0)


def _append_rows(conn: sqlite3.Connection, index: VectorIndex) -> None:
    cursor = conn.execute(
        f"SELECT {_INDEX_COLUMNS} FROM chunks WHERE seq > ? ORDER BY seq", (index.last_seq,)
    )
    while rows := cursor.fetchmany(_FETCH_ROWS):
        fields = list(zip(*rows, strict=True))
        index.append(
            RowBatch(
                seqs=fields[0],
                positions=fields[1],
                system={name: fields[2 + i] for i, name in enumerate(SYSTEM_FIELDS)},
                metadata_json=fields[2 + len(SYSTEM_FIELDS)],
            )
        )


def _attach(conn: sqlite3.Connection, index: VectorIndex, *, after: int) -> None:
    cursor = conn.execute(
        "SELECT seq, vector FROM vectors WHERE seq > ? AND seq <= ? ORDER BY seq", (after, index.last_seq)
    )
    while rows := cursor.fetchmany(_FETCH_ROWS):
        seqs, blobs = zip(*rows, strict=True)
        vectors = np.frombuffer(b"".join(blobs), dtype=VECTOR_DTYPE).reshape(len(rows), index.dimension)
        index.attach_vectors(np.asarray(seqs, dtype=np.int64), vectors.astype(np.float32, copy=False))


def high_water(conn: sqlite3.Connection) -> tuple[int, int]:
    """The highest chunk seq and tombstone id ever used (AUTOINCREMENT never reuses them)."""
    used = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    return int(used.get("chunks", 0)), int(used.get("tombstones", 0))


# --- writing ------------------------------------------------------------------------------------


def seqs_of(conn: sqlite3.Connection, chunk_ids: Sequence[str]) -> list[int]:
    rows = conn.execute(f"SELECT seq FROM chunks WHERE chunk_id IN {_IN_LIST}", (json.dumps(chunk_ids),))
    return [int(seq) for (seq,) in rows]


def remove(conn: sqlite3.Connection, seqs: IntArray, floor: int) -> None:
    """Delete rows and log their seqs for other readers; prune the log once it is long."""
    payload = json.dumps(seqs.tolist())
    conn.execute(f"DELETE FROM chunks WHERE seq IN {_IN_LIST}", (payload,))
    conn.execute(f"DELETE FROM vectors WHERE seq IN {_IN_LIST}", (payload,))
    conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN {_IN_LIST}", (payload,))
    conn.execute("INSERT INTO tombstones (seq) SELECT value FROM json_each(?)", (payload,))
    (newest,) = conn.execute("SELECT MAX(id) FROM tombstones").fetchone()
    if newest - floor > 2 * TOMBSTONES_KEPT:
        new_floor = newest - TOMBSTONES_KEPT
        conn.execute("DELETE FROM tombstones WHERE id <= ?", (new_floor,))
        set_meta(conn, {TOMBSTONE_FLOOR: str(new_floor)})


def insert(conn: sqlite3.Connection, chunks: Sequence[Chunk], vectors: FloatArray) -> None:
    """Insert chunks under fresh seqs. The caller holds the write lock, so numbering them from the
    highest seq ever used (sqlite_sequence) is safe and gives all three tables the same keys."""
    insert_blobs(conn, chunks, list(map(bytes, vectors.astype(VECTOR_DTYPE, copy=False))))


def insert_blobs(conn: sqlite3.Connection, chunks: Sequence[Chunk], blobs: Sequence[bytes]) -> None:
    """`insert` with the vectors as stored (a metadata edit re-inserts them byte for byte)."""
    (last,) = conn.execute(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'chunks'), 0)"
    ).fetchone()
    seqs = range(int(last) + 1, int(last) + 1 + len(chunks))
    conn.executemany(_INSERT_CHUNK, map(_chunk_row, seqs, chunks))
    conn.executemany("INSERT INTO vectors (seq, vector) VALUES (?, ?)", zip(seqs, blobs, strict=True))
    conn.executemany(
        "INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)",
        zip(seqs, (indexed_text(chunk.text) for chunk in chunks), strict=True),
    )


def fetch_vectors_by_chunk_id(conn: sqlite3.Connection, chunk_ids: Sequence[str]) -> dict[str, bytes]:
    rows = conn.execute(
        f"SELECT c.chunk_id, v.vector FROM chunks AS c JOIN vectors AS v ON v.seq = c.seq"
        f" WHERE c.chunk_id IN {_IN_LIST}",
        (json.dumps(list(chunk_ids)),),
    )
    return {str(chunk_id): bytes(blob) for chunk_id, blob in rows}


def fetch_vector_blobs(conn: sqlite3.Connection, seqs: Sequence[int]) -> dict[int, bytes]:
    rows = conn.execute(f"SELECT seq, vector FROM vectors WHERE seq IN {_IN_LIST}", (json.dumps(seqs),))
    return {int(seq): bytes(blob) for seq, blob in rows}


def keyword_matches(conn: sqlite3.Connection, expression: str) -> tuple[IntArray, npt.NDArray[np.float64]]:
    """Seqs of every chunk matching the FTS5 expression and their BM25 scores (higher is better;
    FTS5's bm25() is negative, lower better)."""
    rows = conn.execute(
        "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?", (expression,)
    ).fetchall()
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    seqs, scores = zip(*rows, strict=True)
    return np.asarray(seqs, dtype=np.int64), -np.asarray(scores, dtype=np.float64)


def _chunk_row(seq: int, chunk: Chunk) -> tuple[object, ...]:
    return (
        seq,
        chunk.chunk_id,
        chunk.collection,
        chunk.source_id,
        chunk.document_id,
        chunk.page,
        chunk.position,
        chunk.human_readable_id,
        chunk.mx_object_id,
        chunk.mx_entity,
        json.dumps(dict(chunk.metadata), ensure_ascii=False),
        chunk.text,
    )


# --- reading chunks back ------------------------------------------------------------------------


def fetch_chunks(conn: sqlite3.Connection, seqs: Sequence[int]) -> dict[int, Chunk]:
    rows = conn.execute(f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE seq IN {_IN_LIST}", (json.dumps(seqs),))
    return {
        int(seq): Chunk(
            chunk_id=chunk_id,
            collection=collection,
            text=text,
            source_id=source_id,
            metadata=json.loads(metadata),
            document_id=document_id,
            page=page,
            human_readable_id=human_readable_id,
            mx_object_id=mx_object_id,
            mx_entity=mx_entity,
            position=position,
        )
        for (
            seq,
            chunk_id,
            collection,
            text,
            source_id,
            metadata,
            document_id,
            page,
            human_readable_id,
            mx_object_id,
            mx_entity,
            position,
        ) in rows
    }


def fetch_chunk_ids(conn: sqlite3.Connection, seqs: Sequence[int]) -> dict[int, str]:
    rows = conn.execute(f"SELECT seq, chunk_id FROM chunks WHERE seq IN {_IN_LIST}", (json.dumps(seqs),))
    return {int(seq): chunk_id for seq, chunk_id in rows}
