"""Request bodies: the filter language as OpenSearch query DSL, and the search/list/count bodies.

Scores
    For ``space_type: cosinesimil`` the approximate ``knn`` query scores a hit
    ``(2 - d) / 2`` with ``d = 1 - cos``, i.e. ``(1 + cos) / 2`` (OpenSearch k-NN "Spaces"), so
    ``cos = 2 * score - 1``. The exact fallback uses the Painless ``cosineSimilarity`` extension in
    ``1.0 + cosineSimilarity(...)``, whose score is ``1 + cos`` on every version. The ``knn_score``
    script is avoided on purpose: its cosinesimil score changed from ``1 + cos`` to ``(1 + cos) / 2``
    in 2.19 (k-NN issue 2561), so converting it would depend on the cluster version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from kb_service.vectorstores._opensearch_schema import (
    DATE_PREFIX,
    JSON,
    KEYWORD_PREFIX,
    NUMBER_PREFIX,
    SOURCE_EXCLUDES,
    VECTOR_FIELD,
    encode_key,
)
from kb_service.vectorstores.base import (
    METADATA_PREFIX,
    SYSTEM_FIELDS,
    And,
    Eq,
    Exists,
    Filter,
    In,
    Not,
    Or,
    Prefix,
    Range,
    VectorStoreError,
    as_date,
    as_number,
    check_filter,
)

LIST_SORT: Final = [
    {"collection": {"order": "asc"}},
    {"source_id": {"order": "asc"}},
    {"position": {"order": "asc"}},
    {"chunk_id": {"order": "asc"}},
]
EXACT_SCRIPT: Final = "1.0 + cosineSimilarity(params.query_value, doc[params.field])"

FieldKind = Literal["keyword", "number", "date"]
_PREFIX_BY_KIND: dict[FieldKind, str] = {
    "keyword": KEYWORD_PREFIX,
    "number": NUMBER_PREFIX,
    "date": DATE_PREFIX,
}


def field_path(field: str, kind: FieldKind = "keyword") -> str:
    """The indexed field behind a filter field: a system field, or a typed metadata copy."""
    if field.startswith(METADATA_PREFIX):
        key = field[len(METADATA_PREFIX) :]
        if not key:
            raise VectorStoreError(f"filter field {field!r} names no metadata key")
        return f"{_PREFIX_BY_KIND[kind]}.{encode_key(key)}"
    if field in SYSTEM_FIELDS and kind == "keyword":
        return field
    if field in SYSTEM_FIELDS:
        raise VectorStoreError(f"range filters apply to metadata fields, not {field!r}")
    raise VectorStoreError(f"unknown filter field {field!r}")


def _translate(where: Filter) -> JSON:
    """The query clause matching exactly the chunks `where` matches."""
    match where:
        case Eq(field=field, value=value):
            return {"term": {field_path(field): value}}
        case In(field=field, values=values):
            return {"terms": {field_path(field): list(values)}}
        case Exists(field=field):
            return {"exists": {"field": field_path(field)}}
        case Prefix(field=field, value=value):
            return {"prefix": {field_path(field): value}}
        case Range(field=field, kind=kind):
            bounds = {
                name: bound
                for name, bound in (
                    ("gt", where.gt),
                    ("gte", where.gte),
                    ("lt", where.lt),
                    ("lte", where.lte),
                )
                if bound is not None
            }
            return {"range": {field_path(field, kind): bounds}}
        case And(items=items):
            if not items:
                return {"match_all": {}}
            return {"bool": {"filter": [_translate(item) for item in items]}}
        case Or(items=items):
            if not items:
                # An empty bool query matches every document in OpenSearch; an empty Or matches none.
                return {"bool": {"must_not": [{"match_all": {}}]}}
            return {"bool": {"should": [_translate(item) for item in items], "minimum_should_match": 1}}
        case Not(item=item):
            return {"bool": {"must_not": [_translate(item)]}}
    raise VectorStoreError(f"unsupported filter {type(where).__name__}")


def translate(where: Filter) -> JSON:
    """The bool query for a filter, after the same validation every store applies."""
    check_filter(where)
    return _translate(where)


def query(where: Filter | None) -> JSON:
    return translate(where) if where is not None else {"match_all": {}}


def knn_body(vector: list[float], k: int, where: Filter | None) -> JSON:
    """Approximate search with efficient filtering: the filter is applied during the graph search."""
    knn: JSON = {"vector": vector, "k": k}
    if where is not None:
        knn["filter"] = translate(where)
    return {
        "size": k,
        "_source": {"excludes": list(SOURCE_EXCLUDES)},
        "query": {"knn": {VECTOR_FIELD: knn}},
    }


def exact_body(vector: list[float], k: int, where: Filter | None) -> JSON:
    """Brute-force cosine over exactly the filtered chunks."""
    return {
        "size": k,
        "_source": {"excludes": list(SOURCE_EXCLUDES)},
        "query": {
            "script_score": {
                "query": query(where),
                "script": {
                    "lang": "painless",
                    "source": EXACT_SCRIPT,
                    "params": {"field": VECTOR_FIELD, "query_value": vector},
                },
            }
        },
    }


def similarity_from_knn_score(score: float) -> float:
    return _clamp(2.0 * score - 1.0)


def similarity_from_exact_score(score: float) -> float:
    return _clamp(score - 1.0)


def _clamp(cosine: float) -> float:
    return max(-1.0, min(1.0, cosine))


def list_body(
    where: Filter | None,
    *,
    size: int,
    offset: int = 0,
    search_after: Sequence[Any] | None = None,
    with_source: bool = True,
) -> JSON:
    body: JSON = {
        "query": query(where),
        "sort": [dict(key) for key in LIST_SORT],
        "size": size,
        "track_total_hits": True,
        "_source": {"excludes": list(SOURCE_EXCLUDES)} if with_source else False,
    }
    if search_after is not None:
        body["search_after"] = list(search_after)
    elif offset:
        body["from"] = offset
    return body


def count_by_body(field: str, where: Filter | None, *, page_size: int, after: JSON | None) -> JSON:
    """One page of a composite terms aggregation; composite pages cover any number of values."""
    if field not in SYSTEM_FIELDS:
        raise VectorStoreError(f"chunks can be counted by {', '.join(SYSTEM_FIELDS)}; not by {field!r}")
    composite: JSON = {"size": page_size, "sources": [{"value": {"terms": {"field": field_path(field)}}}]}
    if after is not None:
        composite["after"] = after
    return {"size": 0, "query": query(where), "aggs": {"by_value": {"composite": composite}}}


def delete_query(where: Filter, keep_ids: Sequence[str] = ()) -> JSON:
    """Chunks matching `where`, except those with the given ids."""
    if not keep_ids:
        return translate(where)
    return {"bool": {"filter": [translate(where)], "must_not": [{"ids": {"values": list(keep_ids)}}]}}


# --- keyword search, similarity look-ups and metadata edits --------------------------------------

TEXT_FIELD: Final = "text"
KEYWORD_SORT: Final = [{"_score": {"order": "desc"}}, {"chunk_id": {"order": "asc"}}]


def keyword_body(text: str, size: int, where: Filter | None) -> JSON:
    """BM25 over the analysed `text` field (any of the query's terms), inside the filter; equal
    scores ordered by chunk id so the ranking is deterministic (and the same as the embedded
    store's tie-break)."""
    boolean: JSON = {"must": [{"match": {TEXT_FIELD: {"query": text}}}]}
    if where is not None:
        boolean["filter"] = [translate(where)]
    return {
        "size": size,
        "_source": {"excludes": list(SOURCE_EXCLUDES)},
        "query": {"bool": boolean},
        "sort": [dict(key) for key in KEYWORD_SORT],
        "track_scores": True,
    }


def vectors_body(chunk_ids: Sequence[str]) -> JSON:
    """The stored vectors of the given chunks (ids are chunk ids), and nothing else of them."""
    return {"size": len(chunk_ids), "_source": [VECTOR_FIELD], "query": {"ids": {"values": list(chunk_ids)}}}


def similarity_body(vector: list[float], chunk_ids: Sequence[str]) -> JSON:
    """The exact cosine of the given chunks to the query vector (score 1 + cos), without sources."""
    return {
        "size": len(chunk_ids),
        "_source": False,
        "query": {
            "script_score": {
                "query": {"ids": {"values": list(chunk_ids)}},
                "script": {
                    "lang": "painless",
                    "source": EXACT_SCRIPT,
                    "params": {"field": VECTOR_FIELD, "query_value": vector},
                },
            }
        },
    }


# Rewrites the stored metadata map and its three typed copies; `params.set` carries each new value
# with its encoded field name and its number / date readings (computed here with as_number /
# as_date, so both stores read values the same way and the script parses nothing).
UPDATE_METADATA_SCRIPT: Final = (
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
)


def update_metadata_body(
    where: Filter, set_values: Mapping[str, str], remove: Sequence[str], replace: bool
) -> JSON:
    return {
        "query": translate(where),
        "script": {
            "lang": "painless",
            "source": UPDATE_METADATA_SCRIPT,
            "params": {
                "replace": replace,
                "set": [
                    {
                        "key": key,
                        "field": encode_key(key),
                        "value": value,
                        "number": as_number(value),
                        "date": as_date(value),
                    }
                    for key, value in set_values.items()
                ],
                "remove": [{"key": key, "field": encode_key(key)} for key in remove],
            },
        },
    }
