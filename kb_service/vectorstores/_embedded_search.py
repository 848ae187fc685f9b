"""Search inside one embedded knowledge base: the vector leg (exact cosine over the filter's mask), the
keyword leg (FTS5 BM25 under the same mask) and their fusion (`shared.fuse`), as pure functions of an
up-to-date index and the read's connection (the store holds the lock and the snapshot)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

import numpy as np

from kb_service.vectorstores import _embedded_sqlite as db
from kb_service.vectorstores import _keyword
from kb_service.vectorstores._embedded_filters import evaluate
from kb_service.vectorstores._embedded_index import BoolArray, FloatArray, IntArray, VectorIndex, unit_rows
from kb_service.vectorstores._embedded_plans import Thresholds, nearest, nearest_many
from kb_service.vectorstores.base import Chunk, Filter, Hits, RankedHit, SearchPlan, SearchQuery
from kb_service.vectorstores.shared import fuse, legs_of


def mask_of(index: VectorIndex, where: Filter | None) -> BoolArray:
    """The rows that are alive and match `where`."""
    alive = index.alive_mask()
    return alive.copy() if where is None else evaluate(where, index) & alive


def clamp(cosine: float) -> float:
    return min(1.0, max(-1.0, float(cosine)))


def search_index(
    conn: sqlite3.Connection,
    index: VectorIndex,
    dimension: int,
    query: SearchQuery,
    fetch: Callable[[list[int]], dict[int, Chunk]],
    thresholds: Thresholds,
) -> Hits[RankedHit]:
    """A keyword or hybrid query's hits from an up-to-date index, inside the caller's read snapshot,
    with the plan of the vector leg (see `_embedded_plans`; keyword search is exact too). Vector
    queries go through `search_many`, which shares one scan among the queries of one read."""
    assert query.mode != "vector", "vector queries are answered by search_many"
    vector = None if query.vector is None else unit_rows([query.vector], dimension, "the query vector")[0]
    mask = mask_of(index, query.where)
    depth = query.k if query.mode != "hybrid" else query.depth
    vector_leg: list[tuple[int, float]] = []  # (row, cosine), best first
    plan = SearchPlan("keyword-only", True)
    if query.mode != "keyword":
        assert vector is not None
        rows, scores, plan = nearest(index, vector, depth, mask, thresholds)
        if query.min_similarity is not None:
            passing = scores >= query.min_similarity
            rows, scores = rows[passing], scores[passing]
        vector_leg = list(zip(rows.tolist(), scores.tolist(), strict=True))
    assert query.text is not None
    keyword_leg = _keyword_leg(conn, index, query, vector, mask, depth)  # (row, BM25), best first
    cosines = dict(vector_leg)
    if vector is not None:
        missing = np.asarray([row for row, _ in keyword_leg if row not in cosines], dtype=np.int64)
        cosines.update(zip(missing.tolist(), index.cosines(vector, missing).tolist(), strict=True))
    seq_of = {row: int(index.seq[row]) for row, _ in (*vector_leg, *keyword_leg)}
    chunks = fetch(list(seq_of.values()))

    def similarity(row: int) -> float | None:
        return clamp(cosines[row]) if vector is not None else None

    if query.mode == "keyword":
        return Hits(
            (
                RankedHit(chunks[seq_of[row]], score, similarity(row), frozenset({"keyword"}), None, rank)
                for rank, (row, score) in enumerate(keyword_leg, 1)
            ),
            plan,
        )
    row_of = {chunks[seq].chunk_id: row for row, seq in seq_of.items()}
    fused = fuse(
        query,
        [chunks[seq_of[row]].chunk_id for row, _ in vector_leg],
        [chunks[seq_of[row]].chunk_id for row, _ in keyword_leg],
    )
    return Hits(
        (
            RankedHit(
                chunks[seq_of[row_of[chunk_id]]],
                score,
                similarity(row_of[chunk_id]),
                legs_of(vector_rank, keyword_rank),
                vector_rank,
                keyword_rank,
            )
            for chunk_id, score, vector_rank, keyword_rank in fused[: query.k]
        ),
        plan,
    )


def search_many(
    conn: sqlite3.Connection,
    index: VectorIndex,
    dimension: int,
    queries: Sequence[SearchQuery],
    fetch: Callable[[list[int]], dict[int, Chunk]],
    thresholds: Thresholds,
) -> list[Hits[RankedHit] | Exception]:
    """The hits of each vector-mode query (as `search_index` gives them) from one read: the
    queries with the same filter share one scan (`nearest_many`) and one fetch of their chunks.
    A query whose vector is unusable gets its error; the others are answered."""
    results: list[Hits[RankedHit] | Exception] = [Hits() for _ in queries]
    groups: list[tuple[Filter | None, list[int], list[FloatArray]]] = []
    for i, query in enumerate(queries):
        assert query.mode == "vector" and query.vector is not None
        try:
            vector = unit_rows([query.vector], dimension, "the query vector")[0]
        except Exception as error:  # this query's own error (its caller raises it), not the batch's
            results[i] = error
            continue
        group = next((g for g in groups if g[0] == query.where), None)
        if group is None:
            groups.append((query.where, [i], [vector]))
        else:
            group[1].append(i)
            group[2].append(vector)
    for where, members, vectors in groups:
        depth = max(queries[i].k for i in members)
        found = nearest_many(index, np.stack(vectors), depth, mask_of(index, where), thresholds)
        legs: list[tuple[int, list[tuple[int, float]], SearchPlan]] = []
        for i, (rows, scores, plan) in zip(members, found, strict=True):
            # The first k of the top `depth` (best first, ties by seq) are this query's top k.
            rows, scores = rows[: queries[i].k], scores[: queries[i].k]
            cut = queries[i].min_similarity
            if cut is not None:
                rows, scores = rows[scores >= cut], scores[scores >= cut]
            legs.append((i, list(zip(rows.tolist(), scores.tolist(), strict=True)), plan))
        seq_of = {row: int(index.seq[row]) for _, leg, _ in legs for row, _ in leg}
        chunks = fetch(list(seq_of.values()))
        for i, leg, plan in legs:
            results[i] = _vector_hits(leg, seq_of, chunks, plan)
    return results


def _vector_hits(
    leg: list[tuple[int, float]], seq_of: dict[int, int], chunks: dict[int, Chunk], plan: SearchPlan
) -> Hits[RankedHit]:
    return Hits(
        (
            RankedHit(chunks[seq_of[row]], clamp(score), clamp(score), frozenset({"vector"}), rank)
            for rank, (row, score) in enumerate(leg, 1)
        ),
        plan,
    )


def _keyword_leg(
    conn: sqlite3.Connection,
    index: VectorIndex,
    query: SearchQuery,
    vector: FloatArray | None,
    mask: BoolArray,
    depth: int,
) -> list[tuple[int, float]]:
    """The `depth` best rows by BM25 among the filtered rows containing a query term (and
    above the cosine threshold); equal scores ordered by chunk id."""
    assert query.text is not None
    expression = _keyword.match_expression(query.text)
    if expression is None:
        return []
    seqs, scores = db.keyword_matches(conn, expression)
    rows = index.rows_of(seqs)
    keep = rows >= 0
    keep[keep] = mask[rows[keep]]
    rows, scores = rows[keep], scores[keep]
    if query.min_similarity is not None and vector is not None:
        passing = index.cosines(vector, rows) >= query.min_similarity
        rows, scores = rows[passing], scores[passing]
    if rows.size > depth:
        # Keep the top `depth` and everything tied with the last of them, then break ties by id.
        cut = np.partition(scores, scores.size - depth)[scores.size - depth]
        chosen = scores >= cut
        rows, scores = rows[chosen], scores[chosen]
    ids = db.fetch_chunk_ids(conn, index.seq[rows].tolist())
    order = sorted(range(rows.size), key=lambda i: (-scores[i], ids[int(index.seq[rows[i]])]))[:depth]
    return [(int(rows[i]), float(scores[i])) for i in order]


def page_of(
    conn: sqlite3.Connection,
    index: VectorIndex,
    rows: IntArray,
    starts: IntArray,
    offset: int,
    limit: int,
    fetch: Callable[[list[int]], dict[int, Chunk]],
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
        ids = db.fetch_chunk_ids(conn, window)
        window = sorted(window, key=lambda seq: (run_of[seq], ids[seq]))[offset - first : end - first]
    chunks = fetch(window)
    return [chunks[seq] for seq in sorted(chunks, key=lambda seq: (run_of[seq], chunks[seq].chunk_id))]
