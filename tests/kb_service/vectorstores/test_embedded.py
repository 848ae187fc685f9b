"""The embedded store: the shared contract, plus what only a store living in local files can show.

A second `EmbeddedVectorStore` on the same folder has its own SQLite connection and in-memory index,
exactly like a store in another process; one test uses a real second process as well.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from kb_service.vectorstores import _embedded_sqlite
from kb_service.vectorstores._embedded_plans import Thresholds
from kb_service.vectorstores.base import (
    ChunkWrite,
    DimensionMismatchError,
    Eq,
    In,
    IndexNotFoundError,
    SearchQuery,
    VectorStore,
    VectorStoreError,
)
from kb_service.vectorstores.embedded import EmbeddedVectorStore

from .contract import QUERY, TICKETS, VectorStoreContract, at, hit_ids, make_chunk

DIM = 8


class TestEmbeddedStoreContract(VectorStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[VectorStore]:
        store = EmbeddedVectorStore(tmp_path / "vectors")
        yield store
        store.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "vectors"


@pytest.fixture
def first(root: Path) -> Iterator[EmbeddedVectorStore]:
    store = EmbeddedVectorStore(root)
    yield store
    store.close()


@pytest.fixture
def second(root: Path) -> Iterator[EmbeddedVectorStore]:
    store = EmbeddedVectorStore(root)
    yield store
    store.close()


@pytest.fixture
def kb(first: EmbeddedVectorStore) -> str:
    first.create_index("kb-1", DIM)
    return "kb-1"


def object_chunks(obj: str, generation: int, count: int) -> list[ChunkWrite]:
    return [
        at(
            make_chunk(
                f"{obj}-{generation}-{i}",
                text=f"generation {generation}",
                mx_object_id=obj,
                position=i,
                metadata={"generation": str(generation)},
            ),
            5 + (i * 7 + generation) % 80,
        )
        for i in range(count)
    ]


def replace_object(store: EmbeddedVectorStore, kb: str, obj: str, generation: int, count: int) -> None:
    store.write(kb, object_chunks(obj, generation, count), delete_where=Eq("mx_object_id", obj))


def test_a_new_store_object_sees_everything_after_a_restart(
    root: Path, first: EmbeddedVectorStore, kb: str
) -> None:
    first.write(kb, [at(chunk, degrees) for chunk, degrees in TICKETS])
    first.delete(kb, Eq("source_id", "s4"))
    before = (first.search(kb, QUERY, k=10), first.list_chunks(kb))
    first.close()

    restarted = EmbeddedVectorStore(root)
    try:
        assert (restarted.search(kb, QUERY, k=10), restarted.list_chunks(kb)) == before
        assert restarted.count(kb) == 5
        with pytest.raises(DimensionMismatchError):
            restarted.create_index(kb, DIM + 1)
    finally:
        restarted.close()


def test_another_store_object_sees_committed_writes_overwrites_and_deletes(
    first: EmbeddedVectorStore, second: EmbeddedVectorStore, kb: str
) -> None:
    first.write(kb, [at(make_chunk("a"), 10), at(make_chunk("b"), 20)])
    assert hit_ids(second.search(kb, QUERY, k=10)) == ["a", "b"]

    first.write(kb, [at(make_chunk("c"), 5), at(make_chunk("a", text="moved"), 30)])
    hits = second.search(kb, QUERY, k=10)
    assert hit_ids(hits) == ["c", "b", "a"]
    assert hits[2].chunk.text == "moved"
    assert second.count(kb) == 3

    first.delete(kb, In("collection", ("default",)))
    assert second.search(kb, QUERY, k=10) == []
    assert second.list_chunks(kb).total == 0


def test_delete_where_of_a_writer_covers_rows_committed_since_it_last_looked(
    first: EmbeddedVectorStore, second: EmbeddedVectorStore, kb: str
) -> None:
    replace_object(second, kb, "o1", generation=1, count=3)  # second loads its filter columns now
    first.write(kb, object_chunks("o1", generation=2, count=4))

    replace_object(second, kb, "o1", generation=3, count=2)

    assert {chunk.text for chunk in first.list_chunks(kb).items} == {"generation 3"}
    assert first.count(kb) == 2


def test_a_writer_that_never_searched_can_search_later(
    first: EmbeddedVectorStore, second: EmbeddedVectorStore, kb: str
) -> None:
    first.write(kb, [at(chunk, degrees) for chunk, degrees in TICKETS])
    second.delete(kb, Eq("collection", "manuals"))  # builds second's index without vectors
    first.write(kb, [at(make_chunk("late"), 1)])

    assert hit_ids(second.search(kb, QUERY, k=10)) == ["late", "t1", "t2", "t3"]


def test_compaction_keeps_search_listing_and_counts_correct(
    first: EmbeddedVectorStore, second: EmbeddedVectorStore, kb: str
) -> None:
    # Angles grow with i, so the nearest survivors are the ones with the lowest i.
    first.write(
        kb, [at(make_chunk(f"c{i:04d}", source_id=f"s{i % 3}", position=i), i * 0.07) for i in range(1200)]
    )
    assert first.count(kb) == 1200
    # Deletions arrive both from this store and, as tombstones, from another one.
    first.delete(kb, Eq("source_id", "s0"))
    second.delete(kb, Eq("source_id", "s1"))

    with capture_logs() as logs:
        hits = first.search(kb, QUERY, k=5)
        page = first.list_chunks(kb, offset=10, limit=3)

    assert "vectorstore.embedded.index_compacted" in {entry["event"] for entry in logs}
    survivors = [f"c{i:04d}" for i in range(1200) if i % 3 == 2]
    assert hit_ids(hits) == survivors[:5]
    assert [chunk.chunk_id for chunk in page.items] == survivors[10:13]
    assert page.total == len(survivors)
    assert first.count_by(kb, "source_id") == {"s2": len(survivors)}
    first.write(kb, [at(make_chunk("after-compaction", source_id="s9"), 0)])
    second.delete(kb, Eq("source_id", "s2"))
    assert hit_ids(first.search(kb, QUERY, k=5)) == ["after-compaction"]
    assert first.count_by(kb, "source_id") == {"s9": 1}


def test_a_reader_behind_the_pruned_tombstones_reloads(
    first: EmbeddedVectorStore, second: EmbeddedVectorStore, kb: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_embedded_sqlite, "TOMBSTONES_KEPT", 2)
    first.write(kb, object_chunks("o1", generation=0, count=3))
    assert second.count(kb) == 3

    for generation in range(1, 6):
        replace_object(first, kb, "o1", generation, count=3)

    assert {chunk.text for chunk in second.list_chunks(kb).items} == {"generation 5"}
    assert len(second.search(kb, QUERY, k=10)) == 3


def test_a_drop_by_another_store_object_is_noticed(
    first: EmbeddedVectorStore, second: EmbeddedVectorStore, kb: str
) -> None:
    first.write(kb, [at(make_chunk("a"), 10)])
    assert second.count(kb) == 1

    first.drop_index(kb)

    assert second.search(kb, QUERY, k=5) == []
    with pytest.raises(IndexNotFoundError):
        second.write(kb, [at(make_chunk("b"), 10)])
    first.create_index(kb, DIM * 2)
    with pytest.raises(DimensionMismatchError):
        second.write(kb, [at(make_chunk("b"), 10)])
    assert second.count(kb) == 0


def test_searches_during_replacements_see_one_whole_generation(
    first: EmbeddedVectorStore, second: EmbeddedVectorStore, kb: str
) -> None:
    replace_object(first, kb, "o1", generation=0, count=6)
    first.write(kb, object_chunks("o2", generation=0, count=50))
    errors: list[BaseException] = []
    seen: list[tuple[int, frozenset[str]]] = []
    done = threading.Event()

    def searcher() -> None:
        try:
            while not done.is_set():
                hits = first.search(kb, QUERY, k=20, where=Eq("mx_object_id", "o1"))
                seen.append((len(hits), frozenset(hit.chunk.text for hit in hits)))
        except BaseException as error:  # reported below; a thread must not die silently
            errors.append(error)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for generation in range(1, 30):
            # Writes from this process's store and from "another process" alternate.
            replace_object(second if generation % 2 else first, kb, "o1", generation, count=6)
    finally:
        done.set()
        for thread in threads:
            thread.join()

    assert errors == []
    assert seen
    assert all(count == 6 and len(texts) == 1 for count, texts in seen)
    assert {chunk.text for chunk in first.list_chunks(kb, where=Eq("mx_object_id", "o1")).items} == {
        "generation 29"
    }


def _write_in_another_process(root: str) -> None:
    store = EmbeddedVectorStore(Path(root))
    try:
        store.write("kb-1", [at(make_chunk("from-child"), 1)], delete_where=Eq("collection", "default"))
    finally:
        store.close()


def test_writes_of_another_process_are_seen(root: Path, first: EmbeddedVectorStore, kb: str) -> None:
    first.write(kb, [at(make_chunk("old"), 10), at(make_chunk("kept", collection="other"), 20)])
    assert first.count(kb) == 2

    child = multiprocessing.get_context("spawn").Process(target=_write_in_another_process, args=(str(root),))
    child.start()
    child.join(timeout=120)

    assert child.exitcode == 0
    assert hit_ids(first.search(kb, QUERY, k=10)) == ["from-child", "kept"]


@pytest.mark.parametrize("kb_id", ["../escape", "a/b", "", "x" * 200, "dot.ted"])
def test_an_unsafe_kb_id_is_rejected(first: EmbeddedVectorStore, kb_id: str) -> None:
    with pytest.raises(VectorStoreError):
        first.create_index(kb_id, DIM)


def test_ping_fails_when_the_folder_is_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    with pytest.raises(VectorStoreError):
        EmbeddedVectorStore(blocker / "vectors").ping()


def test_a_store_from_before_the_keyword_index_gets_it_built_on_open(
    root: Path, first: EmbeddedVectorStore, kb: str
) -> None:
    first.write(kb, [at(chunk, degrees) for chunk, degrees in TICKETS])
    first.write(kb, [at(make_chunk("x", text="Größe検索 unique"), 5)])
    first.close()
    # Turn the file into a schema-1 store: no FTS table, no keyword_index marker.
    conn = sqlite3.connect(root / f"{kb}.sqlite3")
    conn.execute("DROP TABLE chunks_fts")
    conn.execute("DELETE FROM meta WHERE key = 'keyword_index'")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()

    for _ in range(2):  # idempotent: the second open finds it built
        store = EmbeddedVectorStore(root)
        try:
            with capture_logs() as logs:
                hits = store.search_chunks(kb, SearchQuery(k=10, text="unique 検索", mode="keyword"))
            assert [hit.chunk.chunk_id for hit in hits] == ["x"]
            assert len(store.search_chunks(kb, SearchQuery(k=10, text="text", mode="keyword"))) == len(
                TICKETS
            )
        finally:
            store.close()
        built = [log for log in logs if log["event"] == "vectorstore.embedded.keyword_index_built"]
        assert len(built) == (1 if _ == 0 else 0)
    meta = dict(sqlite3.connect(root / f"{kb}.sqlite3").execute("SELECT key, value FROM meta").fetchall())
    assert meta["schema_version"] == "2"
    assert meta["keyword_index"] == "1"


def test_keyword_search_stems_english_and_folds_accents(first: EmbeddedVectorStore, kb: str) -> None:
    first.write(
        kb,
        [at(make_chunk("a", text="Indexing the tickets"), 10), at(make_chunk("b", text="Un résumé"), 20)],
    )

    def find(text: str) -> list[str]:
        return [
            hit.chunk.chunk_id for hit in first.search_chunks(kb, SearchQuery(k=5, text=text, mode="keyword"))
        ]

    assert find("indexes ticket") == ["a"]
    assert find("resume") == ["b"]
    assert find('NEAR("x" AND * -') == []


def test_a_metadata_edit_is_seen_by_another_process(
    first: EmbeddedVectorStore, second: EmbeddedVectorStore, kb: str
) -> None:
    first.write(kb, [at(chunk, degrees) for chunk, degrees in TICKETS])
    assert second.count(kb, Eq("metadata.Status", "Closed")) == 0

    assert first.update_metadata(kb, Eq("collection", "support"), set={"Status": "Closed"}) == 3

    assert second.count(kb, Eq("metadata.Status", "Closed")) == 3
    assert hit_ids(second.search(kb, QUERY, k=3)) == ["t1", "t2", "t3"]


class TestEmbeddedStoreSnapshotsInt8Contract(VectorStoreContract):
    """The contract again with a snapshot after every change, the int8 copy, and bitmap gathers of
    two-row steps, so every path a large index takes runs on the contract's small data."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[VectorStore]:
        store = EmbeddedVectorStore(
            tmp_path / "vectors",
            snapshot_min_rows=0,
            int8=True,
            thresholds=Thresholds.forcing("bitmap-gather", step_rows=2),
        )
        yield store
        store.close()
