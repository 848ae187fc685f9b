"""The in-memory side of the embedded vector store: one columnar index per knowledge base.

SQLite holds the truth; this index mirrors the rows a process has loaded from it. Every row has an
int64 `seq` (SQLite's row id, increasing with every write), an `alive` flag (deletions only clear it
until compaction), a position, and dictionary-encoded string columns: the system fields and one
column per metadata key, each an int32 code per row (-1 where the row has no value) plus the list
of distinct values. Filters are evaluated on the distinct values first and then gathered by code, so
a range or prefix filter costs one pass over int32 codes whatever the number of rows.

Vectors (unit length, so a dot product is the cosine) are kept in fixed-size blocks rather than one
matrix: growing never copies what is there, so a 1M-row index never needs twice its size in RAM.
They are attached after the rows, and only once a process searches: one that only writes (and
filters, to delete) never loads them.

An index may also start from a snapshot (`_embedded_snapshot`): its rows then come first, in listing
order (collection, source, position), with their vectors memory-mapped from the snapshot file
(read-only blocks, copied the first time compaction has to move them), and rows committed since are
appended after them. Rows are therefore not in seq order; `_sorted_seq`/`_by_seq` map seqs to rows
(appended seqs are always larger than every seq already held, so the map only ever grows at its end).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from kb_service.vectorstores._embedded_columns import ABSENT, BoolArray, Column, IntArray, with_absent
from kb_service.vectorstores.base import (
    SYSTEM_FIELDS,
    DimensionMismatchError,
    TransientVectorStoreError,
    VectorStoreError,
)

__all__ = [
    "BoolArray",
    "Column",
    "FloatArray",
    "IntArray",
    "RowBatch",
    "VectorIndex",
    "unit_rows",
    "with_absent",
]

FloatArray = npt.NDArray[np.float32]

_Scalar = TypeVar("_Scalar", bound=np.generic)

# Blocks of about 32 MB; a block is the unit of vector growth and the most an index over-allocates.
_BLOCK_BYTES = 32 << 20
# Elements (rows x dimension) scored per BLAS call. Small enough for the gathered rows to stay in
# cache, and below OpenBLAS's threading threshold for a matrix-vector product (~460k elements): a
# threaded product is no faster on this memory-bound work and is several times slower whenever other
# processes keep the cores busy (measured: 45 ms instead of 3.6 ms for the same 10k rows).
_STEP_ELEMENTS = 256 * 1024
# Compact once dead rows are a quarter of the index (and not just a handful).
_COMPACT_MIN_DEAD = 256


class SnapshotCorrupt(TransientVectorStoreError):
    """A mapped snapshot block failed its checksum when first used; the store rebuilds from SQLite."""


@dataclass(frozen=True, slots=True)
class RowBatch:
    """Rows read from SQLite in seq order, ready to append."""

    seqs: Sequence[int]
    positions: Sequence[int]
    system: Mapping[str, Sequence[str | None]]
    # Each row's metadata as stored: a JSON object of strings.
    metadata_json: Sequence[str]


class VectorIndex:
    def __init__(self, dimension: int, *, capacity: int = 0) -> None:
        self.dimension = dimension
        self.size = 0
        self.dead = 0
        self.last_seq = 0
        self.last_tombstone = 0
        self._capacity = max(capacity, 16)
        self.seq: IntArray = np.zeros(self._capacity, dtype=np.int64)
        self.position: IntArray = np.zeros(self._capacity, dtype=np.int64)
        self.alive: BoolArray = np.zeros(self._capacity, dtype=np.bool_)
        # Seqs in ascending order and the row of each: the seq -> row map.
        self._sorted_seq: IntArray = np.zeros(self._capacity, dtype=np.int64)
        self._by_seq: IntArray = np.zeros(self._capacity, dtype=np.int64)
        self.system = {name: Column(self._capacity) for name in SYSTEM_FIELDS}
        self.metadata: dict[str, Column] = {}
        self.block_rows = max(1024, _BLOCK_BYTES // (4 * dimension))
        self.step_rows = max(16, _STEP_ELEMENTS // dimension)
        self.blocks: list[FloatArray] | None = None
        # Rows [0, snapshot_rows) came from a snapshot, whose (last_seq, last_tombstone) is
        # `snapshot_mark`; `changes` counts rows appended or deleted since (a snapshot is due when
        # they grow large). `q8` and `q8_scales` are the snapshot's int8 copy of those rows.
        self.snapshot_rows = 0
        self.snapshot_mark: tuple[int, int] | None = None
        self.changes = 0
        self.q8: npt.NDArray[np.int8] | None = None
        self.q8_scales: FloatArray | None = None
        # Mapped blocks not yet checked against the snapshot's per-block CRC ("vectors" or "q8"
        # block numbers) and the check; each block is checked once, before its first use.
        self.unchecked: dict[str, set[int]] = {}
        self.check_block: Callable[[str, int], bool] | None = None
        # The inode of the snapshot file the index was mapped from (to discard that file only).
        self.snapshot_inode: int | None = None

    @property
    def holds_vectors(self) -> bool:
        return self.blocks is not None

    def checked(self, section: str, block: int) -> None:
        """Raise SnapshotCorrupt unless mapped block `block` of `section` matches its checksum."""
        pending = self.unchecked.get(section)
        if not pending or block not in pending:
            return
        assert self.check_block is not None
        if not self.check_block(section, block):
            raise SnapshotCorrupt(f"snapshot {section} block {block} failed its checksum")
        pending.discard(block)

    def alive_mask(self) -> BoolArray:
        return self.alive[: self.size]

    @property
    def nbytes(self) -> int:
        """Bytes this index holds or maps (mapped snapshot pages count: they become resident)."""
        arrays: list[npt.NDArray[Any]] = [self.seq, self.position, self.alive, self._sorted_seq, self._by_seq]
        arrays += [column.codes for column in (*self.system.values(), *self.metadata.values())]
        if self.q8 is not None and self.q8_scales is not None:
            arrays += [self.q8, self.q8_scales]
        total = sum(int(array.nbytes) for array in arrays)
        if self.blocks is not None and self.q8 is None:
            total += sum(int(block.nbytes) for block in self.blocks)
        elif self.blocks is not None:
            # With the int8 copy, mapped float rows are read only to rescore a few candidates.
            total += sum(int(block.nbytes) for block in self.blocks if block.flags.writeable)
        return total

    # --- loading -----------------------------------------------------------------------------

    def append(self, batch: RowBatch) -> None:
        count = len(batch.seqs)
        if count == 0:
            return
        self._reserve(count)
        start, end = self.size, self.size + count
        self.seq[start:end] = batch.seqs
        self._sorted_seq[start:end] = batch.seqs
        self._by_seq[start:end] = np.arange(start, end, dtype=np.int64)
        self.position[start:end] = batch.positions
        self.alive[start:end] = True
        for name, values in batch.system.items():
            self.system[name].encode_into(start, values)
        self._append_metadata(start, batch.metadata_json)
        self.size = end
        self.last_seq = int(batch.seqs[-1])
        self.changes += count

    def adopt(
        self,
        *,
        seq: IntArray,
        by_seq: IntArray,
        position: IntArray,
        system: Mapping[str, tuple[list[str], npt.NDArray[np.int32]]],
        metadata: Mapping[str, tuple[list[str], npt.NDArray[np.int32]]],
        vectors: FloatArray,
        last_seq: int,
        last_tombstone: int,
    ) -> None:
        """Fill an empty index from a snapshot's arrays (see `_embedded_snapshot`): the small
        columns are copied, the vectors (a memory map) are used in place as read-only blocks."""
        rows = int(seq.size)
        self._reserve(rows + max(1024, rows // 32))
        self.seq[:rows] = seq
        self._by_seq[:rows] = by_seq
        self._sorted_seq[:rows] = seq[by_seq]
        self.position[:rows] = position
        self.alive[:rows] = True
        for name, (values, codes) in system.items():
            self.system[name].adopt(values, codes)
        for key, (values, codes) in metadata.items():
            column = self.metadata[key] = Column(self._capacity)
            column.adopt(values, codes)
        self.blocks = []
        for start in range(0, rows, self.block_rows):
            # A plain ndarray view of the map: slicing a np.memmap runs Python code per slice. The
            # last one may be short; the first append copies it into a full block (`_put_rows`).
            view: FloatArray = np.asarray(vectors[start : start + self.block_rows])
            self.blocks.append(view)
        self.size, self.last_seq, self.last_tombstone = rows, last_seq, last_tombstone
        self.snapshot_rows, self.snapshot_mark, self.changes = rows, (last_seq, last_tombstone), 0

    def hold_vectors(self) -> None:
        """Start holding vectors (an index built without them); `attach_vectors` fills them in."""
        if self.blocks is None:
            self.blocks = []
            self._allocate_blocks(self.size)

    def _append_metadata(self, start: int, texts: Sequence[str]) -> None:
        # Chunks of one document or app object share their metadata, so rows are grouped by the
        # stored text and each distinct text is parsed (all in one call) and encoded once; codes are
        # then set per key with one numpy assignment.
        rows_of: dict[str, list[int]] = {}
        for row, text in enumerate(texts, start):
            rows = rows_of.get(text)
            if rows is None:
                rows_of[text] = [row]
            else:
                rows.append(row)
        parsed: list[dict[str, str]] = json.loads(f"[{','.join(rows_of)}]")
        updates: dict[str, tuple[list[int], list[int]]] = {}
        for rows, metadata in zip(rows_of.values(), parsed, strict=True):
            for key, value in metadata.items():
                update = updates.get(key)
                if update is None:
                    update = updates[key] = ([], [])
                    if key not in self.metadata:
                        self.metadata[key] = Column(self._capacity)
                code = self.metadata[key].encode(value)
                update[0].extend(rows)
                update[1].extend([code] * len(rows))
        for key, (rows, codes) in updates.items():
            self.metadata[key].codes[rows] = codes

    def attach_vectors(self, seqs: IntArray, vectors: FloatArray) -> None:
        """Fill in the vectors of rows already appended (vectors are loaded after their rows)."""
        rows = self.rows_of(seqs)
        present = rows >= 0
        rows, vectors = rows[present], vectors[present]
        for start, stop in _runs(rows):
            self._put_rows(int(rows[start]), vectors[start:stop])

    def delete(self, seqs: IntArray) -> int:
        """Mark the rows with these seqs dead; seqs never loaded are ignored. Returns how many."""
        if seqs.size == 0 or self.size == 0:
            return 0
        rows = self.rows_of(seqs)
        rows = rows[rows >= 0]
        self.alive[rows] = False
        self.dead += int(rows.size)
        self.changes += int(rows.size)
        return int(rows.size)

    def needs_compaction(self) -> bool:
        return self.dead >= _COMPACT_MIN_DEAD and self.dead * 4 > self.size

    def compact(self) -> None:
        """Drop dead rows in place. Rows only move down, so each step reads rows not yet written."""
        keep = np.flatnonzero(self.alive[: self.size])
        kept, size = int(keep.size), self.size
        if self.blocks is not None:
            step = self.step_rows
            for start in range(0, kept, step):
                self._put_rows(start, self.gather(keep[start : start + step]))
            del self.blocks[-(-kept // self.block_rows) :]
        new_row = np.full(size, -1, dtype=np.int64)
        new_row[keep] = np.arange(kept, dtype=np.int64)
        order = self._by_seq[:size]
        order = order[self.alive[order]]
        self._sorted_seq[:kept] = self.seq[order]
        self._by_seq[:kept] = new_row[order]
        self.seq[:kept] = self.seq[keep]
        self.position[:kept] = self.position[keep]
        self.alive[:kept] = True
        self.alive[kept:size] = False
        for column in self.system.values():
            column.codes[:kept] = column.codes[keep]
            column.codes[kept:size] = ABSENT
        for key, column in list(self.metadata.items()):
            column.codes[:kept] = column.codes[keep]
            column.codes[kept:size] = ABSENT
            if not (column.codes[:kept] >= 0).any():
                del self.metadata[key]
        self.size, self.dead = kept, 0
        # Rows moved: the snapshot's int8 copy no longer lines up with them.
        self.snapshot_rows, self.q8, self.q8_scales = 0, None, None

    # --- reading -----------------------------------------------------------------------------

    def cosines(self, query: FloatArray, rows: IntArray) -> FloatArray:
        """Dot products of `query` with the vectors of `rows` (any order), in the order given."""
        if rows.size == 0:
            return np.empty(0, dtype=np.float32)
        order = np.argsort(rows, kind="stable")
        scores = np.empty(rows.size, dtype=np.float32)
        scores[order] = self.score_rows(query, rows[order])
        return scores

    def rows_of(self, seqs: IntArray) -> IntArray:
        """Rows of the live rows with these seqs, in the order given; -1 for a seq not loaded or dead."""
        size = self.size
        sorted_seq = self._sorted_seq[:size]
        at = np.searchsorted(sorted_seq, seqs)
        found = at < size
        found[found] &= sorted_seq[at[found]] == seqs[found]
        rows = np.full(seqs.shape, -1, dtype=np.int64)
        rows[found] = self._by_seq[at[found]]
        found[found] &= self.alive[rows[found]]
        return np.where(found, rows, -1).astype(np.int64)

    def by_seq(self) -> IntArray:
        """The rows in seq order (the seq -> row map)."""
        return self._by_seq[: self.size]

    def listing_order(self, mask: BoolArray) -> tuple[IntArray, IntArray]:
        """Rows of `mask` sorted by (collection, source_id, position), and the start index of each
        run of equal keys (ties the caller breaks by chunk id)."""
        rows = np.flatnonzero(mask)
        collection = self.system["collection"].ranks()[self.system["collection"].codes[rows]]
        source = self.system["source_id"].ranks()[self.system["source_id"].codes[rows]]
        position = self.position[rows]
        order = np.lexsort((position, source, collection))
        rows, collection, source, position = rows[order], collection[order], source[order], position[order]
        changed = (
            (collection[1:] != collection[:-1])
            | (source[1:] != source[:-1])
            | (position[1:] != position[:-1])
        )
        starts = np.concatenate([[0], np.flatnonzero(changed) + 1]).astype(np.int64)
        return rows.astype(np.int64), starts

    def counts_by(self, column: Column, mask: BoolArray) -> dict[str, int]:
        codes = column.codes[: self.size][mask]
        counts = np.bincount(codes[codes >= 0], minlength=len(column.values))
        return {column.values[code]: int(counts[code]) for code in np.flatnonzero(counts)}

    # --- storage -----------------------------------------------------------------------------

    def _reserve(self, extra: int) -> None:
        needed = self.size + extra
        if needed <= self._capacity:
            return
        capacity = max(needed, int(self._capacity * 1.5))
        self.seq = _grown(self.seq, capacity, 0)
        self.position = _grown(self.position, capacity, 0)
        self.alive = _grown(self.alive, capacity, False)
        self._sorted_seq = _grown(self._sorted_seq, capacity, 0)
        self._by_seq = _grown(self._by_seq, capacity, 0)
        for column in (*self.system.values(), *self.metadata.values()):
            column.grow(capacity)
        self._capacity = capacity

    def _allocate_blocks(self, rows: int) -> None:
        assert self.blocks is not None
        while len(self.blocks) * self.block_rows < rows:
            # np.empty, not np.zeros: numpy backs it with huge pages, while calloc's zero pages fault
            # in 4 kB at a time (measured 8x slower to fill). Rows are only read once written; the
            # rows of dead chunks may hold garbage, but only live rows are ever ranked.
            self.blocks.append(np.empty((self.block_rows, self.dimension), dtype=np.float32))

    def _put_rows(self, start: int, vectors: FloatArray) -> None:
        assert self.blocks is not None
        self._allocate_blocks(start + len(vectors))
        done = 0
        while done < len(vectors):
            block, offset = divmod(start + done, self.block_rows)
            take = min(self.block_rows - offset, len(vectors) - done)
            mapped = self.blocks[block]
            if not mapped.flags.writeable:  # a mapped snapshot block: copy on write
                self.checked("vectors", block)
                self.blocks[block] = np.empty((self.block_rows, self.dimension), dtype=np.float32)
                self.blocks[block][: len(mapped)] = mapped
            self.blocks[block][offset : offset + take] = vectors[done : done + take]
            done += take

    def block_spans(self, rows: IntArray) -> list[tuple[int, int, int]]:
        """(block, start, stop) slices of the sorted `rows` falling in each block."""
        edges = np.searchsorted(rows, np.arange(1, -(-self.size // self.block_rows) + 1) * self.block_rows)
        spans, start = [], 0
        for block, stop in enumerate(edges.tolist()):
            if stop > start:
                spans.append((block, start, stop))
            start = stop
        return spans

    def gather(self, rows: IntArray) -> FloatArray:
        """The vectors of the sorted `rows`."""
        assert self.blocks is not None
        out = np.empty((rows.size, self.dimension), dtype=np.float32)
        for block, start, stop in self.block_spans(rows):
            self.checked("vectors", block)
            out[start:stop] = self.blocks[block][rows[start:stop] - block * self.block_rows]
        return out

    def score_rows(self, query: FloatArray, rows: IntArray) -> FloatArray:
        """Exact dot products with the vectors of the sorted `rows` (gathered step by step); for a
        (d, m) `query`, one column per query."""
        assert self.blocks is not None
        scores = np.empty((rows.size, *query.shape[1:]), dtype=np.float32)
        for block, span_start, span_stop in self.block_spans(rows):
            self.checked("vectors", block)
            matrix, base = self.blocks[block], block * self.block_rows
            for start in range(span_start, span_stop, self.step_rows):
                stop = min(start + self.step_rows, span_stop)
                scores[start:stop] = matrix[rows[start:stop] - base] @ query
        return scores

    def steps(self, lo: int, hi: int) -> Iterator[tuple[int, int]]:
        """[start, stop) row ranges covering [lo, hi), each inside one block and on one side of the
        snapshot boundary, of at most `step_rows` rows."""
        start = lo
        while start < hi:
            stop = min(hi, start + self.step_rows, (start // self.block_rows + 1) * self.block_rows)
            if start < self.snapshot_rows < stop:
                stop = self.snapshot_rows
            yield start, stop
            start = stop

    def score_span(self, query: FloatArray, start: int, stop: int) -> FloatArray:
        """Exact dot products with rows [start, stop) of one step: one contiguous BLAS call."""
        assert self.blocks is not None
        block, offset = divmod(start, self.block_rows)
        self.checked("vectors", block)
        matrix: FloatArray = self.blocks[block][offset : offset + stop - start] @ query
        return matrix


def unit_rows(vectors: Sequence[npt.ArrayLike], dimension: int, what: str) -> FloatArray:
    """Vectors as unit-length float32 rows, so that a dot product is the cosine similarity."""
    for vector in vectors:
        shape = np.shape(vector)
        if shape != (dimension,):
            raise DimensionMismatchError(f"{what} has shape {shape}; the index has dimension {dimension}")
    matrix = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), dimension)
    if not np.isfinite(matrix).all():
        raise VectorStoreError(f"{what} contains NaN or infinite values")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if (norms == 0).any():
        raise VectorStoreError(f"{what} has zero length; its cosine similarity is undefined")
    unit: FloatArray = (matrix / norms).astype(np.float32)
    return unit


def _grown(array: npt.NDArray[_Scalar], capacity: int, fill: object) -> npt.NDArray[_Scalar]:
    grown: npt.NDArray[_Scalar] = np.full(capacity, fill, dtype=array.dtype)
    grown[: len(array)] = array
    return grown


def _runs(rows: IntArray) -> list[tuple[int, int]]:
    """[start, stop) ranges of `rows` that are consecutive integers."""
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    bounds = [0, *breaks.tolist(), int(rows.size)]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1) if bounds[i + 1] > bounds[i]]
