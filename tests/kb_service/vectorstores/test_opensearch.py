"""The OpenSearch store: the shared contract against the loopback fake (and a real cluster when
KB_TEST_OPENSEARCH_URL is set), plus what only this store has - aliases, retries, bulk errors,
the exact-search fallback, deep pages and connection settings."""

from __future__ import annotations

import base64
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from opensearchpy import RequestError

from kb_service.config import OpenSearchStoreSettings
from kb_service.vectorstores._opensearch_schema import encode_key, index_names
from kb_service.vectorstores.base import (
    ChunkWrite,
    DimensionMismatchError,
    Eq,
    IndexNotFoundError,
    TransientVectorStoreError,
    VectorStore,
    VectorStoreError,
)
from kb_service.vectorstores.opensearch import OpenSearchVectorStore, build_client
from tests.fakes.opensearch import FakeOpenSearch

from .contract import DIM, QUERY, VectorStoreContract, angle_vector, at, hit_ids, make_chunk, new_kb_id

REAL_CLUSTER_URL = os.environ.get("KB_TEST_OPENSEARCH_URL")


def opensearch_settings(url: str, **overrides: Any) -> OpenSearchStoreSettings:
    values: dict[str, Any] = {"kind": "opensearch", "hosts": [url], "max_retries": 3}
    values.update(overrides)
    return OpenSearchStoreSettings(**values)


@pytest.fixture
def fake() -> Iterator[FakeOpenSearch]:
    with FakeOpenSearch() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    """The backoff delays the store asked for; tests never really sleep."""
    return []


@pytest.fixture
def make_store(sleeps: list[float]) -> Iterator[Callable[..., OpenSearchVectorStore]]:
    stores: list[OpenSearchVectorStore] = []

    def make(url: str, *, result_window: int = 10_000, **overrides: Any) -> OpenSearchVectorStore:
        store = OpenSearchVectorStore(
            opensearch_settings(url, **overrides),
            backoff_s=0.5,
            sleep=sleeps.append,
            result_window=result_window,
        )
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(fake: FakeOpenSearch, make_store: Callable[..., OpenSearchVectorStore]) -> OpenSearchVectorStore:
    return make_store(fake.url)


@pytest.fixture
def kb(store: OpenSearchVectorStore) -> Iterator[str]:
    kb_id = new_kb_id()
    store.create_index(kb_id, DIM)
    yield kb_id
    store.drop_index(kb_id)


# --- the contract ----------------------------------------------------------------------------------


class TestOpenSearchStoreContract(VectorStoreContract):
    @pytest.fixture
    def store(self, fake: FakeOpenSearch, make_store: Callable[..., OpenSearchVectorStore]) -> VectorStore:
        return make_store(fake.url)


class TestOpenSearchStoreContractWhenKnnComesBackShort(VectorStoreContract):
    """Every contract test again, with a k-NN that filters only after taking the top k."""

    @pytest.fixture
    def store(self, make_store: Callable[..., OpenSearchVectorStore]) -> Iterator[VectorStore]:
        with FakeOpenSearch(knn_shortfall=True) as server:
            yield make_store(server.url)


