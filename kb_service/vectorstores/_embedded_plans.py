"""The vector leg's scan plans: which rows to score, and how, for one filter mask.

The filter becomes a boolean mask over the index's rows; its matching rows (the candidates) span
[lo, hi). By how many there are and how densely they fill that span, one of three plans runs:

- "candidate-list": at most `candidate_rows` rows match — gather exactly those and score them.
- "slice-scan": the matches fill at least `slice_density` of their span — score the whole span as
  contiguous steps (one BLAS product per step, no gather) and keep the matching scores. A snapshot
  stores rows in listing order (collection, source, position), so a collection filter, and a
  collection + metadata filter on metadata that is set per document, scans one slice.
- "bitmap-gather": sparser matches — walk the span step by step; steps without a match are
  skipped, steps at least `step_density` full are scored whole, and the matches of all the other
  steps are gathered and scored together (one pass, not one call per step).

All three are exact. With the int8 copy (`VectorIndex.q8`, rows from the snapshot only) every plan
first scores the int8 rows: for a row x = s * q + e with |e_j| <= s / 2 (s = max|x| / 127), the
int8 score differs from x . y by at most s * |y|_1 / 2 (Hoelder), plus float32 rounding (bounded
below). With tau the k-th largest lower bound, every row whose upper bound reaches tau is scored
again on the float vectors, and the top k is taken among those: a row left out has an upper bound
below k rows' true scores, so the answer is the exact one (recall 1.0), at the cost of reading
the float pages of only the rescored rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from kb_service.vectorstores._embedded_index import BoolArray, FloatArray, IntArray, VectorIndex
from kb_service.vectorstores.base import SearchPlan

PlanKind = Literal["candidate-list", "slice-scan", "bitmap-gather"]
PLAN_KINDS: tuple[PlanKind, ...] = ("candidate-list", "slice-scan", "bitmap-gather")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When each plan runs; docs/embedded-store.md has the measurements behind the defaults."""

    # At most this many matching rows: gather them (a gather of 4k rows is ~6 MB at 384 dims).
    candidate_rows: int = 4096
    # Matches filling at least this share of their span: score the span whole. Scoring a row costs
    # about a third of gathering it, so at half the span the slice is already cheaper.
    slice_density: float = 0.5
    # In a bitmap gather, a step this full is scored whole instead of gathered.
    step_density: float = 0.3
    # Rows per step (None: the index's own, about 256k elements); tests make it small.
    step_rows: int | None = None

    @classmethod
    def forcing(cls, kind: PlanKind, *, step_rows: int | None = None) -> Thresholds:
        """Thresholds under which every search with more than zero matches runs `kind`."""
        match kind:
            case "candidate-list":
                return cls(candidate_rows=2**62, step_rows=step_rows)
            case "slice-scan":
                return cls(candidate_rows=0, slice_density=0.0, step_rows=step_rows)
            case "bitmap-gather":
                return cls(candidate_rows=0, slice_density=2.0, step_rows=step_rows)


def nearest(
    index: VectorIndex, query: FloatArray, k: int, mask: BoolArray, thresholds: Thresholds
) -> tuple[IntArray, FloatArray, SearchPlan]:
    """Rows of the k highest dot products with `query` among `mask`, best first, their scores, and
    the plan that found them."""
    return nearest_many(index, query[np.newaxis, :], k, mask, thresholds)[0]


def nearest_many(
    index: VectorIndex, queries: FloatArray, k: int, mask: BoolArray, thresholds: Thresholds
) -> list[tuple[IntArray, FloatArray, SearchPlan]]:
    """`nearest` for each row of `queries` (m x d) under one mask: one scan scores every query
    (a matrix product per step instead of m vector products: the rows are read once). The int8
    copy serves a single query only; several are scored on the float vectors, as exactly."""
    candidates = np.flatnonzero(mask).astype(np.int64)
    count, width = int(candidates.size), int(queries.shape[0])
    if count == 0 or k <= 0:
        nothing = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
        return [(*nothing, SearchPlan("candidate-list", True, scanned=0)) for _ in range(width)]
    lo, hi = int(candidates[0]), int(candidates[-1]) + 1
    kind: PlanKind
    if count <= thresholds.candidate_rows:
        kind = "candidate-list"
    elif count >= thresholds.slice_density * (hi - lo):
        kind = "slice-scan"
    else:
        kind = "bitmap-gather"
    quantized = width == 1 and index.q8 is not None and count > k and lo < index.snapshot_rows
    # (d,) for one query (a matrix-vector product), (d, m) for several.
    operand = queries[0] if width == 1 else np.ascontiguousarray(queries.T)
    scores, bounds, scanned = _score(index, operand, candidates, kind, thresholds, quantized)
    found = []
    for column in range(width):
        rows, scored = candidates, scores if width == 1 else scores[:, column]
        rescored = None
        if bounds is not None:
            lower = scored - bounds
            tau = np.partition(lower, count - k)[count - k]
            keep = np.flatnonzero(scored + bounds >= tau)
            rows = candidates[keep]
            scored = index.score_rows(operand, rows)
            rescored = int(keep.size)
        if scored.size > k:
            top = np.argpartition(scored, scored.size - k)[scored.size - k :]
        else:
            top = np.arange(scored.size)
        top = top[np.lexsort((index.seq[rows[top]], -scored[top]))]
        plan = SearchPlan(kind, True, quantized=bounds is not None, scanned=scanned, rescored=rescored)
        found.append((rows[top], np.ascontiguousarray(scored[top]), plan))
    return found


