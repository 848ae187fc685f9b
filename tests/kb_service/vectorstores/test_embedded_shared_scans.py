"""Vector searches of one KB that arrive together share one read and, filter by filter, one scan
(`EmbeddedVectorStore._search_many`, `nearest_many`): each gets exactly what it gets alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from kb_service.vectorstores._embedded_plans import PLAN_KINDS, PlanKind, Thresholds
from kb_service.vectorstores.base import (
    And,
    ChunkWrite,
    DimensionMismatchError,
    Eq,
    Filter,
    Hits,
    In,
    RankedHit,
    SearchQuery,
)
from kb_service.vectorstores.embedded import EmbeddedVectorStore

from .contract import make_chunk

DIMENSION = 16
KB = "kb-shared-scans"


def _unit(rng: np.random.Generator, count: int) -> list[npt.NDArray[np.float32]]:
    vectors = rng.standard_normal((count, DIMENSION))
    return list((vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32))


@pytest.fixture(params=PLAN_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmbeddedVectorStore]:
    kind: PlanKind = request.param
    store = EmbeddedVectorStore(tmp_path / "vectors", thresholds=Thresholds.forcing(kind, step_rows=64))
    store.create_index(KB, DIMENSION)
    rng = np.random.default_rng(3)
    writes = [
        ChunkWrite(
            make_chunk(
                f"c{i:04d}",
                collection="a" if i % 3 else "b",
                source_id=f"s{i // 20}",
                metadata={"tier": "gold"} if i % 7 == 0 else {},
            ),
            vector,
        )
        for i, vector in enumerate(_unit(rng, 600))
    ]
    store.write(KB, writes)
    yield store
    store.close()


def _queries() -> list[SearchQuery]:
    rng = np.random.default_rng(5)
    vectors = _unit(rng, 9)
    filters: list[Filter | None] = [
        None,
        Eq("collection", "a"),
        And((Eq("collection", "a"), Eq("metadata.tier", "gold"))),
    ]
    filters += [In("source_id", ("s1", "s2", "s29")), None, Eq("collection", "a")]
    queries = [
        SearchQuery(k=k, vector=vector, where=where, min_similarity=cut)
        for vector, where, k, cut in zip(
            vectors,
            (filters * 2)[:9],
            [3, 10, 25, 5, 10, 1, 40, 10, 7],
            [None, None, None, 0.3, None, None, None, 0.1, None],
            strict=True,
        )
    ]
    return [
        *queries[:4],
        SearchQuery(k=5, vector=np.ones(2, dtype=np.float32)),
        *queries[4:],
    ]  # a wrong dimension among them


def _seen(hits: Hits[RankedHit]) -> list[tuple[str, float]]:
    return [(hit.chunk.chunk_id, round(hit.score, 5)) for hit in hits]


def test_searches_that_share_a_scan_get_what_each_gets_alone(store: EmbeddedVectorStore) -> None:
    queries = _queries()
    together = store._search_many(KB, queries)

    for query, shared in zip(queries, together, strict=True):
        if query.vector is not None and len(query.vector) != DIMENSION:
            assert isinstance(shared, DimensionMismatchError)
            with pytest.raises(DimensionMismatchError):
                store.search_chunks(KB, query)
            continue
        assert isinstance(shared, Hits)
        alone = store.search_chunks(KB, query)
        assert _seen(shared) == _seen(alone)
        assert shared.plan == alone.plan
        assert len(shared) == query.k or query.min_similarity is not None or query.where is not None


def test_concurrent_searches_through_the_store_get_their_own_answers(store: EmbeddedVectorStore) -> None:
    queries = [q for q in _queries() if q.vector is not None and len(q.vector) == DIMENSION] * 4
    alone = [_seen(store.search_chunks(KB, query)) for query in queries]
    answers: dict[int, list[tuple[str, float]]] = {}
    start = threading.Barrier(len(queries))

    def search(i: int) -> None:
        start.wait()
        answers[i] = _seen(store.search_chunks(KB, queries[i]))

    threads = [threading.Thread(target=search, args=(i,)) for i in range(len(queries))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert [answers[i] for i in range(len(queries))] == alone
