"""The exact requests the OpenSearch store sends, written out by hand.

The expected bodies are literals, not built by the code under test: the fake and a real cluster
must see the same JSON, and a change to it should be a deliberate edit here.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from kb_service.config import OpenSearchStoreSettings
from kb_service.vectorstores.base import (
    And,
    Chunk,
    ChunkWrite,
    Eq,
    Exists,
    In,
    Not,
    Or,
    Prefix,
    Range,
    SearchQuery,
)
from kb_service.vectorstores.opensearch import OpenSearchVectorStore
from tests.fakes.opensearch import FakeOpenSearch, LoggedRequest

KB = "bodies"
QUERY = np.array([0.5, 0.25, -1.0, 0.125], dtype=np.float32)
QUERY_JSON = [0.5, 0.25, -1.0, 0.125]
SOURCE_EXCLUDES = ["vector", "meta_kw", "meta_num", "meta_date"]

EVERY_FILTER = And(
    (
        Eq("collection", "support"),
        In("metadata.Ticket Type", ("Bug", "Feature")),
        Exists("document_id"),
        Prefix("metadata.sku", "AB-"),
        Range("metadata.priority", "number", gte=2, lt=5),
        Range("metadata.opened", "date", gt=1704067200.0),
        Or((Eq("mx_entity", "Support.Ticket"), Not(Eq("metadata.a.b", "x")))),
        Or(()),
    )
)
EVERY_FILTER_QUERY = {
    "bool": {
        "filter": [
            {"term": {"collection": "support"}},
            {"terms": {"meta_kw.Ticket%20Type": ["Bug", "Feature"]}},
            {"exists": {"field": "document_id"}},
            {"prefix": {"meta_kw.sku": "AB-"}},
            {"range": {"meta_num.priority": {"gte": 2, "lt": 5}}},
            {"range": {"meta_date.opened": {"gt": 1704067200.0}}},
            {
                "bool": {
                    "should": [
                        {"term": {"mx_entity": "Support.Ticket"}},
                        {"bool": {"must_not": [{"term": {"meta_kw.a%2Eb": "x"}}]}},
                    ],
                    "minimum_should_match": 1,
                }
            },
            {"bool": {"must_not": [{"match_all": {}}]}},
        ]
    }
}


@pytest.fixture
def fake() -> Iterator[FakeOpenSearch]:
    with FakeOpenSearch(knn_shortfall=True) as server:
        yield server


@pytest.fixture
def store(fake: FakeOpenSearch) -> Iterator[OpenSearchVectorStore]:
    store = OpenSearchVectorStore(OpenSearchStoreSettings(kind="opensearch", hosts=[fake.url], max_retries=0))
    store.create_index(KB, 4)
    yield store
    store.close()


def only(requests: list[LoggedRequest]) -> LoggedRequest:
    assert len(requests) == 1, [request.path for request in requests]
    return requests[0]


def test_index_creation_body(fake: FakeOpenSearch, store: OpenSearchVectorStore) -> None:
    created = only([request for request in fake.requests if request.method == "PUT"])

    assert created.path == "/kb-bodies_v1"
    assert created.params == {}
    assert created.body == {
        "settings": {"index": {"knn": True, "knn.algo_param.ef_search": 128}},
        "aliases": {"kb-bodies": {}},
        "mappings": {
            "dynamic": "strict",
            "dynamic_templates": [
                {"meta_kw": {"path_match": "meta_kw.*", "mapping": {"type": "keyword"}}},
                {"meta_num": {"path_match": "meta_num.*", "mapping": {"type": "double"}}},
                {"meta_date": {"path_match": "meta_date.*", "mapping": {"type": "double"}}},
            ],
            "properties": {
                "vector": {
                    "type": "knn_vector",
                    "dimension": 4,
                    "method": {
                        "name": "hnsw",
                        "engine": "faiss",
                        "space_type": "cosinesimil",
                        "parameters": {"m": 16, "ef_construction": 128},
                    },
                },
                "chunk_id": {"type": "keyword"},
                "collection": {"type": "keyword"},
                "source_id": {"type": "keyword"},
                "document_id": {"type": "keyword"},
                "mx_object_id": {"type": "keyword"},
                "mx_entity": {"type": "keyword"},
                "human_readable_id": {"type": "keyword"},
                "text": {"type": "text"},
                "page": {"type": "integer"},
                "position": {"type": "integer"},
                "metadata": {"type": "object", "enabled": False},
                "meta_kw": {"type": "object", "dynamic": True},
                "meta_num": {"type": "object", "dynamic": True},
                "meta_date": {"type": "object", "dynamic": True},
            },
        },
    }


def test_filtered_knn_search_body(fake: FakeOpenSearch, store: OpenSearchVectorStore) -> None:
    store.search(KB, QUERY, k=7, where=EVERY_FILTER)

    search = only(fake.requests_to("_search"))
    assert search.path == "/kb-bodies/_search"
    assert search.params == {}
    assert search.body == {
        "size": 7,
        "_source": {"excludes": SOURCE_EXCLUDES},
        "query": {"knn": {"vector": {"vector": QUERY_JSON, "k": 7, "filter": EVERY_FILTER_QUERY}}},
    }


def test_shortfall_count_and_exact_search_bodies(fake: FakeOpenSearch, store: OpenSearchVectorStore) -> None:
    store.write(
        KB,
        [
            ChunkWrite(Chunk("near", "other", "t", "s"), QUERY),
            ChunkWrite(Chunk("far", "wanted", "t", "s"), np.array([0, 1, 0, 0], dtype=np.float32)),
        ],
    )
    fake.clear_requests()

    store.search(KB, QUERY, k=1, where=Eq("collection", "wanted"))

    assert only(fake.requests_to("_count")).body == {"query": {"term": {"collection": "wanted"}}}
    _, exact = fake.requests_to("_search")
    assert exact.body == {
        "size": 1,
        "_source": {"excludes": SOURCE_EXCLUDES},
        "query": {
            "script_score": {
                "query": {"term": {"collection": "wanted"}},
                "script": {
                    "lang": "painless",
                    "source": "1.0 + cosineSimilarity(params.query_value, doc[params.field])",
                    "params": {"field": "vector", "query_value": QUERY_JSON},
                },
            }
        },
    }


def test_bulk_request_lines(fake: FakeOpenSearch, store: OpenSearchVectorStore) -> None:
    full = Chunk(
        chunk_id="c-1",
        collection="support",
        text="Login fails",
        source_id="doc-9",
        metadata={"priority": "3", "opened": "2024-01-05", "a.b": "x", "Ticket Type": "Bug"},
        document_id="doc-9",
        page=2,
        human_readable_id="Ticket #9",
        mx_object_id="obj-1",
        mx_entity="Support.Ticket",
        position=4,
    )
    bare = Chunk(chunk_id="c-2", collection="support", text="Hi", source_id="job-1")

    store.write(KB, [ChunkWrite(full, QUERY), ChunkWrite(bare, QUERY)])

    bulk = only(fake.requests_to("_bulk"))
    assert bulk.path == "/kb-bodies/_bulk"
    assert bulk.params == {"refresh": "wait_for", "require_alias": "true"}
    assert bulk.body == [
        {"index": {"_id": "c-1"}},
        {
            "chunk_id": "c-1",
            "collection": "support",
            "source_id": "doc-9",
            "position": 4,
            "text": "Login fails",
            "metadata": {"priority": "3", "opened": "2024-01-05", "a.b": "x", "Ticket Type": "Bug"},
            "document_id": "doc-9",
            "page": 2,
            "human_readable_id": "Ticket #9",
            "mx_object_id": "obj-1",
            "mx_entity": "Support.Ticket",
            "meta_kw": {"priority": "3", "opened": "2024-01-05", "a%2Eb": "x", "Ticket%20Type": "Bug"},
            "meta_num": {"priority": 3.0},
            "meta_date": {"opened": 1704412800.0},
            "vector": QUERY_JSON,
        },
        {"index": {"_id": "c-2"}},
        {
            "chunk_id": "c-2",
            "collection": "support",
            "source_id": "job-1",
            "position": 0,
            "text": "Hi",
            "metadata": {},
            "vector": QUERY_JSON,
        },
    ]


def test_replacing_write_deletes_by_query_after_the_bulk(
    fake: FakeOpenSearch, store: OpenSearchVectorStore
) -> None:
    chunk = Chunk(chunk_id="o1-a", collection="c", text="t", source_id="s", mx_object_id="o1")

    store.write(KB, [ChunkWrite(chunk, QUERY)], delete_where=Eq("mx_object_id", "o1"))

    paths = [
        request.path for request in fake.requests if request.path.endswith(("_bulk", "_delete_by_query"))
    ]
    assert paths == ["/kb-bodies/_bulk", "/kb-bodies/_delete_by_query"]
    delete = only(fake.requests_to("_delete_by_query"))
    assert delete.params == {"refresh": "true", "conflicts": "proceed"}
    assert delete.body == {
        "query": {
            "bool": {
                "filter": [{"term": {"mx_object_id": "o1"}}],
                "must_not": [{"ids": {"values": ["o1-a"]}}],
            }
        }
    }


def test_delete_body(fake: FakeOpenSearch, store: OpenSearchVectorStore) -> None:
    store.delete(KB, Not(Exists("metadata.Status")))

    delete = only(fake.requests_to("_delete_by_query"))
    assert delete.path == "/kb-bodies/_delete_by_query"
    assert delete.params == {"refresh": "true", "conflicts": "proceed"}
    assert delete.body == {"query": {"bool": {"must_not": [{"exists": {"field": "meta_kw.Status"}}]}}}


def test_list_and_count_by_bodies(fake: FakeOpenSearch, store: OpenSearchVectorStore) -> None:
    store.list_chunks(KB, where=Eq("source_id", "s"), offset=20, limit=10)
    store.count_by(KB, "document_id")

    listing, grouping = fake.requests_to("_search")
    assert listing.body == {
        "query": {"term": {"source_id": "s"}},
        "sort": [
            {"collection": {"order": "asc"}},
            {"source_id": {"order": "asc"}},
            {"position": {"order": "asc"}},
            {"chunk_id": {"order": "asc"}},
        ],
        "size": 10,
        "from": 20,
        "track_total_hits": True,
        "_source": {"excludes": SOURCE_EXCLUDES},
    }
    assert grouping.body == {
        "size": 0,
        "query": {"match_all": {}},
        "aggs": {
            "by_value": {
                "composite": {"size": 1000, "sources": [{"value": {"terms": {"field": "document_id"}}}]}
            }
        },
    }


def test_keyword_search_body(fake: FakeOpenSearch, store: OpenSearchVectorStore) -> None:
    store.search_chunks(KB, SearchQuery(k=4, text="Login fails", mode="keyword", where=Eq("collection", "c")))

    search = only(fake.requests_to("_search"))
    assert search.path == "/kb-bodies/_search"
    assert search.params == {}
    assert search.body == {
        "size": 4,
        "_source": {"excludes": SOURCE_EXCLUDES},
        "query": {
            "bool": {
                "must": [{"match": {"text": {"query": "Login fails"}}}],
                "filter": [{"term": {"collection": "c"}}],
            }
        },
        "sort": [{"_score": {"order": "desc"}}, {"chunk_id": {"order": "asc"}}],
        "track_scores": True,
    }


def test_hybrid_search_bodies(fake: FakeOpenSearch, store: OpenSearchVectorStore) -> None:
    store.write(
        KB,
        [
            ChunkWrite(Chunk("near", "c", "nothing", "s"), QUERY),
            ChunkWrite(Chunk("worded", "c", "login fails", "s"), np.array([0, 1, 0, 0], dtype=np.float32)),
        ],
    )
    fake.clear_requests()

    store.search_chunks(
        KB,
        SearchQuery(
            k=1, vector=QUERY, text="login", mode="hybrid", candidates=1, where=Eq("collection", "c")
        ),
    )

    knn, keyword, cosines = fake.requests_to("_search")
    assert knn.body == {
        "size": 1,
        "_source": {"excludes": SOURCE_EXCLUDES},
        "query": {"knn": {"vector": {"vector": QUERY_JSON, "k": 1, "filter": {"term": {"collection": "c"}}}}},
    }
    assert keyword.body == {
        "size": 1,
        "_source": {"excludes": SOURCE_EXCLUDES},
        "query": {
            "bool": {
                "must": [{"match": {"text": {"query": "login"}}}],
                "filter": [{"term": {"collection": "c"}}],
            }
        },
        "sort": [{"_score": {"order": "desc"}}, {"chunk_id": {"order": "asc"}}],
        "track_scores": True,
    }
    # The cosine of the chunk only the keyword leg found, by the same exact script as the fallback.
    assert cosines.body == {
        "size": 1,
        "_source": False,
        "query": {
            "script_score": {
                "query": {"ids": {"values": ["worded"]}},
                "script": {
                    "lang": "painless",
                    "source": "1.0 + cosineSimilarity(params.query_value, doc[params.field])",
                    "params": {"field": "vector", "query_value": QUERY_JSON},
                },
            }
        },
    }


def test_update_metadata_body(fake: FakeOpenSearch, store: OpenSearchVectorStore) -> None:
    store.write(KB, [ChunkWrite(Chunk("c-1", "c", "t", "s", metadata={"old": "x", "a.b": "y"}), QUERY)])
    fake.clear_requests()

    assert (
        store.update_metadata(
            KB, Eq("collection", "c"), set={"priority": "3", "opened": "2024-01-05"}, remove=["a.b"]
        )
        == 1
    )

    update = only(fake.requests_to("_update_by_query"))
    assert update.path == "/kb-bodies/_update_by_query"
    assert update.params == {"refresh": "true", "conflicts": "proceed"}
    assert update.body == {
        "query": {"term": {"collection": "c"}},
        "script": {
            "lang": "painless",
            "source": (
                "def s = ctx._source;"
                " if (params.replace || s.metadata == null) { s.metadata = new HashMap(); }"
                " for (def p : ['meta_kw', 'meta_num', 'meta_date']) {"
                " if (params.replace || s[p] == null) { s[p] = new HashMap(); } }"
                " for (def r : params.remove) { s.metadata.remove(r.key); s.meta_kw.remove(r.field);"
                " s.meta_num.remove(r.field); s.meta_date.remove(r.field); }"
                " for (def e : params.set) { s.metadata[e.key] = e.value; s.meta_kw[e.field] = e.value;"
                " if (e.number != null) { s.meta_num[e.field] = e.number; }"
                " else { s.meta_num.remove(e.field); }"
                " if (e.date != null) { s.meta_date[e.field] = e.date; }"
                " else { s.meta_date.remove(e.field); } }"
                " for (def p : ['meta_kw', 'meta_num', 'meta_date']) { if (s[p].isEmpty()) { s.remove(p); } }"
            ),
            "params": {
                "replace": False,
                "set": [
                    {"key": "priority", "field": "priority", "value": "3", "number": 3.0, "date": None},
                    {
                        "key": "opened",
                        "field": "opened",
                        "value": "2024-01-05",
                        "number": None,
                        "date": 1704412800.0,
                    },
                ],
                "remove": [{"key": "a.b", "field": "a%2Eb"}],
            },
        },
    }
    document = fake.document("kb-bodies_v1", "c-1")
    assert document["metadata"] == {"old": "x", "priority": "3", "opened": "2024-01-05"}
    assert document["meta_kw"] == {"old": "x", "priority": "3", "opened": "2024-01-05"}
    assert document["meta_num"] == {"priority": 3.0}
    assert document["meta_date"] == {"opened": 1704412800.0}
    assert document["vector"] == QUERY_JSON


def test_vectors_of_body(fake: FakeOpenSearch, store: OpenSearchVectorStore) -> None:
    store.write(KB, [ChunkWrite(Chunk("c-1", "c", "t", "s"), QUERY)])
    fake.clear_requests()

    assert set(store.vectors_of(KB, ["c-1", "c-2", "c-1"])) == {"c-1"}

    assert only(fake.requests_to("_search")).body == {
        "size": 2,
        "_source": ["vector"],
        "query": {"ids": {"values": ["c-1", "c-2"]}},
    }