@pytest.mark.opensearch_real
@pytest.mark.skipif(REAL_CLUSTER_URL is None, reason="KB_TEST_OPENSEARCH_URL is not set")
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.filterwarnings("ignore:Connecting to .* verify_certs=False is insecure:UserWarning")
class TestOpenSearchStoreContractOnRealCluster(VectorStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[VectorStore]:
        assert REAL_CLUSTER_URL is not None
        settings = opensearch_settings(
            REAL_CLUSTER_URL,
            # Each run in indices of its own, so runs on a shared cluster do not meet.
            index_prefix=f"kbtest-{uuid.uuid4().hex[:8]}-",
            engine=os.environ.get("KB_TEST_OPENSEARCH_ENGINE", "faiss"),
            verify_certs=os.environ.get("KB_TEST_OPENSEARCH_VERIFY_CERTS", "1") != "0",
        )
        store = OpenSearchVectorStore(settings)
        yield store
        store.close()


# --- naming ----------------------------------------------------------------------------------------


def test_a_kb_index_lives_behind_an_alias_that_reads_and_writes_use(
    fake: FakeOpenSearch, store: OpenSearchVectorStore
) -> None:
    store.create_index("3f2a-kb", DIM)
    store.write("3f2a-kb", [at(make_chunk("a"), 10)])
    store.search("3f2a-kb", QUERY, k=1)

    assert fake.aliases() == {"kb-3f2a-kb": "kb-3f2a-kb_v1"}
    data_requests = fake.requests_to("_bulk") + fake.requests_to("_search") + fake.requests_to("_count")
    assert data_requests
    assert {request.path.split("/")[1] for request in data_requests} == {"kb-3f2a-kb"}


def test_kb_ids_that_differ_only_in_case_get_distinct_valid_indices(
    fake: FakeOpenSearch, store: OpenSearchVectorStore
) -> None:
    store.create_index("Sales_KB", DIM)
    store.create_index("sales_kb", DIM)
    store.write("Sales_KB", [at(make_chunk("upper"), 10)])

    assert fake.aliases() == {
        "kb-_53ales_5f_4b_42": "kb-_53ales_5f_4b_42_v1",
        "kb-sales_5fkb": "kb-sales_5fkb_v1",
    }
    assert store.count("sales_kb") == 0
    assert store.count("Sales_KB") == 1


def test_no_kb_alias_can_equal_another_kb_index() -> None:
    # With a "-v1" suffix, KB "x-v1" would be aliased to KB "x"'s index name.
    assert index_names("kb-", "x-v1").alias != index_names("kb-", "x").index
    assert index_names("kb-", "x").index == "kb-x_v1"


def test_metadata_keys_encode_to_distinct_dot_free_field_names() -> None:
    keys = ["a.b", "a%2Eb", "a b", "a_b", "_id", "%", "", "Größe", "x*", "a.b.c"]

    encoded = [encode_key(key) for key in keys]

    assert len(set(encoded)) == len(keys)
    assert not any("." in name or "*" in name or name.startswith("_") or not name for name in encoded)
    assert encode_key("Ticket Type") == "Ticket%20Type"


def test_an_invalid_index_prefix_is_refused(fake: FakeOpenSearch) -> None:
    with pytest.raises(VectorStoreError, match="index_prefix"):
        OpenSearchVectorStore(opensearch_settings(fake.url, index_prefix="KB-"))


def test_the_engine_and_hnsw_parameters_come_from_the_settings(
    fake: FakeOpenSearch, make_store: Callable[..., OpenSearchVectorStore]
) -> None:
    store = make_store(fake.url, engine="lucene", hnsw_m=24, hnsw_ef_construction=256, hnsw_ef_search=64)

    store.create_index("tuned", 4)

    (created,) = [request for request in fake.requests if request.method == "PUT"]
    vector = created.body["mappings"]["properties"]["vector"]
    assert vector["method"]["engine"] == "lucene"
    assert vector["method"]["parameters"] == {"m": 24, "ef_construction": 256}
    assert fake.settings_of("kb-tuned_v1")["index.knn.algo_param.ef_search"] == "64"


# --- dimensions ------------------------------------------------------------------------------------


def test_a_wrong_dimension_is_rejected_before_anything_is_sent(
    fake: FakeOpenSearch, store: OpenSearchVectorStore, kb: str
) -> None:
    fake.clear_requests()

    with pytest.raises(DimensionMismatchError, match="bad"):
        store.write(
            kb, [at(make_chunk("good"), 10), ChunkWrite(make_chunk("bad"), np.ones(DIM + 2, np.float32))]
        )
    with pytest.raises(DimensionMismatchError):
        store.search(kb, np.ones(DIM + 2, np.float32), k=3)

    assert fake.requests_to("_bulk") == []
    assert fake.requests_to("_search") == []


def test_an_index_replaced_behind_the_stores_back_fails_the_write_then_is_re_read(
    fake: FakeOpenSearch, make_store: Callable[..., OpenSearchVectorStore]
) -> None:
    first, second = make_store(fake.url), make_store(fake.url)
    first.create_index("shared", DIM)
    first.write("shared", [at(make_chunk("a"), 10)])
    second.drop_index("shared")
    second.create_index("shared", 4)

    with pytest.raises(
        VectorStoreError, match=r"a \(mapper_parsing_exception: .*dimension mismatch"
    ) as stale:
        first.write("shared", [at(make_chunk("a"), 10)])
    assert not isinstance(stale.value, DimensionMismatchError)
    with pytest.raises(DimensionMismatchError):
        first.write("shared", [at(make_chunk("a"), 10)])


@pytest.mark.parametrize(("dimension", "accepted"), [(DIM, True), (DIM * 2, False)])
def test_an_index_created_concurrently_is_accepted_when_its_dimension_agrees(
    fake: FakeOpenSearch, make_store: Callable[..., OpenSearchVectorStore], dimension: int, accepted: bool
) -> None:
    make_store(fake.url).create_index("raced", DIM)
    late = make_store(fake.url)
    # The late store's look-up still sees no index; its create then finds one.
    fake.fail_next("_mapping", 1, status=404)

    if accepted:
        late.create_index("raced", dimension)
    else:
        with pytest.raises(DimensionMismatchError):
            late.create_index("raced", dimension)

    assert len([request for request in fake.requests if request.method == "PUT"]) == 2


def test_create_index_with_another_dimension_names_both(store: OpenSearchVectorStore, kb: str) -> None:
    with pytest.raises(DimensionMismatchError, match=f"dimension {DIM}, not 16"):
        store.create_index(kb, 16)


# --- retries and errors ----------------------------------------------------------------------------


def test_a_bulk_rejected_twice_with_429_succeeds_on_the_third_try_with_growing_backoff(
    fake: FakeOpenSearch, store: OpenSearchVectorStore, kb: str, sleeps: list[float]
) -> None:
    fake.fail_next("_bulk", 2, status=429)

    store.write(kb, [at(make_chunk("a"), 10), at(make_chunk("b"), 20)])

    assert len(fake.requests_to("_bulk")) == 3
    assert hit_ids(store.search(kb, QUERY, k=5)) == ["a", "b"]
    # Equal jitter: attempt n waits between half and all of 0.5 s * 2**n.
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 <= sleeps[1] <= 1.0


def test_only_the_bulk_items_throttled_with_429_are_sent_again(
    fake: FakeOpenSearch, store: OpenSearchVectorStore, kb: str
) -> None:
    fake.throttle_bulk_items(2)

    store.write(kb, [at(make_chunk(chunk_id), 10 + i) for i, chunk_id in enumerate("abcde")])

    first, second = fake.requests_to("_bulk")
    assert [line["index"]["_id"] for line in first.body[::2]] == list("abcde")
    assert [line["index"]["_id"] for line in second.body[::2]] == ["a", "b"]
    assert store.count(kb) == 5


def test_a_bulk_still_rejected_after_the_retries_is_a_transient_error(
    fake: FakeOpenSearch, store: OpenSearchVectorStore, kb: str, sleeps: list[float]
) -> None:
    fake.fail_next("_bulk", 10, status=503)

    with pytest.raises(TransientVectorStoreError, match="HTTP 503"):
        store.write(kb, [at(make_chunk("a"), 10)])

    assert len(fake.requests_to("_bulk")) == 4
    assert len(sleeps) == 3


def test_a_rejected_bulk_item_is_reported_by_chunk_id_without_document_content(
    fake: FakeOpenSearch, store: OpenSearchVectorStore, kb: str
) -> None:
    fake.reject_bulk_items(
        {"b"},
        "mapper_parsing_exception",
        "failed to parse field [text] of type [text]. Preview of field's value: 'confidential chunk text'",
    )

    with pytest.raises(VectorStoreError) as rejected:
        store.write(kb, [at(make_chunk("a"), 10), at(make_chunk("b", text="confidential chunk text"), 20)])

    message = str(rejected.value)
    assert "1 of 2 chunks" in message
    assert "b (mapper_parsing_exception: failed to parse field [text]" in message
    assert "confidential" not in message
    assert not isinstance(rejected.value, TransientVectorStoreError)


def test_a_refused_request_is_not_retried(
    fake: FakeOpenSearch, store: OpenSearchVectorStore, kb: str, sleeps: list[float]
) -> None:
    fake.fail_next("_search", 1, status=400)

    with pytest.raises(VectorStoreError, match="HTTP 400") as refused:
        store.search(kb, QUERY, k=3)

    assert not isinstance(refused.value, TransientVectorStoreError)
    assert sleeps == []


def test_an_overloaded_search_is_retried_then_answers(
    fake: FakeOpenSearch, store: OpenSearchVectorStore, kb: str, sleeps: list[float]
) -> None:
    store.write(kb, [at(make_chunk("a"), 10)])
    fake.fail_next("_search", 2, status=503)

    assert hit_ids(store.search(kb, QUERY, k=3)) == ["a"]
    assert len(sleeps) == 2


def test_ping_of_an_unreachable_cluster_fails_at_once_as_transient(
    make_store: Callable[..., OpenSearchVectorStore], sleeps: list[float]
) -> None:
    with FakeOpenSearch() as stopped:
        url = stopped.url
    store = make_store(url)

    with pytest.raises(TransientVectorStoreError, match="unreachable"):
        store.ping()
    assert sleeps == []


def test_writing_to_a_missing_kb_never_creates_an_index(
    fake: FakeOpenSearch, store: OpenSearchVectorStore
) -> None:
    with pytest.raises(IndexNotFoundError):
        store.write("never-created", [at(make_chunk("a"), 10)])

    assert fake.index_names() == set()


# --- the exact-search fallback ---------------------------------------------------------------------


@pytest.fixture
def short_store(
    make_store: Callable[..., OpenSearchVectorStore],
) -> Iterator[tuple[FakeOpenSearch, OpenSearchVectorStore]]:
    with FakeOpenSearch(knn_shortfall=True) as server:
        yield server, make_store(server.url)


def test_a_short_filtered_knn_is_completed_by_exact_search(
    short_store: tuple[FakeOpenSearch, OpenSearchVectorStore],
) -> None:
    fake, store = short_store
    store.create_index("kb", DIM)
    near = [at(make_chunk(f"near-{i}", collection="other"), 1 + i) for i in range(10)]
    far = [at(make_chunk(f"far-{i}", collection="wanted"), 40 + 5 * i) for i in range(8)]
    store.write("kb", near + far)

    hits = store.search("kb", QUERY, k=5, where=Eq("collection", "wanted"))

    assert hit_ids(hits) == [f"far-{i}" for i in range(5)]
    assert [hit.similarity for hit in hits] == pytest.approx(
        [float(np.cos(np.radians(40 + 5 * i))) for i in range(5)], abs=1e-5
    )
    kinds = [next(iter(request.body["query"])) for request in fake.requests_to("_search")]
    assert kinds == ["knn", "script_score"]


def test_no_exact_search_when_the_knn_already_found_every_match(
    fake: FakeOpenSearch, store: OpenSearchVectorStore, kb: str
) -> None:
    store.write(kb, [at(make_chunk(f"c{i}"), 10 * i) for i in range(3)])
    fake.clear_requests()

    assert len(store.search(kb, QUERY, k=10)) == 3

    assert [next(iter(request.body["query"])) for request in fake.requests_to("_search")] == ["knn"]
    assert len(fake.requests_to("_count")) == 1


# --- listing and counting at scale -----------------------------------------------------------------


def test_pages_beyond_the_result_window_are_reached_with_search_after(
    fake: FakeOpenSearch, make_store: Callable[..., OpenSearchVectorStore]
) -> None:
    with FakeOpenSearch(max_result_window=10) as small:
        store = make_store(small.url, result_window=10)
        store.create_index("deep", DIM)
        ids = [f"c{i:02d}" for i in range(35)]
        store.write("deep", [at(make_chunk(chunk_id, position=i), 30) for i, chunk_id in enumerate(ids)])

        pages = [store.list_chunks("deep", offset=offset, limit=7) for offset in range(0, 35, 7)]
        crossing = store.list_chunks("deep", offset=8, limit=15)
        past_the_end = store.list_chunks("deep", offset=40, limit=5)

        assert [chunk.chunk_id for page in pages for chunk in page.items] == ids
        assert {page.total for page in pages} == {35}
        assert [chunk.chunk_id for chunk in crossing.items] == ids[8:23]
        assert (past_the_end.items, past_the_end.total) == ([], 35)
        assert any("search_after" in request.body for request in small.requests_to("_search"))


def test_count_by_pages_through_more_values_than_one_aggregation_page(
    fake: FakeOpenSearch, store: OpenSearchVectorStore, kb: str
) -> None:
    store.write(kb, [ChunkWrite(make_chunk(f"c{i}", document_id=f"d{i:04d}"), QUERY) for i in range(1_005)])
    fake.clear_requests()

    counts = store.count_by(kb, "document_id")

    assert counts == {f"d{i:04d}": 1 for i in range(1_005)}
    assert len(fake.requests_to("_search")) == 2


# --- connection settings ---------------------------------------------------------------------------


def test_basic_auth_credentials_are_sent(
    fake: FakeOpenSearch, make_store: Callable[..., OpenSearchVectorStore]
) -> None:
    store = make_store(fake.url, username="kb-service", password="s3cret")

    store.ping()

    expected = "Basic " + base64.b64encode(b"kb-service:s3cret").decode()
    assert fake.requests[-1].headers["authorization"] == expected


def test_sigv4_without_boto3_is_a_clear_error(fake: FakeOpenSearch, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)

    with pytest.raises(VectorStoreError, match="pip install boto3"):
        build_client(opensearch_settings(fake.url, aws_region="eu-central-1"))


def test_basic_auth_and_sigv4_together_are_refused(fake: FakeOpenSearch) -> None:
    with pytest.raises(VectorStoreError, match="not both"):
        build_client(opensearch_settings(fake.url, aws_region="eu-central-1", username="u", password="p"))


# --- the fake itself -------------------------------------------------------------------------------


def test_the_fake_refuses_a_request_shape_it_does_not_know(
    fake: FakeOpenSearch, store: OpenSearchVectorStore, kb: str
) -> None:
    client = build_client(opensearch_settings(fake.url))
    try:
        body: dict[str, Any]
        for body in (
            {"query": {"multi_match": {"query": "x"}}},
            {"query": {"match_all": {}}, "highlight": {}},
        ):
            with pytest.raises(RequestError):
                client.search(index=f"kb-{kb}", body=body)
        with pytest.raises(RequestError, match="unrecognized parameter"):
            client.search(index=f"kb-{kb}", body={}, params={"routing": "x"})
    finally:
        client.close()


def test_the_fake_shows_writes_only_after_a_refresh(
    fake: FakeOpenSearch, store: OpenSearchVectorStore, kb: str
) -> None:
    client = build_client(opensearch_settings(fake.url))
    try:
        vector = angle_vector(10).tolist()
        source = {
            "chunk_id": "x",
            "collection": "c",
            "source_id": "s",
            "position": 0,
            "text": "t",
            "vector": vector,
        }
        client.bulk(body=[{"index": {"_id": "x"}}, source], index=f"kb-{kb}")
        assert store.count(kb) == 0
        client.indices.refresh(index=f"kb-{kb}")
        assert store.count(kb) == 1
    finally:
        client.close()