def _score(
    index: VectorIndex,
    query: FloatArray,
    candidates: IntArray,
    kind: PlanKind,
    thresholds: Thresholds,
    quantized: bool,
) -> tuple[FloatArray, FloatArray | None, int]:
    """Scores of `candidates` (exact, or int8 ones with their error bounds), and rows scored; for a
    (d, m) `query`, a (candidates, m) matrix of exact scores."""
    count = int(candidates.size)
    scores = np.empty((count, *query.shape[1:]), dtype=np.float32)
    bounds = np.zeros(count, dtype=np.float32) if quantized else None
    approx = _Int8Scorer(index, query) if quantized else None
    if kind == "candidate-list":
        _gather_into(index, query, approx, candidates, np.arange(count), scores, bounds)
        return scores, bounds, count
    step_rows = thresholds.step_rows or index.step_rows
    spans = list(_spans(index, int(candidates[0]), int(candidates[-1]) + 1, step_rows))
    starts = np.searchsorted(candidates, [start for start, _ in spans]).tolist()
    stops = [*starts[1:], count]
    scanned = 0
    sparse: list[IntArray] = []  # candidate positions of the steps to gather, all in one go
    for (start, stop), first, last in zip(spans, starts, stops, strict=True):
        if last == first:
            continue
        if kind != "slice-scan" and last - first < thresholds.step_density * (stop - start):
            sparse.append(np.arange(first, last))
            continue
        rows = candidates[first:last]
        if approx is not None and bounds is not None and stop <= index.snapshot_rows:
            scores[first:last], bounds[first:last] = approx.span(start, stop, rows)
        elif last - first == stop - start:  # every row of the step matches
            scores[first:last] = index.score_span(query, start, stop)
        else:
            scores[first:last] = index.score_span(query, start, stop)[rows - start]
        scanned += stop - start
    if sparse:
        positions = np.concatenate(sparse)
        _gather_into(index, query, approx, candidates[positions], positions, scores, bounds)
        scanned += int(positions.size)
    return scores, bounds, scanned


def _gather_into(
    index: VectorIndex,
    query: FloatArray,
    approx: _Int8Scorer | None,
    rows: IntArray,
    positions: IntArray,
    scores: FloatArray,
    bounds: FloatArray | None,
) -> None:
    """Score the sorted `rows` by gathering them (int8 where the copy covers them) into `positions`."""
    cut = int(np.searchsorted(rows, index.snapshot_rows)) if approx is not None else 0
    if approx is not None and bounds is not None and cut:
        scores[positions[:cut]], bounds[positions[:cut]] = approx.rows(rows[:cut])
    scores[positions[cut:]] = index.score_rows(query, rows[cut:])


def _spans(index: VectorIndex, lo: int, hi: int, step_rows: int) -> list[tuple[int, int]]:
    """Steps of at most `step_rows` rows covering [lo, hi), none crossing a block or the snapshot's end."""
    spans: list[tuple[int, int]] = []
    for start, stop in index.steps(lo, hi):
        spans.extend((s, min(s + step_rows, stop)) for s in range(start, stop, step_rows))
    return spans


class _Int8Scorer:
    """Scores on the int8 copy and their error bounds (see the module docstring)."""

    def __init__(self, index: VectorIndex, query: FloatArray) -> None:
        assert index.q8 is not None and index.q8_scales is not None
        self.index = index
        self.q8: npt.NDArray[np.int8] = index.q8
        self.scales: FloatArray = index.q8_scales
        self.query = query
        dimension = query.size
        l1 = float(np.abs(query.astype(np.float64)).sum())
        # Rounding to int8 (s/2 per element) plus float32 rounding of the int8 product (at most
        # d * 2^-24 * 127 * s * |y|_1) and of the exact product it is compared with (d * 2^-24,
        # unit vectors), both with a factor 2 to spare.
        self.per_scale = np.float32(l1 * (0.5 + 127.0 * dimension * 2.0**-23))
        self.absolute = np.float32(dimension * 2.0**-22)

    def span(self, start: int, stop: int, rows: IntArray) -> tuple[FloatArray, FloatArray]:
        self.index.checked("q8", start // self.index.block_rows)  # steps never cross a block
        products = self.q8[start:stop].astype(np.float32) @ self.query
        return self._finish(products[rows - start], rows)

    def rows(self, rows: IntArray) -> tuple[FloatArray, FloatArray]:
        for block in np.unique(rows // self.index.block_rows).tolist():
            self.index.checked("q8", block)
        products = np.empty(rows.size, dtype=np.float32)
        step = self.index.step_rows  # below OpenBLAS's threading threshold, as everywhere
        for start in range(0, rows.size, step):
            products[start : start + step] = (
                self.q8[rows[start : start + step]].astype(np.float32) @ self.query
            )
        return self._finish(products, rows)

    def _finish(self, products: FloatArray, rows: IntArray) -> tuple[FloatArray, FloatArray]:
        scales = self.scales[rows]
        return products * scales, scales * self.per_scale + self.absolute
