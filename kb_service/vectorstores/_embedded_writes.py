"""Changes to one embedded knowledge base inside the store's write transaction: upserts, deletes and
metadata edits (rows re-inserted under new seqs, so every process's index sees them), as functions of
the connection (the store holds the lock and the transaction)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from kb_service.vectorstores import _embedded_sqlite as db
from kb_service.vectorstores._embedded_filters import evaluate
from kb_service.vectorstores._embedded_index import FloatArray, IntArray, VectorIndex, unit_rows
from kb_service.vectorstores.base import Chunk, ChunkWrite, DimensionMismatchError, Filter
from kb_service.vectorstores.shared import MetadataUpdate

# Rows a metadata edit rewrites per statement batch (all in one transaction).
_REWRITE_ROWS = 4096


def apply_change(
    conn: sqlite3.Connection,
    meta: dict[str, str],
    refresh: Callable[[], VectorIndex],
    chunks: list[Chunk],
    vectors: FloatArray,
    where: Filter | None,
    edit: MetadataUpdate | None,
) -> int:
    doomed = np.empty(0, dtype=np.int64)
    if where is not None:
        # The write lock is held, so the index brought up to date here is the state we change.
        index = refresh()
        doomed = index.seq[: index.size][evaluate(where, index) & index.alive_mask()]
    matched = int(doomed.size)
    if edit is not None:
        _rewrite_metadata(conn, meta, doomed, edit)
        return matched
    if chunks:
        # Overwriting = removing the old row and inserting a new one with a new seq, so readers
        # in other processes see the change through the same two logs as any other.
        existing = db.seqs_of(conn, [chunk.chunk_id for chunk in chunks])
        doomed = np.union1d(doomed, np.asarray(existing, dtype=np.int64))
    if doomed.size:
        db.remove(conn, doomed, int(meta.get(db.TOMBSTONE_FLOOR, "0")))
    db.insert(conn, chunks, vectors)
    return matched


def _rewrite_metadata(
    conn: sqlite3.Connection, meta: dict[str, str], seqs: IntArray, edit: MetadataUpdate
) -> None:
    """Re-insert the rows with the edited metadata under new seqs, with their stored vectors and
    text, so every process's index picks the change up like any overwrite. No re-embedding."""
    floor = int(meta.get(db.TOMBSTONE_FLOOR, "0"))
    for start in range(0, int(seqs.size), _REWRITE_ROWS):
        batch: list[int] = seqs[start : start + _REWRITE_ROWS].tolist()
        chunks = db.fetch_chunks(conn, batch)
        blobs = db.fetch_vector_blobs(conn, batch)
        db.remove(conn, np.asarray(batch, dtype=np.int64), floor)
        db.insert_blobs(
            conn,
            [replace(chunks[seq], metadata=edit.apply(chunks[seq].metadata)) for seq in batch],
            [blobs[seq] for seq in batch],
        )


def check_dimension(existing: int, requested: int) -> None:
    if existing != requested:
        raise DimensionMismatchError(f"the index has dimension {existing}, not {requested}")


def latest_writes(items: Sequence[ChunkWrite], dimension: int) -> tuple[list[Chunk], FloatArray]:
    """Validated chunks and unit vectors to insert; of chunk ids written twice, the last write wins."""
    latest: dict[str, ChunkWrite] = {}
    for item in items:
        latest.pop(item.chunk.chunk_id, None)
        latest[item.chunk.chunk_id] = item
    if not latest:
        return [], np.empty((0, dimension), dtype=np.float32)
    vectors = unit_rows([item.vector for item in latest.values()], dimension, "a chunk vector")
    return [item.chunk for item in latest.values()], vectors
