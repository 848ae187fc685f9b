"""The behaviour every VectorStore implementation must show, as one test class to subclass.

A backend's test module subclasses `VectorStoreContract` and provides the `store` fixture:

    class TestMyStore(VectorStoreContract):
        @pytest.fixture
        def store(self, tmp_path: Path) -> Iterator[VectorStore]:
            store = MyStore(...)
            yield store
            store.close()

Vectors live in 8 dimensions and are built from known angles to the query (the first axis), so every
expected similarity is an exact cosine. Knowledge-base ids are random, lowercase and hyphenated, so a
shared backend (a real OpenSearch cluster) can run the suite without collisions; every index the suite
creates is dropped again.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from kb_service.vectorstores.base import (
    SEARCH_MODES,
    And,
    Chunk,
    ChunkWrite,
    DimensionMismatchError,
    Eq,
    Exists,
    Filter,
    In,
    IndexNotFoundError,
    Not,
    Or,
    Prefix,
    Range,
    RankedHit,
    SearchHit,
    SearchMode,
    SearchQuery,
    Vector,
    VectorStore,
    VectorStoreError,
)

DIM = 8
SIMILARITY_TOLERANCE = 1e-5


def new_kb_id() -> str:
    return f"kb-contract-{uuid.uuid4().hex[:16]}"


def angle_vector(degrees: float, *, scale: float = 1.0, direction: Vector | None = None) -> Vector:
    """A vector at `degrees` from the query axis (e0); its cosine to the query is cos(degrees).

    `direction` (a unit vector orthogonal to e0) chooses where the rest of it points; e1 by default.
    """
    other = np.zeros(DIM, dtype=np.float32) if direction is None else direction
    if direction is None:
        other[1] = 1.0
    radians = math.radians(degrees)
    vector = np.zeros(DIM, dtype=np.float64)
    vector[0] = math.cos(radians)
    vector += math.sin(radians) * other.astype(np.float64)
    return (vector * scale).astype(np.float32)


def random_orthogonal_direction(rng: np.random.Generator) -> Vector:
    direction = np.zeros(DIM, dtype=np.float64)
    direction[1:] = rng.normal(size=DIM - 1)
    return (direction / np.linalg.norm(direction)).astype(np.float32)


QUERY = angle_vector(0)


def make_chunk(chunk_id: str, **fields: Any) -> Chunk:
    values: dict[str, Any] = {
        "collection": "default",
        "text": f"text of {chunk_id}",
        "source_id": "source-1",
    }
    values.update(fields)
    return Chunk(chunk_id=chunk_id, **values)


def at(chunk: Chunk, degrees: float) -> ChunkWrite:
    return ChunkWrite(chunk=chunk, vector=angle_vector(degrees))


def hit_ids(hits: Sequence[SearchHit]) -> list[str]:
    return [hit.chunk.chunk_id for hit in hits]


def ranked_ids(hits: Sequence[RankedHit]) -> list[str]:
    return [hit.chunk.chunk_id for hit in hits]


def in_mode(mode: SearchMode, k: int, text: str = "text", **fields: Any) -> SearchQuery:
    """A query in `mode`: the QUERY vector unless the mode is keyword (where it is optional)."""
    vector = fields.pop("vector", None if mode == "keyword" else QUERY)
    return SearchQuery(k=k, vector=vector, text=None if mode == "vector" else text, mode=mode, **fields)


def cosine(a: Vector, b: Vector) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64)))


def posix(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


# Six chunks covering every field and metadata shape the filter tests need. Angles 10°..60° keep every
# similarity positive and distinct, so "all matches" is simply a search with a large k.
TICKETS: tuple[tuple[Chunk, float], ...] = (
    (
        make_chunk(
            "t1",
            collection="support",
            source_id="s1",
            document_id="d1",
            position=0,
            mx_object_id="o1",
            mx_entity="Support.Ticket",
            metadata={
                "Ticket Type": "Bug",
                "Status": "Solved",
                "priority": "3",
                "opened": "2024-01-05",
                "Category": "Ticket",
            },
        ),
        10,
    ),
    (
        make_chunk(
            "t2",
            collection="support",
            source_id="s1",
            document_id="d1",
            position=1,
            mx_object_id="o1",
            mx_entity="Support.Ticket",
            metadata={
                "Ticket Type": "Bug",
                "Status": "Open",
                "priority": "10",
                "opened": "2024-01-05T10:00:00Z",
                "Category": "Ticket",
            },
        ),
        20,
    ),
    (
        make_chunk(
            "t3",
            collection="support",
            source_id="s2",
            document_id="d2",
            position=0,
            mx_object_id="o2",
            mx_entity="Support.Ticket",
            metadata={
                "Ticket Type": "Feature",
                "Status": "Solved",
                "priority": "1.5",
                "opened": "2024-02-01",
                "Category": "Ticket",
            },
        ),
        30,
    ),
    (
        make_chunk(
            "t4",
            collection="manuals",
            source_id="s3",
            document_id="d3",
            position=0,
            metadata={"priority": "high", "opened": "soon", "Category": "Manual", "Größe": "groß"},
        ),
        40,
    ),
    (
        make_chunk(
            "t5",
            collection="manuals",
            source_id="s3",
            document_id="d3",
            position=1,
            mx_object_id="o3",
            mx_entity="Docs.Page",
            metadata={"priority": "-2", "opened": "2023-12-31T23:59:59+00:00", "Category": "Manual page"},
        ),
        50,
    ),
    (make_chunk("t6", collection="manuals", source_id="s4", position=0), 60),
)

ALL_TICKETS = {"t1", "t2", "t3", "t4", "t5", "t6"}

FILTER_CASES: list[tuple[str, Filter, set[str]]] = [
    ("eq-collection", Eq("collection", "support"), {"t1", "t2", "t3"}),
    ("eq-source", Eq("source_id", "s3"), {"t4", "t5"}),
    ("eq-document", Eq("document_id", "d1"), {"t1", "t2"}),
    ("eq-object", Eq("mx_object_id", "o2"), {"t3"}),
    ("eq-entity", Eq("mx_entity", "Docs.Page"), {"t5"}),
    ("eq-metadata-key-with-space", Eq("metadata.Ticket Type", "Bug"), {"t1", "t2"}),
    ("eq-unicode", Eq("metadata.Größe", "groß"), {"t4"}),
    ("eq-is-exact-not-substring", Eq("metadata.Category", "Manual"), {"t4"}),
    ("eq-is-case-sensitive", Eq("metadata.Category", "ticket"), set()),
    ("eq-unknown-value", Eq("metadata.Status", "Nope"), set()),
    ("eq-unknown-key", Eq("metadata.nobody-has-this", "x"), set()),
    ("and-all-must-match", And((Eq("metadata.Ticket Type", "Bug"), Eq("metadata.Status", "Solved"))), {"t1"}),
    ("not-eq-matches-missing-keys", Not(Eq("metadata.Status", "Solved")), {"t2", "t4", "t5", "t6"}),
    ("not-eq-system-field-matches-missing", Not(Eq("document_id", "d1")), {"t3", "t4", "t5", "t6"}),
    ("in", In("metadata.Ticket Type", ("Bug", "Feature")), {"t1", "t2", "t3"}),
    ("in-system-field", In("collection", ("manuals", "elsewhere")), {"t4", "t5", "t6"}),
    ("in-unknown-values", In("metadata.Status", ("x", "y")), set()),
    ("not-in", Not(In("metadata.Category", ("Ticket",))), {"t4", "t5", "t6"}),
    ("exists", Exists("metadata.Status"), {"t1", "t2", "t3"}),
    ("not-exists", Not(Exists("metadata.Status")), {"t4", "t5", "t6"}),
    ("exists-system-field", Exists("mx_object_id"), {"t1", "t2", "t3", "t5"}),
    ("not-exists-system-field", Not(Exists("document_id")), {"t6"}),
    ("prefix-metadata", Prefix("metadata.Category", "Manual"), {"t4", "t5"}),
    ("prefix-system-field", Prefix("mx_entity", "Support."), {"t1", "t2", "t3"}),
    ("prefix-no-match", Prefix("metadata.Category", "manual"), set()),
    ("range-number-gte", Range("metadata.priority", "number", gte=3), {"t1", "t2"}),
    ("range-number-gt", Range("metadata.priority", "number", gt=3), {"t2"}),
    ("range-number-lt", Range("metadata.priority", "number", lt=2), {"t3", "t5"}),
    ("range-number-lte-gt", Range("metadata.priority", "number", gt=1.5, lte=10), {"t1", "t2"}),
    ("range-number-unbounded-is-numeric", Range("metadata.priority", "number"), {"t1", "t2", "t3", "t5"}),
    (
        "not-range-number-includes-non-numbers",
        Not(Range("metadata.priority", "number", gte=3)),
        {"t3", "t4", "t5", "t6"},
    ),
    (
        "range-date-mixed-formats",
        Range("metadata.opened", "date", gte=posix("2024-01-05T00:00:00Z"), lt=posix("2024-01-05T12:00:00Z")),
        {"t1", "t2"},
    ),
    ("range-date-gt", Range("metadata.opened", "date", gt=posix("2024-01-05T00:00:00Z")), {"t2", "t3"}),
    ("range-date-lte", Range("metadata.opened", "date", lte=posix("2023-12-31T23:59:59Z")), {"t5"}),
    ("range-date-unbounded-is-date", Range("metadata.opened", "date"), {"t1", "t2", "t3", "t5"}),
    ("or", Or((Eq("metadata.Status", "Open"), Eq("metadata.Category", "Manual"))), {"t2", "t4"}),
    (
        "and-not-or-nesting",
        And(
            (
                Eq("collection", "support"),
                Not(Or((Eq("metadata.Ticket Type", "Feature"), Eq("metadata.Status", "Open")))),
            )
        ),
        {"t1"},
    ),
    (
        "not-and",
        Not(And((Eq("collection", "support"), Eq("metadata.Status", "Solved")))),
        {"t2", "t4", "t5", "t6"},
    ),
    (
        "or-of-ands",
        Or(
            (
                And((Eq("collection", "manuals"), Exists("mx_object_id"))),
                And((Eq("document_id", "d2"), Prefix("metadata.Ticket Type", "Fea"))),
            )
        ),
        {"t3", "t5"},
    ),
    ("double-not", Not(Not(Eq("metadata.Status", "Open"))), {"t2"}),
]


class VectorStoreContract:
    """Subclass and provide the `store` fixture; every test here then runs against that store."""

    @pytest.fixture
    def store(self) -> Iterator[VectorStore]:
        raise NotImplementedError("a VectorStoreContract subclass must provide the `store` fixture")

    @pytest.fixture
    def make_kb(self, store: VectorStore) -> Iterator[Callable[[], str]]:
        created: list[str] = []

        def make() -> str:
            kb_id = new_kb_id()
            store.create_index(kb_id, DIM)
            created.append(kb_id)
            return kb_id

        yield make
        for kb_id in created:
            store.drop_index(kb_id)

    @pytest.fixture
    def kb(self, make_kb: Callable[[], str]) -> str:
        return make_kb()

    @pytest.fixture
    def tickets(self, store: VectorStore, kb: str) -> str:
        store.write(kb, [at(chunk, degrees) for chunk, degrees in TICKETS])
        return kb

    @staticmethod
    def matching(store: VectorStore, kb: str, where: Filter | None) -> set[str]:
        """Chunk ids matching `where`, asserting search, listing and counting agree on them."""
        searched = set(hit_ids(store.search(kb, QUERY, k=100, where=where)))
        page = store.list_chunks(kb, where=where, limit=100)
        assert {chunk.chunk_id for chunk in page.items} == searched
        assert page.total == len(searched) == store.count(kb, where)
        return searched

    # --- index lifecycle -------------------------------------------------------------------------

    def test_create_index_is_idempotent(self, store: VectorStore, tickets: str) -> None:
        store.create_index(tickets, DIM)

        assert store.count(tickets) == len(TICKETS)

    def test_create_index_with_another_dimension_is_rejected(self, store: VectorStore, kb: str) -> None:
        with pytest.raises(DimensionMismatchError):
            store.create_index(kb, DIM * 2)

    def test_writing_a_vector_of_the_wrong_length_is_rejected_and_writes_nothing(
        self, store: VectorStore, kb: str
    ) -> None:
        items = [
            at(make_chunk("good"), 10),
            ChunkWrite(make_chunk("bad"), np.ones(DIM + 1, dtype=np.float32)),
        ]

        with pytest.raises(DimensionMismatchError):
            store.write(kb, items)

        assert store.count(kb) == 0

    def test_searching_with_a_query_of_the_wrong_length_is_rejected(
        self, store: VectorStore, tickets: str
    ) -> None:
        with pytest.raises(DimensionMismatchError):
            store.search(tickets, np.ones(DIM - 1, dtype=np.float32), k=3)

    @pytest.mark.parametrize(
        "vector",
        [np.zeros(DIM, dtype=np.float32), np.full(DIM, np.nan, dtype=np.float32)],
        ids=["zero", "nan"],
    )
    def test_writing_a_degenerate_vector_is_rejected(
        self, store: VectorStore, kb: str, vector: Vector
    ) -> None:
        with pytest.raises(VectorStoreError):
            store.write(kb, [ChunkWrite(make_chunk("degenerate"), vector)])

        assert store.count(kb) == 0

    def test_writing_to_a_kb_never_created_raises_index_not_found(self, store: VectorStore) -> None:
        with pytest.raises(IndexNotFoundError):
            store.write(new_kb_id(), [at(make_chunk("a"), 10)])

    def test_reading_a_kb_never_created_returns_nothing(self, store: VectorStore) -> None:
        missing = new_kb_id()

        assert store.search(missing, QUERY, k=5) == []
        assert store.search(missing, QUERY, k=5, where=Eq("collection", "x")) == []
        page = store.list_chunks(missing)
        assert page.items == []
        assert page.total == 0
        assert store.count(missing) == 0
        assert store.count_by(missing, "collection") == {}
        assert store.delete(missing, Eq("collection", "x")) == 0

    def test_drop_index_removes_everything(self, store: VectorStore, tickets: str) -> None:
        store.drop_index(tickets)

        assert store.search(tickets, QUERY, k=5) == []
        assert store.count(tickets) == 0
        with pytest.raises(IndexNotFoundError):
            store.write(tickets, [at(make_chunk("a"), 10)])
        store.create_index(tickets, DIM * 2)
        assert store.count(tickets) == 0

    def test_dropping_a_missing_index_is_fine(self, store: VectorStore) -> None:
        store.drop_index(new_kb_id())

    def test_ping_succeeds_on_a_working_store(self, store: VectorStore) -> None:
        store.ping()

    # --- writing ---------------------------------------------------------------------------------

    def test_every_chunk_field_round_trips_exactly(self, store: VectorStore, kb: str) -> None:
        chunk = Chunk(
            chunk_id="chunk-ü-1",
            collection="Sammlung für Tickets",
            text='Zeile eins\nZeile zwei — mit Ümlauten, emoji 🚀 and "quotes" \\ backslash',
            source_id="job-7f3a",
            metadata={
                "Ticket Type": "Bug",
                "Größe": "groß 🚀",
                "sourceUrl": "https://example.com/a?b=c&d=e",
                "knowledge": "multi\nline value",
                "empty": "",
            },
            document_id="doc-42",
            page=7,
            human_readable_id="Ticket #42 — Login fails",
            mx_object_id="object-9",
            mx_entity="Support.Ticket",
            position=3,
        )
        bare = Chunk(chunk_id="bare", collection="default", text="t", source_id="s")

        store.write(kb, [at(chunk, 10), at(bare, 20)])

        hits = store.search(kb, QUERY, k=2)
        assert [hit.chunk for hit in hits] == [chunk, bare]
        # Listing order is by collection: "Sammlung…" sorts before "default" (upper case first).
        assert store.list_chunks(kb).items == [chunk, bare]

    def test_writing_the_same_chunk_id_again_overwrites_it(self, store: VectorStore, kb: str) -> None:
        store.write(kb, [at(make_chunk("a", text="old", metadata={"v": "1"}), 10)])
        newer = make_chunk("a", text="new", collection="other", metadata={"v": "2"})

        store.write(kb, [at(newer, 60)])

        hits = store.search(kb, QUERY, k=5)
        assert [hit.chunk for hit in hits] == [newer]
        assert hits[0].similarity == pytest.approx(0.5, abs=SIMILARITY_TOLERANCE)
        assert store.count(kb) == 1
        assert self.matching(store, kb, Eq("metadata.v", "1")) == set()
        assert self.matching(store, kb, Eq("collection", "default")) == set()

    def test_duplicate_chunk_ids_within_one_write_keep_the_last(self, store: VectorStore, kb: str) -> None:
        last = make_chunk("a", text="second")

        store.write(kb, [at(make_chunk("a", text="first"), 10), at(last, 20)])

        assert store.list_chunks(kb).items == [last]

    def test_write_with_delete_where_replaces_the_object_chunks(self, store: VectorStore, kb: str) -> None:
        def object_chunk(chunk_id: str, obj: str, text: str = "old") -> Chunk:
            return make_chunk(chunk_id, text=text, mx_object_id=obj, mx_entity="App.Item")

        store.write(
            kb,
            [
                at(object_chunk("o1-a", "o1"), 10),
                at(object_chunk("o1-b", "o1"), 20),
                at(object_chunk("o1-c", "o1"), 30),
                at(object_chunk("o2-a", "o2"), 40),
            ],
        )
        replacement = [object_chunk("o1-a", "o1", text="new"), object_chunk("o1-d", "o1", text="new")]

        store.write(
            kb,
            [at(replacement[0], 15), at(replacement[1], 25)],
            delete_where=And((Eq("mx_object_id", "o1"), Eq("mx_entity", "App.Item"))),
        )

        assert store.list_chunks(kb, where=Eq("mx_object_id", "o1")).items == replacement
        assert self.matching(store, kb, None) == {"o1-a", "o1-d", "o2-a"}

    def test_write_with_delete_where_and_no_items_deletes(self, store: VectorStore, tickets: str) -> None:
        store.write(tickets, [], delete_where=Eq("collection", "support"))

        assert self.matching(store, tickets, None) == {"t4", "t5", "t6"}

    # --- deleting --------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("where", "deleted"),
        [
            (Eq("document_id", "d1"), {"t1", "t2"}),
            (Eq("source_id", "s3"), {"t4", "t5"}),
            (In("mx_object_id", ("o1", "o3")), {"t1", "t2", "t5"}),
            (Eq("collection", "manuals"), {"t4", "t5", "t6"}),
            (Eq("metadata.Status", "Solved"), {"t1", "t3"}),
        ],
        ids=["document", "source", "objects", "collection", "metadata"],
    )
    def test_delete_removes_the_matching_chunks_and_counts_them(
        self, store: VectorStore, tickets: str, where: Filter, deleted: set[str]
    ) -> None:
        assert store.delete(tickets, where) == len(deleted)

        assert self.matching(store, tickets, None) == ALL_TICKETS - deleted
        assert store.delete(tickets, where) == 0

    def test_delete_of_nothing_matching_returns_zero(self, store: VectorStore, tickets: str) -> None:
        assert store.delete(tickets, Eq("document_id", "no-such-document")) == 0
        assert store.count(tickets) == len(TICKETS)

    # --- filters ---------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("where", "expected"), [case[1:] for case in FILTER_CASES], ids=[c[0] for c in FILTER_CASES]
    )
    def test_filter_selects_exactly_the_matching_chunks(
        self, store: VectorStore, tickets: str, where: Filter, expected: set[str]
    ) -> None:
        assert self.matching(store, tickets, where) == expected

    def test_no_filter_selects_everything(self, store: VectorStore, tickets: str) -> None:
        assert self.matching(store, tickets, None) == ALL_TICKETS

    @pytest.mark.parametrize(
        "where",
        [Eq("title", "x"), Exists("chunk_id"), Range("collection", "number", gte=1), Eq("metadata.", "x")],
        ids=["unknown-field", "chunk-id-is-not-filterable", "range-on-system-field", "empty-metadata-key"],
    )
    def test_an_unfilterable_field_is_rejected(self, store: VectorStore, tickets: str, where: Filter) -> None:
        with pytest.raises(VectorStoreError):
            store.search(tickets, QUERY, k=3, where=where)

    # --- search ----------------------------------------------------------------------------------

    def test_search_orders_by_similarity_best_first(self, store: VectorStore, kb: str) -> None:
        angles = {"a": 50, "b": 5, "c": 70, "d": 25, "e": 35}
        store.write(kb, [at(make_chunk(chunk_id), angle) for chunk_id, angle in angles.items()])

        hits = store.search(kb, QUERY, k=3)

        assert hit_ids(hits) == ["b", "d", "e"]
        assert [hit.similarity for hit in hits] == pytest.approx(
            [math.cos(math.radians(a)) for a in (5, 25, 35)], abs=SIMILARITY_TOLERANCE
        )

    def test_similarity_is_the_cosine_whatever_the_vector_norms(self, store: VectorStore, kb: str) -> None:
        rng = np.random.default_rng(7)
        query = (rng.normal(size=DIM) * 3.0).astype(np.float32)
        vectors = {
            f"c{i}": (rng.normal(size=DIM) * rng.uniform(0.01, 50)).astype(np.float32) for i in range(20)
        }
        vectors["near"] = (query * 0.25).astype(np.float32)
        store.write(kb, [ChunkWrite(make_chunk(chunk_id), vector) for chunk_id, vector in vectors.items()])

        hits = store.search(kb, query, k=30, min_similarity=-1.0)

        assert len(hits) == len(vectors)
        assert hits[0].chunk.chunk_id == "near"
        for hit in hits:
            assert hit.similarity == pytest.approx(
                cosine(query, vectors[hit.chunk.chunk_id]), abs=SIMILARITY_TOLERANCE
            )

    def test_min_similarity_cuts_off_weaker_hits(self, store: VectorStore, kb: str) -> None:
        angles = {"a": 0, "b": 30, "c": 60, "d": 80, "opposite": 120}
        store.write(kb, [at(make_chunk(chunk_id), angle) for chunk_id, angle in angles.items()])

        assert hit_ids(store.search(kb, QUERY, k=10, min_similarity=0.6)) == ["a", "b"]
        assert hit_ids(store.search(kb, QUERY, k=10, min_similarity=0.0)) == ["a", "b", "c", "d"]
        # No threshold by default: the whole cosine range, negative included.
        assert hit_ids(store.search(kb, QUERY, k=10)) == ["a", "b", "c", "d", "opposite"]
        assert hit_ids(store.search(kb, QUERY, k=10, min_similarity=-1.0))[-1] == "opposite"
        assert store.search(kb, angle_vector(180), k=10, min_similarity=0.99) == []

    def test_search_returns_all_matches_when_fewer_than_k(self, store: VectorStore, tickets: str) -> None:
        hits = store.search(tickets, QUERY, k=50, where=Eq("collection", "support"))

        assert hit_ids(hits) == ["t1", "t2", "t3"]

    def test_selective_filter_still_returns_k_hits(self, store: VectorStore, kb: str) -> None:
        # 60 of 2,000 chunks (3 %) match; the others are all nearer to the query, so a store that
        # filters after an unfiltered top-k would come back short.
        rng = np.random.default_rng(11)
        rare_angles = {f"rare-{i:02d}": 40 + i * 0.5 for i in range(60)}
        items = [
            ChunkWrite(
                make_chunk(chunk_id, metadata={"group": "rare"}),
                angle_vector(angle, direction=random_orthogonal_direction(rng)),
            )
            for chunk_id, angle in rare_angles.items()
        ]
        items += [
            ChunkWrite(
                make_chunk(f"common-{i:04d}", metadata={"group": "common"}),
                angle_vector(float(rng.uniform(0, 30)), direction=random_orthogonal_direction(rng)),
            )
            for i in range(1940)
        ]
        random.Random(3).shuffle(items)
        store.write(kb, items)

        hits = store.search(kb, QUERY, k=10, where=Eq("metadata.group", "rare"))

        assert hit_ids(hits) == [f"rare-{i:02d}" for i in range(10)]
        assert [hit.similarity for hit in hits] == pytest.approx(
            [math.cos(math.radians(40 + i * 0.5)) for i in range(10)], abs=SIMILARITY_TOLERANCE
        )
        assert len(store.search(kb, QUERY, k=10, where=Not(Eq("metadata.group", "common")))) == 10

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_every_search_reports_its_plan_and_an_exact_plan_matches_brute_force(
        self, store: VectorStore, kb: str, mode: SearchMode
    ) -> None:
        rng = np.random.default_rng(5)
        vectors = {f"c-{i:03d}": rng.normal(size=DIM).astype(np.float32) for i in range(300)}
        store.write(
            kb,
            [
                ChunkWrite(make_chunk(chunk_id, collection=f"col-{i % 3}", text=f"text {i % 7}"), vector)
                for i, (chunk_id, vector) in enumerate(vectors.items())
            ],
        )
        query = rng.normal(size=DIM).astype(np.float32)
        where = Eq("collection", "col-1")
        hits = store.search_chunks(kb, in_mode(mode, 10, text="text", vector=query, where=where))
        plan = hits.plan
        assert plan is not None and isinstance(plan.kind, str) and isinstance(plan.exact, bool)
        if mode == "keyword":
            assert plan.kind == "keyword-only" and plan.exact
            return
        found = store.search(kb, query, k=10, where=where)
        assert found.plan is not None
        if found.plan.exact:
            matching = [chunk_id for i, chunk_id in enumerate(vectors) if i % 3 == 1]
            truth = sorted(matching, key=lambda chunk_id: -cosine(vectors[chunk_id], query))[:10]
            assert hit_ids(found) == truth

    def test_search_is_scoped_to_the_chosen_collections(self, store: VectorStore, kb: str) -> None:
        store.write(
            kb,
            [
                at(make_chunk("a1", collection="a"), 30),
                at(make_chunk("b1", collection="b"), 5),
                at(make_chunk("c1", collection="c"), 10),
                at(make_chunk("a2", collection="a"), 40),
            ],
        )

        assert hit_ids(store.search(kb, QUERY, k=10, where=Eq("collection", "a"))) == ["a1", "a2"]
        assert hit_ids(store.search(kb, QUERY, k=10, where=In("collection", ("a", "c")))) == [
            "c1",
            "a1",
            "a2",
        ]

    def test_knowledge_bases_never_see_each_other(
        self, store: VectorStore, make_kb: Callable[[], str]
    ) -> None:
        first, second = make_kb(), make_kb()
        store.write(first, [at(make_chunk("shared-id", text="first"), 10), at(make_chunk("only-first"), 20)])
        store.write(second, [at(make_chunk("shared-id", text="second"), 30)])

        assert [hit.chunk.text for hit in store.search(second, QUERY, k=10)] == ["second"]
        assert store.count(first) == 2
        assert store.delete(second, Eq("collection", "default")) == 1
        assert store.count(first) == 2
        store.drop_index(second)
        assert hit_ids(store.search(first, QUERY, k=10)) == ["shared-id", "only-first"]

    # --- listing and counting --------------------------------------------------------------------

    def test_list_chunks_pages_in_a_stable_order_with_a_total(self, store: VectorStore, kb: str) -> None:
        keys = [
            (collection, source, position, suffix)
            for collection in ("alpha", "beta")
            for source in ("s1", "s2")
            for position in (0, 2, 10)
            for suffix in ("x", "y")
        ]
        shuffled = keys[:]
        random.Random(5).shuffle(shuffled)
        store.write(
            kb,
            [
                at(make_chunk(f"{c}-{s}-{p}-{x}", collection=c, source_id=s, position=p), 10 + i)
                for i, (c, s, p, x) in enumerate(shuffled)
            ],
        )
        expected = [f"{c}-{s}-{p}-{x}" for c, s, p, x in keys]

        pages = [store.list_chunks(kb, offset=offset, limit=5) for offset in range(0, len(keys), 5)]

        assert [chunk.chunk_id for page in pages for chunk in page.items] == expected
        assert {page.total for page in pages} == {len(keys)}
        beyond = store.list_chunks(kb, offset=len(keys) + 3, limit=5)
        assert beyond.items == []
        assert beyond.total == len(keys)

    def test_list_chunks_orders_chunks_with_equal_keys_by_chunk_id(self, store: VectorStore, kb: str) -> None:
        # Chunks pushed by an app often share collection, source and position 0.
        chunk_ids = [f"chunk-{i:02d}" for i in range(30)]
        shuffled = chunk_ids[:]
        random.Random(9).shuffle(shuffled)
        store.write(kb, [at(make_chunk(chunk_id), 10 + i) for i, chunk_id in enumerate(shuffled)])

        pages = [store.list_chunks(kb, offset=offset, limit=7) for offset in range(0, 30, 7)]

        assert [chunk.chunk_id for page in pages for chunk in page.items] == chunk_ids

    def test_list_chunks_filters_and_counts_the_filtered_total(
        self, store: VectorStore, tickets: str
    ) -> None:
        page = store.list_chunks(tickets, where=Eq("collection", "manuals"), offset=1, limit=1)

        assert [chunk.chunk_id for chunk in page.items] == ["t5"]
        assert page.total == 3

    def test_count_counts_matching_chunks(self, store: VectorStore, tickets: str) -> None:
        assert store.count(tickets) == 6
        assert store.count(tickets, Eq("metadata.Category", "Ticket")) == 3
        assert store.count(tickets, Eq("metadata.Category", "nothing")) == 0

    def test_count_by_groups_by_a_system_field(self, store: VectorStore, tickets: str) -> None:
        assert store.count_by(tickets, "collection") == {"support": 3, "manuals": 3}
        # Chunks without the field (t6 has no document) are not counted under any value.
        assert store.count_by(tickets, "document_id") == {"d1": 2, "d2": 1, "d3": 2}
        assert store.count_by(tickets, "mx_entity") == {"Support.Ticket": 3, "Docs.Page": 1}
        assert store.count_by(tickets, "collection", Eq("metadata.Status", "Solved")) == {"support": 2}
        assert store.count_by(tickets, "source_id", Eq("collection", "nowhere")) == {}

    def test_count_by_an_unknown_field_is_rejected(self, store: VectorStore, tickets: str) -> None:
        with pytest.raises(VectorStoreError):
            store.count_by(tickets, "metadata.Status")

    def test_counts_follow_upserts_and_deletes(self, store: VectorStore, tickets: str) -> None:
        moved = replace(TICKETS[0][0], collection="manuals")
        store.write(tickets, [at(moved, 10)])
        store.delete(tickets, Eq("source_id", "s2"))

        assert store.count_by(tickets, "collection") == {"support": 1, "manuals": 4}
        assert store.count(tickets) == 5

    # --- search modes: keyword and hybrid, the full count, metadata edits -------------------------

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    @pytest.mark.parametrize(
        ("where", "expected"), [case[1:] for case in FILTER_CASES], ids=[c[0] for c in FILTER_CASES]
    )
    def test_every_mode_applies_every_filter_form(
        self, store: VectorStore, tickets: str, mode: SearchMode, where: Filter, expected: set[str]
    ) -> None:
        # Every ticket's text contains "text", so each mode finds exactly the filtered chunks.
        hits = store.search_chunks(tickets, in_mode(mode, 100, where=where))

        assert set(ranked_ids(hits)) == expected
        assert len(hits) == len(expected)

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    @pytest.mark.parametrize("min_similarity", [None, -0.95])
    def test_full_count_when_the_matches_have_negative_cosine(
        self, store: VectorStore, kb: str, mode: SearchMode, min_similarity: float | None
    ) -> None:
        # 12 chunks in the wanted group, all pointing away from the query (cosine -0.17 .. -0.94),
        # and 30 nearer chunks outside it: every mode must still return exactly k of the group.
        rng = np.random.default_rng(21)
        items = [
            ChunkWrite(
                make_chunk(f"away-{i:02d}", text=f"report number {i}", metadata={"group": "away"}),
                angle_vector(100 + i * 5, direction=random_orthogonal_direction(rng)),
            )
            for i in range(12)
        ]
        items += [
            ChunkWrite(
                make_chunk(f"near-{i:02d}", text=f"report near {i}", metadata={"group": "near"}),
                angle_vector(float(rng.uniform(0, 60)), direction=random_orthogonal_direction(rng)),
            )
            for i in range(30)
        ]
        store.write(kb, items)
        where = Eq("metadata.group", "away")

        for k in (1, 5, 12):
            query = in_mode(mode, k, text="report", where=where, min_similarity=min_similarity, vector=QUERY)
            hits = store.search_chunks(kb, query)
            assert len(hits) == k, (mode, k)
            assert {hit.chunk.metadata["group"] for hit in hits} == {"away"}
            for hit in hits:
                assert hit.similarity is not None and hit.similarity < 0
        vector_hits = store.search_chunks(
            kb, in_mode("vector", 5, where=where, min_similarity=min_similarity)
        )
        assert ranked_ids(vector_hits) == [f"away-{i:02d}" for i in range(5)]
        assert [hit.similarity for hit in vector_hits] == pytest.approx(
            [math.cos(math.radians(100 + i * 5)) for i in range(5)], abs=SIMILARITY_TOLERANCE
        )
        # A threshold between the group's cosines cuts it exactly there, in every mode.
        cut = store.search_chunks(
            kb, in_mode(mode, 12, text="report", where=where, min_similarity=-0.5, vector=QUERY)
        )
        assert set(ranked_ids(cut)) == {f"away-{i:02d}" for i in range(12) if 100 + i * 5 <= 120}

    def test_keyword_search_ranks_by_bm25_and_returns_only_chunks_with_a_term(
        self, store: VectorStore, kb: str
    ) -> None:
        store.write(
            kb,
            [
                at(make_chunk("three", text="invoice invoice invoice paid"), 80),
                at(make_chunk("one", text="invoice overdue reminder sent"), 10),
                at(make_chunk("two", text="invoice invoice reminder sent"), 70),
                at(make_chunk("none", text="contract renewal reminder sent"), 0),
            ],
        )

        hits = store.search_chunks(kb, SearchQuery(k=10, text="Invoice", mode="keyword"))

        assert ranked_ids(hits) == ["three", "two", "one"]
        assert [hit.keyword_rank for hit in hits] == [1, 2, 3]
        assert all(hit.legs == {"keyword"} and hit.vector_rank is None for hit in hits)
        assert all(hit.similarity is None for hit in hits)
        assert hits[0].score > hits[1].score > hits[2].score > 0
        with_vector = store.search_chunks(kb, SearchQuery(k=2, text="invoice", mode="keyword", vector=QUERY))
        assert ranked_ids(with_vector) == ["three", "two"]
        assert [hit.similarity for hit in with_vector] == pytest.approx(
            [math.cos(math.radians(80)), math.cos(math.radians(70))], abs=SIMILARITY_TOLERANCE
        )
        assert store.search_chunks(kb, SearchQuery(k=10, text="nothing matches", mode="keyword")) == []
        assert store.search_chunks(kb, SearchQuery(k=10, text="  ?! ", mode="keyword")) == []

    @pytest.mark.parametrize(
        ("word", "expected"),
        [
            ("Größe", "de"),
            ("größe", "de"),
            ("élève", "fr"),
            ("λόγος", "el"),
            ("検索", "ja"),
            ("Straße", "de"),
        ],
    )
    def test_keyword_search_keeps_non_ascii_words(
        self, store: VectorStore, kb: str, word: str, expected: str
    ) -> None:
        store.write(
            kb,
            [
                at(make_chunk("de", text="Die Größe der Straße ist wichtig"), 10),
                at(make_chunk("fr", text="Un élève écrit une lettre"), 20),
                at(make_chunk("el", text="ο λόγος του ανθρώπου"), 30),
                at(make_chunk("ja", text="全文検索エンジンの設計"), 40),
                at(make_chunk("en", text="plain english words only"), 50),
            ],
        )

        hits = store.search_chunks(kb, SearchQuery(k=5, text=word, mode="keyword"))

        assert ranked_ids(hits) == [expected]

    def test_hybrid_fuses_both_legs_by_reciprocal_rank(self, store: VectorStore, kb: str) -> None:
        store.write(
            kb,
            [
                at(make_chunk("both", text="refund policy for customers"), 20),
                at(make_chunk("vector-only", text="nothing relevant here"), 5),
                at(make_chunk("keyword-only", text="refund refund requested"), 170),
                at(make_chunk("neither", text="nothing at all"), 60),
            ],
        )
        # Each leg 3 deep: the vector leg finds vector-only, both, neither; the keyword leg
        # keyword-only, both.
        query = SearchQuery(k=3, vector=QUERY, text="refund", mode="hybrid", rrf_k=60, candidates=1)

        hits = store.search_chunks(kb, query)

        # both: 0.5/62 + 0.5/62; keyword-only and vector-only tie at 0.5/61 (ordered by id).
        assert ranked_ids(hits) == ["both", "keyword-only", "vector-only"]
        by_id = {hit.chunk.chunk_id: hit for hit in hits}
        assert by_id["both"].legs == {"vector", "keyword"}
        assert by_id["vector-only"].legs == {"vector"}
        assert by_id["keyword-only"].legs == {"keyword"}
        assert (by_id["both"].vector_rank, by_id["both"].keyword_rank) == (2, 2)
        assert (by_id["keyword-only"].vector_rank, by_id["keyword-only"].keyword_rank) == (None, 1)
        assert by_id["both"].score == pytest.approx(0.5 / 62 + 0.5 / 62)
        assert by_id["vector-only"].score == pytest.approx(0.5 / 61)
        assert by_id["keyword-only"].similarity == pytest.approx(
            math.cos(math.radians(170)), abs=SIMILARITY_TOLERANCE
        )
        assert by_id["both"].similarity == pytest.approx(math.cos(math.radians(20)), abs=SIMILARITY_TOLERANCE)
        # All weight on the vector leg: the keyword leg no longer counts.
        weighted = store.search_chunks(kb, replace(query, vector_weight=1.0, k=4))
        assert ranked_ids(weighted) == ["vector-only", "both", "neither", "keyword-only"]
        assert len(store.search_chunks(kb, replace(query, k=10))) == 4

    def test_vector_mode_matches_search(self, store: VectorStore, tickets: str) -> None:
        where = Eq("collection", "manuals")
        hits = store.search_chunks(tickets, SearchQuery(k=2, vector=QUERY, where=where))

        assert ranked_ids(hits) == hit_ids(store.search(tickets, QUERY, k=2, where=where)) == ["t4", "t5"]
        assert [hit.vector_rank for hit in hits] == [1, 2]
        assert all(hit.legs == {"vector"} and hit.score == hit.similarity for hit in hits)

    def test_keyword_index_follows_overwrites_deletes_and_replacements(
        self, store: VectorStore, kb: str
    ) -> None:
        def find(text: str) -> list[str]:
            return ranked_ids(store.search_chunks(kb, SearchQuery(k=10, text=text, mode="keyword")))

        store.write(kb, [at(make_chunk("a", text="apple pie", mx_object_id="o"), 10)])
        store.write(kb, [at(make_chunk("b", text="banana bread"), 20)])
        assert find("apple") == ["a"]

        store.write(kb, [at(make_chunk("a", text="cherry tart", mx_object_id="o"), 10)])
        assert find("apple") == []
        assert find("cherry") == ["a"]

        store.write(
            kb,
            [at(make_chunk("c", text="cherry jam", mx_object_id="o"), 30)],
            delete_where=Eq("mx_object_id", "o"),
        )
        assert find("cherry") == ["c"]

        store.delete(kb, Eq("collection", "default"))
        assert find("cherry banana") == []

    @pytest.mark.parametrize(
        "query",
        [
            SearchQuery(k=3, mode="hybrid", text="x"),
            SearchQuery(k=3, mode="hybrid", vector=QUERY),
            SearchQuery(k=3, mode="keyword"),
            SearchQuery(k=3, mode="keyword", text="x", min_similarity=0.5),
            SearchQuery(k=3, vector=QUERY, min_similarity=1.5),
            SearchQuery(k=3, vector=QUERY, mode="hybrid", text="x", vector_weight=2.0),
            SearchQuery(k=3, vector=QUERY, where=Eq("title", "x")),
        ],
        ids=[
            "hybrid-no-vector",
            "hybrid-no-text",
            "keyword-no-text",
            "threshold-no-vector",
            "threshold-out-of-range",
            "weight-out-of-range",
            "bad-filter",
        ],
    )
    def test_an_impossible_query_is_rejected(
        self, store: VectorStore, tickets: str, query: SearchQuery
    ) -> None:
        with pytest.raises(VectorStoreError):
            store.search_chunks(tickets, query)

    def test_update_metadata_edits_in_place_and_the_next_search_sees_it(
        self, store: VectorStore, tickets: str
    ) -> None:
        before = {hit.chunk.chunk_id: hit.similarity for hit in store.search(tickets, QUERY, k=10)}

        updated = store.update_metadata(
            tickets,
            Eq("metadata.Ticket Type", "Bug"),
            set={"Status": "Closed", "sla.hours": "48"},
            remove=["opened"],
        )

        assert updated == 2
        assert self.matching(store, tickets, Eq("metadata.Status", "Closed")) == {"t1", "t2"}
        assert self.matching(store, tickets, Range("metadata.sla.hours", "number", gte=24)) == {"t1", "t2"}
        assert self.matching(store, tickets, Exists("metadata.opened")) == {"t3", "t4", "t5"}
        assert self.matching(store, tickets, Eq("metadata.Status", "Solved")) == {"t3"}
        (t1,) = store.list_chunks(tickets, where=Eq("document_id", "d1"), limit=1).items
        assert t1.metadata == {
            "Ticket Type": "Bug", "Status": "Closed", "priority": "3", "Category": "Ticket", "sla.hours": "48"
        }  # fmt: skip
        assert replace(t1, metadata=TICKETS[0][0].metadata) == TICKETS[0][0]
        after = {hit.chunk.chunk_id: hit.similarity for hit in store.search(tickets, QUERY, k=10)}
        assert after == pytest.approx(before, abs=SIMILARITY_TOLERANCE)
        keyword = store.search_chunks(
            tickets, SearchQuery(k=10, text="t1", mode="keyword", where=Eq("metadata.Status", "Closed"))
        )
        assert ranked_ids(keyword) == ["t1"]

    def test_update_metadata_replace_and_no_match(self, store: VectorStore, tickets: str) -> None:
        assert store.update_metadata(tickets, Eq("collection", "nowhere"), set={"a": "b"}) == 0

        assert (
            store.update_metadata(
                tickets, Eq("source_id", "s3"), set={"extra": "1"}, replace={"only": "this"}
            )
            == 2
        )

        assert [
            chunk.metadata for chunk in store.list_chunks(tickets, where=Eq("source_id", "s3")).items
        ] == [
            {"only": "this", "extra": "1"},
            {"only": "this", "extra": "1"},
        ]
        assert self.matching(store, tickets, Exists("metadata.Category")) == {"t1", "t2", "t3"}
        assert self.matching(store, tickets, Range("metadata.priority", "number")) == {"t1", "t2", "t3"}
        assert store.count(tickets) == len(TICKETS)

    def test_update_metadata_rejects_a_key_both_set_and_removed(
        self, store: VectorStore, tickets: str
    ) -> None:
        with pytest.raises(VectorStoreError):
            store.update_metadata(tickets, Eq("collection", "support"), set={"a": "1"}, remove=["a"])

    def test_update_metadata_of_a_kb_never_created_is_zero(self, store: VectorStore) -> None:
        assert store.update_metadata(new_kb_id(), Eq("collection", "x"), set={"a": "1"}) == 0

    def test_vectors_of_returns_the_stored_unit_vectors(self, store: VectorStore, kb: str) -> None:
        store.write(kb, [at(make_chunk("v1"), 30), at(make_chunk("v2"), 120)])
        vectors = store.vectors_of(kb, ["v2", "v1", "missing", "v1"])
        assert set(vectors) == {"v1", "v2"}
        for chunk_id, degrees in (("v1", 30), ("v2", 120)):
            assert vectors[chunk_id].shape == (DIM,)
            np.testing.assert_allclose(vectors[chunk_id], angle_vector(degrees), atol=SIMILARITY_TOLERANCE)
        assert store.vectors_of(kb, []) == {}
        assert store.vectors_of(new_kb_id(), ["v1"]) == {}
