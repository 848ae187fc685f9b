"""The embedded store's snapshots, scan plans, int8 copy and memory budget.

Every answer is compared with a brute-force numpy top-k over the vectors written, so a plan, a
snapshot or a rebuild that returned anything else would fail; each store object on the same folder
is a restart (its own connection and index, as in another process).
"""

from __future__ import annotations

import multiprocessing
import os
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from structlog.testing import capture_logs

from kb_service.vectorstores import _embedded_snapshot, _embedded_sqlite
from kb_service.vectorstores._embedded_plans import PLAN_KINDS, PlanKind, Thresholds
from kb_service.vectorstores.base import And, Chunk, ChunkWrite, Eq, Filter, Not
from kb_service.vectorstores.embedded import EmbeddedVectorStore

DIM = 16
DOCS, DOC_CHUNKS = 60, 40
KB = "kb-snap"
Floats = npt.NDArray[np.float32]
FILTERS: dict[str, Filter | None] = {
    "all": None,
    "collection": Eq("collection", "c1"),
    "collection+metadata": And((Eq("collection", "c1"), Eq("metadata.tier", "gold"))),
    "scattered": Eq("metadata.tier", "gold"),
    "not": Not(Eq("collection", "c2")),
    "document": Eq("document_id", "doc-007"),
}


class Corpus:
    """What was written, to answer every query by brute force."""

    def __init__(self) -> None:
        self.vectors: dict[str, Floats] = {}
        self.chunks: dict[str, Chunk] = {}
        self.rng = np.random.default_rng(7)
        self.centres = self.rng.standard_normal((8, DIM)).astype(np.float32)

    def documents(self, docs: range, *, collections: int = 4) -> list[ChunkWrite]:
        writes = []
        for doc in docs:
            centre = self.centres[doc % 8] + 0.5 * self.rng.standard_normal(DIM).astype(np.float32)
            for position in range(DOC_CHUNKS):
                chunk = Chunk(
                    chunk_id=f"doc-{doc:03d}-{position:02d}",
                    collection=f"c{doc % collections}",
                    text=f"chunk {position} of document {doc}",
                    source_id=f"doc-{doc:03d}",
                    document_id=f"doc-{doc:03d}",
                    position=position,
                    metadata={"tier": "gold" if doc % 5 == 0 else "plain"},
                )
                vector = (centre + 0.4 * self.rng.standard_normal(DIM)).astype(np.float32)
                writes.append(ChunkWrite(chunk, vector))
        for write in writes:
            self.chunks[write.chunk.chunk_id] = write.chunk
            self.vectors[write.chunk.chunk_id] = write.vector
        return writes

    def forget(self, document_id: str) -> None:
        for chunk_id in [c for c, chunk in self.chunks.items() if chunk.document_id == document_id]:
            del self.chunks[chunk_id], self.vectors[chunk_id]

    def queries(self, count: int) -> list[Floats]:
        return [
            (self.centres[i % 8] + 0.3 * self.rng.standard_normal(DIM)).astype(np.float32)
            for i in range(count)
        ]

    def top(self, query: Floats, k: int, where: Filter | None) -> list[str]:
        ids = [chunk_id for chunk_id, chunk in self.chunks.items() if _matches(chunk, where)]
        matrix = np.array([self.vectors[i] for i in ids], dtype=np.float64)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        scores = matrix @ (query.astype(np.float64) / np.linalg.norm(query))
        return [ids[i] for i in np.argsort(-scores, kind="stable")[:k]]


def _matches(chunk: Chunk, where: Filter | None) -> bool:
    match where:
        case None:
            return True
        case And(items):
            return all(_matches(chunk, item) for item in items)
        case Not(item):
            return not _matches(chunk, item)
        case Eq(field="collection", value=value):
            return chunk.collection == value
        case Eq(field="document_id", value=value):
            return chunk.document_id == value
        case Eq(field="metadata.tier", value=value):
            return chunk.metadata.get("tier") == value
    raise AssertionError(f"no brute force for {where}")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "vectors"


@pytest.fixture
def corpus() -> Corpus:
    return Corpus()


def store_at(root: Path, **options: Any) -> EmbeddedVectorStore:
    options.setdefault("snapshot_min_rows", 0)
    return EmbeddedVectorStore(root, **options)


