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
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from kb_service.vectorstores.base import (
    SYSTEM_FIELDS,
    DimensionMismatchError,
    VectorStoreError,
    as_date,
    as_number,
)

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

_Scalar = TypeVar("_Scalar", bound=np.generic)

ABSENT = -1
# Blocks of about 32 MB; a block is the unit of vector growth and the most an index over-allocates.
_BLOCK_BYTES = 32 << 20
# Elements (rows x dimension) scored per BLAS call. Small enough for the gathered rows to stay in
# cache, and below OpenBLAS's threading threshold for a matrix-vector product (~460k elements): a
# threaded product is no faster on this memory-bound work and is several times slower whenever other
# processes keep the cores busy (measured: 45 ms instead of 3.6 ms for the same 10k rows).
_STEP_ELEMENTS = 256 * 1024
# Above this share of candidate rows, scoring every row and picking beats gathering the candidates.
_FULL_SCAN_SHARE = 0.3
# Compact once dead rows are a quarter of the index (and not just a handful).
_COMPACT_MIN_DEAD = 256


@dataclass(frozen=True, slots=True)
class RowBatch:
    """Rows read from SQLite in seq order, ready to append."""

    seqs: Sequence[int]
    positions: Sequence[int]
    system: Mapping[str, Sequence[str | None]]
    # Each row's metadata as stored: a JSON object of strings.
    metadata_json: Sequence[str]


class Column:
    """A dictionary-encoded string column: int32 codes per row, -1 where absent."""

    __slots__ = ("_dates", "_lookup", "_numbers", "_ranks", "codes", "values")

    def __init__(self, capacity: int) -> None:
        self.codes: npt.NDArray[np.int32] = np.full(capacity, ABSENT, dtype=np.int32)
        self.values: list[str] = []
        self._lookup: dict[str, int] = {}
        self._numbers: npt.NDArray[np.float64] | None = None
        self._dates: npt.NDArray[np.float64] | None = None
        self._ranks: IntArray | None = None

    def code(self, value: str) -> int:
        return self._lookup.get(value, ABSENT)

    def encode(self, value: str) -> int:
        code = self._lookup.get(value)
        if code is None:
            code = len(self.values)
            self._lookup[value] = code
            self.values.append(value)
        return code

    def encode_into(self, start: int, values: Sequence[str | None]) -> None:
        lookup = self._lookup
        codes = [ABSENT if value is None else lookup.get(value, ABSENT - 1) for value in values]
        if ABSENT - 1 in codes:  # values not seen before: rare once a column has filled up
            codes = [ABSENT if value is None else self.encode(value) for value in values]
        self.codes[start : start + len(values)] = codes

    def grow(self, capacity: int) -> None:
        codes = np.full(capacity, ABSENT, dtype=np.int32)
        codes[: len(self.codes)] = self.codes
        self.codes = codes

    def select(self, table: BoolArray, size: int) -> BoolArray:
        """Rows whose value passes `table` (one entry per distinct value, then False for absent):
        code -1 indexes that last entry."""
        return table[self.codes[:size]]

    def table(self, predicate: Callable[[str], bool]) -> BoolArray:
        return np.fromiter(
            (predicate(value) for value in self.values), dtype=np.bool_, count=len(self.values)
        )

    def numbers(self) -> npt.NDArray[np.float64]:
        """`as_number` of every distinct value (NaN when not a number), computed once per value."""
        self._numbers = _extend(self._numbers, self.values, as_number)
        return self._numbers

    def dates(self) -> npt.NDArray[np.float64]:
        self._dates = _extend(self._dates, self.values, as_date)
        return self._dates

    def ranks(self) -> IntArray:
        """Each value's rank in sorted order (code-point order, which is UTF-8 byte order)."""
        if self._ranks is None or len(self._ranks) != len(self.values):
            order = sorted(range(len(self.values)), key=self.values.__getitem__)
            ranks = np.empty(len(self.values), dtype=np.int64)
            ranks[order] = np.arange(len(self.values), dtype=np.int64)
            self._ranks = ranks
        return self._ranks


def _extend(
    cached: npt.NDArray[np.float64] | None, values: list[str], read: Callable[[str], float | None]
) -> npt.NDArray[np.float64]:
    done = 0 if cached is None else len(cached)
    if cached is not None and done == len(values):
        return cached
    fresh = np.array([_nan_if_none(read(value)) for value in values[done:]], dtype=np.float64)
    return fresh if cached is None else np.concatenate([cached, fresh])


def _nan_if_none(number: float | None) -> float:
    return math.nan if number is None else number