def built(root: Path, corpus: Corpus, **options: Any) -> None:
    """Write the corpus in interleaved batches, search once (which writes the snapshot), close."""
    store = store_at(root, **options)
    store.create_index(KB, DIM)
    for start in range(0, DOCS, 20):
        store.write(KB, corpus.documents(range(start, start + 20)))
    store.search(KB, corpus.queries(1)[0], k=1)
    store.close()


def answers(store: EmbeddedVectorStore, queries: list[Floats], k: int = 10) -> dict[str, list[list[str]]]:
    return {
        name: [[hit.chunk.chunk_id for hit in store.search(KB, q, k=k, where=where)] for q in queries]
        for name, where in FILTERS.items()
    }


def expected(corpus: Corpus, queries: list[Floats], k: int = 10) -> dict[str, list[list[str]]]:
    return {name: [corpus.top(q, k, where) for q in queries] for name, where in FILTERS.items()}


@pytest.mark.parametrize("int8", [False, True], ids=["float32", "int8"])
@pytest.mark.parametrize("kind", PLAN_KINDS)
def test_every_plan_answers_like_brute_force_over_snapshot_and_newer_rows(
    root: Path, corpus: Corpus, kind: PlanKind, int8: bool
) -> None:
    built(root, corpus, int8=int8)
    store = store_at(
        root, int8=int8, snapshot_min_rows=10**9, thresholds=Thresholds.forcing(kind, step_rows=64)
    )
    try:
        # Rows newer than the snapshot and a deletion of rows inside it: both are caught up.
        store.write(KB, corpus.documents(range(DOCS, DOCS + 6), collections=3))
        store.delete(KB, Eq("document_id", "doc-005"))
        corpus.forget("doc-005")
        queries = corpus.queries(6)
        assert answers(store, queries) == expected(corpus, queries)
        plan = store.search(KB, queries[0], k=10, where=FILTERS["collection"]).plan
        assert plan is not None
        assert (plan.kind, plan.exact, plan.quantized) == (kind, True, int8)
        if int8:
            assert plan.rescored is not None and plan.scanned is not None
            assert 10 <= plan.rescored < plan.scanned
    finally:
        store.close()


def test_default_thresholds_choose_the_plan_by_selectivity(root: Path, corpus: Corpus) -> None:
    built(root, corpus)
    store = store_at(root, thresholds=Thresholds(candidate_rows=100, step_rows=64))
    query = corpus.queries(1)[0]

    def plan_of(where: Filter | None) -> str | None:
        plan = store.search(KB, query, k=5, where=where).plan
        return None if plan is None else plan.kind

    try:
        # The snapshot keeps each collection contiguous, so its filter scans one slice.
        assert plan_of(FILTERS["collection"]) == "slice-scan"
        assert plan_of(None) == "slice-scan"
        # Every fifth document of the collection's slice: sparse, so the slice is walked by bitmap.
        assert plan_of(FILTERS["collection+metadata"]) == "bitmap-gather"
        assert plan_of(FILTERS["scattered"]) == "bitmap-gather"
        assert plan_of(FILTERS["document"]) == "candidate-list"
    finally:
        store.close()


def test_a_restart_maps_the_snapshot_instead_of_rebuilding(root: Path, corpus: Corpus) -> None:
    built(root, corpus)
    queries = corpus.queries(4)
    with capture_logs() as logs:
        store = store_at(root)
        try:
            assert answers(store, queries) == expected(corpus, queries)
        finally:
            store.close()
    loaded = [entry for entry in logs if entry["event"] == "vectorstore.embedded.index_loaded"]
    assert [entry["snapshot"] for entry in loaded] == [True]
    assert not [entry for entry in logs if entry["event"] == "vectorstore.embedded.snapshot_written"]


def _section(path: Path, name: str) -> int:
    """The offset of a section of the snapshot at `path`, read from its trailer."""
    import json
    import struct

    with open(path, "rb") as handle:
        _, offset, length, _ = struct.unpack("<8sQQI", handle.read(28))
        handle.seek(offset)
        trailer = json.loads(handle.read(length))
    return int(trailer["sections"][name]["offset"])


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x40]))


DAMAGE = ("truncated", "empty", "vector byte", "seq byte", "trailer byte", "q8 byte")


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_torn_or_corrupt_snapshot_is_detected_and_rebuilt(root: Path, corpus: Corpus, damage: str) -> None:
    built(root, corpus, int8=True)
    path = _embedded_snapshot.path_of(root, KB)
    size = path.stat().st_size
    match damage:
        case "truncated":
            os.truncate(path, size // 2)
        case "empty":
            os.truncate(path, 0)
        case "vector byte":
            _flip(path, _section(path, "vectors") + DIM * 4 * 1234 + 3)
        case "q8 byte":
            _flip(path, _section(path, "q8") + DIM * 77 + 5)
        case "seq byte":
            _flip(path, _section(path, "seq") + 8 * 10)
        case "trailer byte":
            _flip(path, size - 20)
    queries = corpus.queries(4)
    with capture_logs() as logs:
        store = store_at(root, int8=True)
        try:
            assert answers(store, queries) == expected(corpus, queries)
        finally:
            store.close()
    events = [entry["event"] for entry in logs]
    assert "vectorstore.embedded.snapshot_rejected" in events
    assert "vectorstore.embedded.snapshot_written" in events  # rebuilt from SQLite, then written anew
    with capture_logs() as logs:
        store = store_at(root, int8=True)
        try:
            assert answers(store, queries) == expected(corpus, queries)
        finally:
            store.close()
    assert "vectorstore.embedded.snapshot_rejected" not in [entry["event"] for entry in logs]


def test_an_older_snapshot_is_caught_up_and_one_of_another_generation_rejected(
    root: Path, corpus: Corpus
) -> None:
    built(root, corpus)
    path = _embedded_snapshot.path_of(root, KB)
    old = path.read_bytes()
    writer = store_at(root, snapshot_min_rows=10**9)  # writes, never snapshots
    writer.write(KB, corpus.documents(range(DOCS, DOCS + 3)))
    writer.delete(KB, Eq("document_id", "doc-010"))
    corpus.forget("doc-010")
    writer.close()
    queries = corpus.queries(4)
    with capture_logs() as logs:
        store = store_at(root, snapshot_min_rows=10**9)
        assert answers(store, queries) == expected(corpus, queries)
        store.close()
    assert [e["snapshot"] for e in logs if e["event"] == "vectorstore.embedded.index_loaded"] == [True]

    # Dropped and re-created under the same id: the old snapshot must not come back to life.
    store = store_at(root)
    store.drop_index(KB)
    assert not path.exists()
    fresh = Corpus()
    store.create_index(KB, DIM)
    store.write(KB, fresh.documents(range(0, 10)))
    store.close()
    path.write_bytes(old)
    with capture_logs() as logs:
        store = store_at(root)
        assert answers(store, queries) == expected(fresh, queries)
        store.close()
    reasons = [e["reason"] for e in logs if e["event"] == "vectorstore.embedded.snapshot_rejected"]
    assert reasons == ["written for another index (generation or dimension)"]


def _write_and_die(root: str, corpus: Corpus) -> None:
    """In a child: add rows, then get killed halfway through writing the snapshot."""
    real_put = _embedded_snapshot._put
    calls = 0

    def put_then_die(fd: int, offset: int, array: Any, crc: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 6:
            os._exit(9)  # like SIGKILL: no cleanup, no rename
        return real_put(fd, offset, array, crc)

    _embedded_snapshot._put = put_then_die
    store = store_at(Path(root))
    store.write(KB, corpus.documents(range(DOCS, DOCS + 30)))
    store.search(KB, corpus.queries(1)[0], k=1)  # due: writes the snapshot, and dies
    os._exit(0)


def test_a_kill_during_a_snapshot_write_never_serves_wrong_vectors(root: Path, corpus: Corpus) -> None:
    built(root, corpus)
    before = _embedded_snapshot.path_of(root, KB).read_bytes()
    child = multiprocessing.get_context("fork").Process(target=_write_and_die, args=(str(root), corpus))
    child.start()
    child.join(60)
    assert child.exitcode == 9
    corpus.documents(range(DOCS, DOCS + 30))  # what the child committed before dying
    assert _embedded_snapshot.path_of(root, KB).read_bytes() == before  # the old one, untouched
    assert list(root.glob(f".{KB}.snapshot.*.tmp"))  # the half-written file never got the name
    queries = corpus.queries(4)
    store = store_at(root)
    try:
        assert answers(store, queries) == expected(corpus, queries)
    finally:
        store.close()


def test_a_snapshot_ahead_of_its_sqlite_file_is_refused(root: Path, corpus: Corpus) -> None:
    built(root, corpus)
    path = _embedded_snapshot.path_of(root, KB)
    conn = _embedded_sqlite.connect(root / f"{KB}.sqlite3", create=False, busy_timeout_s=5)
    generation = _embedded_sqlite.read_meta(conn)[_embedded_sqlite.GENERATION]
    last_seq, last_tombstone = _embedded_sqlite.high_water(conn)
    blobs = partial(_embedded_sqlite.fetch_vector_blobs, conn)
    try:
        now = _embedded_snapshot.Horizon(generation, DIM, last_seq, last_tombstone, tombstone_floor=0)
        assert _embedded_snapshot.load(path, now, blobs).size == DOCS * DOC_CHUNKS
        # As if the SQLite file were restored from a copy older than the snapshot.
        older = _embedded_snapshot.Horizon(generation, DIM, last_seq - 1, last_tombstone, tombstone_floor=0)
        with pytest.raises(_embedded_snapshot.SnapshotInvalid, match="ahead of the SQLite file"):
            _embedded_snapshot.load(path, older, blobs)
    finally:
        conn.close()


def _kb_bytes(root: Path, corpus: Corpus) -> int:
    store = store_at(root)
    store.search(KB, corpus.queries(1)[0], k=1)
    held = store._kbs[KB].nbytes
    store.close()
    return held


@pytest.fixture
def two_kbs(root: Path, corpus: Corpus) -> tuple[str, str]:
    built(root, corpus)
    store = store_at(root)
    store.create_index("kb-other", DIM)
    store.write("kb-other", corpus.documents(range(DOCS, DOCS + 60)))
    store.close()
    return KB, "kb-other"


def test_idle_kbs_are_evicted_beyond_the_memory_budget(
    root: Path, corpus: Corpus, two_kbs: tuple[str, str]
) -> None:
    first, second = two_kbs
    budget = int(1.5 * _kb_bytes(root, corpus))
    store = store_at(root, memory_budget_bytes=budget)
    query = corpus.queries(1)[0]
    try:
        answer = [hit.chunk.chunk_id for hit in store.search(first, query, k=5)]
        store.write(first, corpus.documents(range(200, 201)))  # the evicted KB's snapshot is behind
        answer = [hit.chunk.chunk_id for hit in store.search(first, query, k=5)]
        with capture_logs() as logs:
            store.search(second, query, k=5)
        assert set(store._kbs) == {second}
        events = [(entry["event"], entry.get("kb_id")) for entry in logs]
        assert ("vectorstore.embedded.evicted", first) in events
        assert events.index(("vectorstore.embedded.snapshot_written", first)) < events.index(
            ("vectorstore.embedded.evicted", first)
        )
        with capture_logs() as logs:
            assert [hit.chunk.chunk_id for hit in store.search(first, query, k=5)] == answer
        assert set(store._kbs) == {first}
        assert [e["snapshot"] for e in logs if e["event"] == "vectorstore.embedded.index_loaded"] == [True]
    finally:
        store.close()


def test_kbs_within_the_budget_stay_open(root: Path, corpus: Corpus, two_kbs: tuple[str, str]) -> None:
    store = store_at(root, memory_budget_bytes=10 * _kb_bytes(root, corpus))
    try:
        for kb_id in two_kbs:
            store.search(kb_id, corpus.queries(1)[0], k=5)
        assert set(store._kbs) == set(two_kbs)
    finally:
        store.close()


def test_a_searching_process_compacts_by_writing_the_snapshot(root: Path, corpus: Corpus) -> None:
    built(root, corpus)
    store = store_at(root)
    other = store_at(root, snapshot_min_rows=10**9)
    queries = corpus.queries(3)
    try:
        assert answers(store, queries) == expected(corpus, queries)
        for doc in range(0, DOCS, 2):  # half the rows die, deleted by another process
            other.delete(KB, Eq("document_id", f"doc-{doc:03d}"))
            corpus.forget(f"doc-{doc:03d}")
        with capture_logs() as logs:
            assert answers(store, queries) == expected(corpus, queries)
        events = [entry["event"] for entry in logs]
        assert "vectorstore.embedded.snapshot_written" in events
        assert "vectorstore.embedded.index_compacted" not in events
        index = store._kbs[KB].index
        assert index is not None and index.size == len(corpus.chunks) and index.dead == 0
    finally:
        store.close()
        other.close()