def with_absent(table: BoolArray) -> BoolArray:
    """Append the False entry that code -1 (absent) selects."""
    return np.append(table, False)


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
        self.system = {name: Column(self._capacity) for name in SYSTEM_FIELDS}
        self.metadata: dict[str, Column] = {}
        self._block_rows = max(1024, _BLOCK_BYTES // (4 * dimension))
        self._step_rows = max(16, _STEP_ELEMENTS // dimension)
        self._blocks: list[FloatArray] | None = None

    @property
    def holds_vectors(self) -> bool:
        return self._blocks is not None

    def alive_mask(self) -> BoolArray:
        return self.alive[: self.size]

    # --- loading -----------------------------------------------------------------------------

    def append(self, batch: RowBatch) -> None:
        count = len(batch.seqs)
        if count == 0:
            return
        self._reserve(count)
        start, end = self.size, self.size + count
        self.seq[start:end] = batch.seqs
        self.position[start:end] = batch.positions
        self.alive[start:end] = True
        for name, values in batch.system.items():
            self.system[name].encode_into(start, values)
        self._append_metadata(start, batch.metadata_json)
        self.size = end
        self.last_seq = int(batch.seqs[-1])

    def hold_vectors(self) -> None:
        """Start holding vectors (an index built without them); `attach_vectors` fills them in."""
        if self._blocks is None:
            self._blocks = []
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
        rows = np.searchsorted(self.seq[: self.size], seqs)
        for start, stop in _runs(rows):
            self._put_rows(int(rows[start]), vectors[start:stop])

    def delete(self, seqs: IntArray) -> int:
        """Mark the rows with these seqs dead; seqs never loaded are ignored. Returns how many."""
        if seqs.size == 0 or self.size == 0:
            return 0
        rows = np.searchsorted(self.seq[: self.size], seqs)
        rows = rows[rows < self.size]
        rows = rows[np.isin(self.seq[rows], seqs) & self.alive[rows]]
        self.alive[rows] = False
        self.dead += int(rows.size)
        return int(rows.size)

    def needs_compaction(self) -> bool:
        return self.dead >= _COMPACT_MIN_DEAD and self.dead * 4 > self.size

    def compact(self) -> None:
        """Drop dead rows in place. Rows only move down, so each step reads rows not yet written."""
        keep = np.flatnonzero(self.alive[: self.size])
        kept, size = int(keep.size), self.size
        if self._blocks is not None:
            step = self._step_rows
            for start in range(0, kept, step):
                self._put_rows(start, self._gather(keep[start : start + step]))
            del self._blocks[-(-kept // self._block_rows) :]
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

    # --- reading -----------------------------------------------------------------------------

    def nearest(self, query: FloatArray, k: int, mask: BoolArray) -> tuple[IntArray, FloatArray]:
        """Rows of the k highest dot products with `query` among `mask`, best first, and their scores."""
        candidates = np.flatnonzero(mask)
        if candidates.size == 0 or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if candidates.size >= _FULL_SCAN_SHARE * self.size:
            scores = self._score_all(query)[candidates]
        else:
            scores = self._score_rows(query, candidates)
        if scores.size > k:
            top = np.argpartition(scores, scores.size - k)[scores.size - k :]
        else:
            top = np.arange(scores.size)
        top = top[np.argsort(-scores[top], kind="stable")]
        return candidates[top].astype(np.int64), scores[top]

    def cosines(self, query: FloatArray, rows: IntArray) -> FloatArray:
        """Dot products of `query` with the vectors of `rows` (any order), in the order given."""
        if rows.size == 0:
            return np.empty(0, dtype=np.float32)
        order = np.argsort(rows, kind="stable")
        scores = np.empty(rows.size, dtype=np.float32)
        scores[order] = self._score_rows(query, rows[order])
        return scores

    def rows_of(self, seqs: IntArray) -> IntArray:
        """Rows of the live rows with these seqs, in the order given; -1 for a seq not loaded or dead."""
        size = self.size
        rows = np.searchsorted(self.seq[:size], seqs)
        found = rows < size
        found[found] &= self.seq[rows[found]] == seqs[found]
        found[found] &= self.alive[rows[found]]
        return np.where(found, rows, -1).astype(np.int64)

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
        for column in (*self.system.values(), *self.metadata.values()):
            column.grow(capacity)
        self._capacity = capacity

    def _allocate_blocks(self, rows: int) -> None:
        assert self._blocks is not None
        while len(self._blocks) * self._block_rows < rows:
            # np.empty, not np.zeros: numpy backs it with huge pages, while calloc's zero pages fault
            # in 4 kB at a time (measured 8x slower to fill). Rows are only read once written; the
            # rows of dead chunks may hold garbage, but only live rows are ever ranked.
            self._blocks.append(np.empty((self._block_rows, self.dimension), dtype=np.float32))

    def _put_rows(self, start: int, vectors: FloatArray) -> None:
        assert self._blocks is not None
        self._allocate_blocks(start + len(vectors))
        done = 0
        while done < len(vectors):
            block, offset = divmod(start + done, self._block_rows)
            take = min(self._block_rows - offset, len(vectors) - done)
            self._blocks[block][offset : offset + take] = vectors[done : done + take]
            done += take

    def _block_spans(self, rows: IntArray) -> list[tuple[int, int, int]]:
        """(block, start, stop) slices of the sorted `rows` falling in each block."""
        edges = np.searchsorted(rows, np.arange(1, -(-self.size // self._block_rows) + 1) * self._block_rows)
        spans, start = [], 0
        for block, stop in enumerate(edges.tolist()):
            if stop > start:
                spans.append((block, start, stop))
            start = stop
        return spans

    def _gather(self, rows: IntArray) -> FloatArray:
        assert self._blocks is not None
        out = np.empty((rows.size, self.dimension), dtype=np.float32)
        for block, start, stop in self._block_spans(rows):
            out[start:stop] = self._blocks[block][rows[start:stop] - block * self._block_rows]
        return out

    def _score_all(self, query: FloatArray) -> FloatArray:
        assert self._blocks is not None
        scores = np.empty(self.size, dtype=np.float32)
        for block, matrix in enumerate(self._blocks):
            start = block * self._block_rows
            stop = min(start + self._block_rows, self.size)
            if start >= stop:
                break
            for offset in range(0, stop - start, self._step_rows):
                end = min(offset + self._step_rows, stop - start)
                scores[start + offset : start + end] = matrix[offset:end] @ query
        return scores

    def _score_rows(self, query: FloatArray, rows: IntArray) -> FloatArray:
        assert self._blocks is not None
        scores = np.empty(rows.size, dtype=np.float32)
        for block, span_start, span_stop in self._block_spans(rows):
            matrix, base = self._blocks[block], block * self._block_rows
            for start in range(span_start, span_stop, self._step_rows):
                stop = min(start + self._step_rows, span_stop)
                scores[start:stop] = matrix[rows[start:stop] - base] @ query
        return scores


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
