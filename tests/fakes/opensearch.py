"""A loopback fake of the OpenSearch REST API: just the requests the vector store sends, done properly.

`FakeOpenSearch` is a real HTTP server on 127.0.0.1, so the store runs with the real opensearch-py
client and transport. It follows OpenSearch's documented semantics where the store relies on them:

- index creation validates settings, mappings (``knn_vector`` with an ``hnsw`` method and the
  ``cosinesimil`` space) and aliases; index names follow OpenSearch's rules;
- ``_bulk`` checks every document against the mapping (strict dynamic mapping, dynamic templates,
  vector dimension, no zero vectors for cosine) and answers per item, with ``require_alias``;
- documents become searchable only on refresh (``refresh=true|wait_for`` or ``_refresh``); there is
  no periodic refresh, so a store that forgets to refresh fails here as well as on a cluster;
- ``knn`` scores ``(1 + cos) / 2`` as float32 and applies its ``filter`` during the search (exact
  brute force, which is what efficient filtering returns for small sets); with
  ``knn_shortfall=True`` it instead takes the unfiltered top k and filters afterwards, the way an
  approximate search can come back short;
- ``script_score`` runs the Painless ``1.0 + cosineSimilarity(params.query_value, doc[params.field])``;
- bool/term/terms/prefix/exists/range/ids/match_all; an empty bool query matches everything and a
  query on an unmapped field matches nothing, as in OpenSearch; sort, from/size (bounded by
  max_result_window), search_after, track_total_hits, ``_source`` includes/excludes, composite
  aggregations, ``_count``, ``_delete_by_query``.

Anything else - an unknown endpoint, parameter, body key or query - is a 400 with an
OpenSearch-shaped error, so a new request shape fails loudly instead of being half-understood.

Tests can read `requests` (method, path, parameters, parsed body, headers) to pin what was sent,
make the next requests to an endpoint fail (`fail_next`), throttle bulk items with per-item 429s
(`throttle_bulk_items`) and reject chosen documents (`reject_bulk_items`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import numpy as np

# The vector store's metadata-edit script: the fake recognises it and applies its params in
# `_edit_metadata` (test_opensearch_bodies pins its text independently).
from kb_service.vectorstores._opensearch_query import UPDATE_METADATA_SCRIPT

RESULT_WINDOW = 10_000
EXACT_SCRIPT = "1.0 + cosineSimilarity(params.query_value, doc[params.field])"
_KNOWN_SETTINGS = {
    "index.knn",
    "index.knn.algo_param.ef_search",
    "index.number_of_shards",
    "index.number_of_replicas",
    "index.refresh_interval",
}
_SCALAR_TYPES = {"keyword", "text", "integer", "long", "double", "float", "boolean"}
_ENDPOINT_PARAMS: dict[str, set[str]] = {
    "_bulk": {"refresh", "require_alias"},
    "_delete_by_query": {"refresh", "conflicts"},
    "_update_by_query": {"refresh", "conflicts"},
    "_search": set(),
    "_count": set(),
    "_mapping": set(),
    "_refresh": set(),
    "_alias": set(),
    "_cluster": set(),
    "": set(),
    "index": set(),
}


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    params: dict[str, str]
    # Parsed JSON, a list of parsed lines for NDJSON, or None without a body.
    body: Any
    headers: dict[str, str]


class OpenSearchError(Exception):
    def __init__(self, status: int, error_type: str, reason: str, caused_by: dict[str, Any] | None = None):
        super().__init__(reason)
        self.status = status
        self.error_type = error_type
        self.reason = reason
        self.caused_by = caused_by

    def error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "reason": self.reason}
        if self.caused_by:
            error["caused_by"] = self.caused_by
        return error

    def body(self) -> dict[str, Any]:
        root = {"type": self.error_type, "reason": self.reason}
        return {"error": {"root_cause": [root], **self.error()}, "status": self.status}


def _bad_request(reason: str, error_type: str = "illegal_argument_exception") -> OpenSearchError:
    return OpenSearchError(400, error_type, reason)


def _index_not_found(name: str) -> OpenSearchError:
    return OpenSearchError(404, "index_not_found_exception", f"no such index [{name}]")


# --- indices and mappings --------------------------------------------------------------------------


@dataclass
class _Index:
    name: str
    settings: dict[str, str]
    mappings: dict[str, Any]
    # Leaf field path -> type, from the explicit properties and then from dynamic templates.
    fields: dict[str, str] = field(default_factory=dict)
    # Object paths that are stored but not indexed (enabled: false) or accept new fields.
    disabled: set[str] = field(default_factory=set)
    dynamic_objects: dict[str, str] = field(default_factory=dict)
    dimensions: dict[str, int] = field(default_factory=dict)
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    visible: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    def refresh(self) -> None:
        self.visible = dict(self.docs)


def _flatten_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten_settings(value, f"{path}.")
        else:
            flat[path if path.startswith("index.") else f"index.{path}"] = json.dumps(value).strip('"')
    return flat


def _parse_mappings(index: _Index) -> None:
    mappings = index.mappings
    unknown = set(mappings) - {"dynamic", "dynamic_templates", "properties"}
    if unknown:
        raise _bad_request(
            f"Root mapping definition has unsupported parameters: {sorted(unknown)}",
            "mapper_parsing_exception",
        )
    index.dynamic_objects[""] = _dynamic_value(mappings.get("dynamic", True))
    for template in mappings.get("dynamic_templates", []):
        ((_, definition),) = template.items()
        if set(definition) - {"path_match", "mapping"} or "type" not in definition.get("mapping", {}):
            raise _bad_request(f"fake: unsupported dynamic template {template}", "mapper_parsing_exception")
    _parse_properties(index, mappings.get("properties", {}), "")


def _dynamic_value(value: Any) -> str:
    text = str(value).lower()
    if text not in {"true", "false", "strict"}:
        raise _bad_request(
            f"Could not convert [dynamic] to boolean or strict: [{value}]", "mapper_parsing_exception"
        )
    return text


def _parse_properties(index: _Index, properties: dict[str, Any], prefix: str) -> None:
    for name, definition in properties.items():
        path = f"{prefix}{name}"
        kind = definition.get("type", "object")
        if kind == "object":
            if set(definition) - {"type", "enabled", "dynamic", "properties"}:
                raise _bad_request(f"unknown parameters on object [{path}]", "mapper_parsing_exception")
            if definition.get("enabled", True) is False:
                index.disabled.add(path)
                continue
            if "dynamic" in definition:
                index.dynamic_objects[path] = _dynamic_value(definition["dynamic"])
            _parse_properties(index, definition.get("properties", {}), f"{path}.")
        elif kind == "knn_vector":
            _parse_knn_vector(index, path, definition)
        elif kind in _SCALAR_TYPES:
            if set(definition) - {"type"}:
                raise _bad_request(f"fake: unsupported parameters on [{path}]", "mapper_parsing_exception")
            index.fields[path] = kind
        else:
            raise _bad_request(
                f"No handler for type [{kind}] declared on field [{name}]", "mapper_parsing_exception"
            )


def _parse_knn_vector(index: _Index, path: str, definition: dict[str, Any]) -> None:
    if set(definition) - {"type", "dimension", "method"}:
        raise _bad_request(f"fake: unsupported knn_vector parameters on [{path}]", "mapper_parsing_exception")
    dimension = definition.get("dimension")
    if not isinstance(dimension, int) or not 1 <= dimension <= 16_000:
        raise _bad_request(
            f"Dimension value must be between 1 and 16000 for [{path}]", "mapper_parsing_exception"
        )
    method = definition.get("method", {})
    if method.get("name") != "hnsw" or method.get("engine") not in {"faiss", "lucene", "nmslib"}:
        raise _bad_request(f"fake: unsupported k-NN method {method}", "mapper_parsing_exception")
    if method.get("space_type") != "cosinesimil":
        raise _bad_request("fake: only the cosinesimil space is implemented", "mapper_parsing_exception")
    if set(method.get("parameters", {})) - {"m", "ef_construction"}:
        raise _bad_request(
            f"fake: unknown hnsw parameters {method['parameters']}", "mapper_parsing_exception"
        )
    if method["engine"] != "lucene" and index.settings.get("index.knn") != "true":
        raise _bad_request(
            f"index.knn must be true for a {method['engine']} knn_vector", "mapper_parsing_exception"
        )
    index.fields[path] = "knn_vector"
    index.dimensions[path] = dimension


def _wildcard(pattern: str, text: str) -> bool:
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), text) is not None


def _mapping_view(index: _Index) -> dict[str, Any]:
    """The mapping with dynamically added fields merged in, as GET _mapping shows it."""
    view: dict[str, Any] = json.loads(json.dumps(index.mappings))
    for path, kind in index.fields.items():
        parts = path.split(".")
        node = view.setdefault("properties", {})
        for part in parts[:-1]:
            node = node.setdefault(part, {}).setdefault("properties", {})
        node.setdefault(parts[-1], {"type": kind})
    return view


# --- documents ---------------------------------------------------------------------------------


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(child, f"{path}.{key}" if path else key)
    else:
        yield path, value


def _check_document(index: _Index, source: dict[str, Any]) -> dict[str, str]:
    """Validate a document against the mapping; returns the new dynamic fields it introduces."""
    added: dict[str, str] = {}
    for key, value in source.items():
        if key in index.disabled:
            continue
        for path, leaf in _leaves(value, key) if key not in index.fields else [(key, value)]:
            kind = index.fields.get(path) or added.get(path) or _dynamic_field(index, path, added)
            _check_value(index, path, kind, leaf)
    return added


def _dynamic_field(index: _Index, path: str, added: dict[str, str]) -> str:
    # The nearest enclosing object with its own setting decides, as in OpenSearch.
    parent = path
    dynamic = index.dynamic_objects[""]
    while "." in parent:
        parent = parent.rsplit(".", 1)[0]
        if parent in index.dynamic_objects:
            dynamic = index.dynamic_objects[parent]
            break
    if dynamic == "strict":
        raise _bad_request(
            f"mapping set to strict, dynamic introduction of [{path}] within [_doc] is not allowed",
            "strict_dynamic_mapping_exception",
        )
    if dynamic == "false":
        return "unindexed"
    for existing in (*index.fields, *added):
        if path.startswith(f"{existing}.") or existing.startswith(f"{path}."):
            raise _bad_request(
                f"can't merge a non object mapping [{existing}] with an object mapping",
                "mapper_parsing_exception",
            )
    for template in index.mappings.get("dynamic_templates", []):
        ((_, definition),) = template.items()
        if _wildcard(definition["path_match"], path):
            added[path] = definition["mapping"]["type"]
            return added[path]
    raise _bad_request(f"fake: no dynamic template maps the new field [{path}]", "mapper_parsing_exception")


def _check_value(index: _Index, path: str, kind: str, value: Any) -> None:
    if kind == "knn_vector":
        _check_vector(index, path, value)
        return
    for item in value if isinstance(value, list) else [value]:
        ok = {
            "keyword": isinstance(item, str | int | float | bool),
            "text": isinstance(item, str),
            "integer": isinstance(item, int) and not isinstance(item, bool),
            "long": isinstance(item, int) and not isinstance(item, bool),
            "double": isinstance(item, int | float) and not isinstance(item, bool),
            "float": isinstance(item, int | float) and not isinstance(item, bool),
            "boolean": isinstance(item, bool),
            "unindexed": True,
        }[kind]
        if not ok and item is not None:
            raise _bad_request(
                f"failed to parse field [{path}] of type [{kind}]. Preview of field's value: '{item}'",
                "mapper_parsing_exception",
            )


def _check_vector(index: _Index, path: str, value: Any) -> None:
    failure = f"failed to parse field [{path}] of type [knn_vector]"
    if not isinstance(value, list) or not all(isinstance(x, int | float) for x in value):
        raise _bad_request(failure, "mapper_parsing_exception")
    expected = index.dimensions[path]
    if len(value) != expected:
        raise OpenSearchError(
            400,
            "mapper_parsing_exception",
            failure,
            {
                "type": "illegal_argument_exception",
                "reason": f"Vector dimension mismatch. Expected: {expected}, Given: {len(value)}",
            },
        )
    if not any(value):
        raise OpenSearchError(
            400,
            "mapper_parsing_exception",
            failure,
            {
                "type": "illegal_argument_exception",
                "reason": "zero vector is not supported when space type is [cosinesimil]",
            },
        )


def _values(source: dict[str, Any], path: str) -> list[Any]:
    """The leaf values at a dotted path, through objects and arrays."""
    nodes: list[Any] = [source]
    for part in path.split("."):
        nodes = [
            child
            for node in nodes
            for item in (node if isinstance(node, list) else [node])
            if isinstance(item, dict) and (child := item.get(part)) is not None
        ]
    flat: list[Any] = []
    for node in nodes:
        flat.extend(node if isinstance(node, list) else [node])
    return [value for value in flat if value is not None]


# --- queries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Doc:
    index: _Index
    doc_id: str
    source: dict[str, Any]


def _clauses(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else [value]


def _single(body: Any, query_type: str) -> tuple[str, Any]:
    if not isinstance(body, dict) or len(body) != 1:
        raise _bad_request(f"[{query_type}] query malformed, expected one field", "parsing_exception")
    ((name, value),) = body.items()
    return name, value


def _typed(doc: _Doc, path: str, kinds: set[str]) -> list[Any] | None:
    """The doc's values of a mapped field; None when the field is unmapped in the doc's index."""
    kind = doc.index.fields.get(path)
    if kind is None or kind == "unindexed":
        return None
    if kind not in kinds:
        raise _bad_request(
            f"fake: field [{path}] of type [{kind}] does not support this query", "query_shard_exception"
        )
    return _values(doc.source, path)


def _as_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad_request(f"[range] bound [{value}] is not a number", "parsing_exception")
    return float(value)


_LEAF_QUERIES = {"match_all", "ids", "exists", "term", "terms", "prefix", "range", "match"}
# Han, Hiragana and Katakana characters are tokens of their own, as in the standard tokenizer.
_UNSPACED = re.compile("([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")
_BM25_K1, _BM25_B = 1.2, 0.75


def analyze(text: str) -> list[str]:
    """A stand-in for the standard analyzer: Unicode words, lower-cased, CJK characters apart."""
    return re.findall(r"[^\W_]+", _UNSPACED.sub(r" \1 ", text).lower())


def _match_terms(body: Any) -> tuple[str, list[str]]:
    name, options = _single(body, "match")
    if isinstance(options, dict):
        if set(options) - {"query"}:
            raise _bad_request(f"fake: unsupported match options {sorted(options)}", "parsing_exception")
        options = options["query"]
    if not isinstance(options, str):
        raise _bad_request("[match] query text must be a string", "parsing_exception")
    return name, list(dict.fromkeys(analyze(options)))


def _text_terms(doc: _Doc, name: str) -> list[str] | None:
    values = _typed(doc, name, {"text"})
    return None if values is None else [term for value in values for term in analyze(str(value))]


def validate(query: Any) -> None:
    """Refuse unknown query types up front; evaluation alone would miss them on an empty index."""
    query_type, body = _single(query, "query")
    if query_type == "bool":
        if not isinstance(body, dict):
            raise _bad_request("[bool] query malformed", "parsing_exception")
        for occurrence in ("must", "filter", "should", "must_not"):
            for clause in _clauses(body.get(occurrence, [])):
                validate(clause)
    elif query_type not in _LEAF_QUERIES:
        raise _bad_request(f"unknown query [{query_type}]", "parsing_exception")


def matches(query: dict[str, Any], doc: _Doc) -> bool:
    """Whether a (non-scoring) query clause matches a document."""
    query_type, body = _single(query, "query")
    if query_type == "match_all":
        return True
    if query_type == "bool":
        return _bool_matches(body, doc)
    if query_type == "ids":
        return doc.doc_id in body["values"]
    if query_type == "exists":
        values = _typed(
            doc, body["field"], {"keyword", "integer", "long", "double", "float", "text", "knn_vector"}
        )
        return bool(values)
    name, value = _single(body, query_type)
    if query_type in {"term", "terms", "prefix"}:
        values = _typed(doc, name, {"keyword"})
        if values is None:
            return False
        strings = {str(v) for v in values}
        if query_type == "term":
            return str(value["value"] if isinstance(value, dict) else value) in strings
        if query_type == "terms":
            return bool(strings & {str(v) for v in value})
        prefix = value["value"] if isinstance(value, dict) else value
        return any(s.startswith(prefix) for s in strings)
    if query_type == "range":
        return _range_matches(doc, name, value)
    if query_type == "match":
        field_name, wanted = _match_terms(body)
        tokens = _text_terms(doc, field_name)
        return tokens is not None and bool(set(wanted) & set(tokens))
    raise _bad_request(f"unknown query [{query_type}]", "parsing_exception")


def _range_matches(doc: _Doc, name: str, bounds: dict[str, Any]) -> bool:
    if set(bounds) - {"gt", "gte", "lt", "lte"}:
        raise _bad_request(f"fake: unsupported range parameters {sorted(bounds)}", "parsing_exception")
    values = _typed(doc, name, {"integer", "long", "double", "float"})
    checks: dict[str, Callable[[float, float], bool]] = {
        "gt": lambda v, b: v > b,
        "gte": lambda v, b: v >= b,
        "lt": lambda v, b: v < b,
        "lte": lambda v, b: v <= b,
    }
    return any(
        all(checks[op](float(v), _as_number(bound)) for op, bound in bounds.items()) for v in values or []
    )


def _bool_matches(body: dict[str, Any], doc: _Doc) -> bool:
    if set(body) - {"must", "filter", "should", "must_not", "minimum_should_match"}:
        raise _bad_request(f"[bool] query does not support {sorted(body)}", "parsing_exception")
    must = _clauses(body.get("must", [])) + _clauses(body.get("filter", []))
    should = _clauses(body.get("should", []))
    must_not = _clauses(body.get("must_not", []))
    if not (must or should or must_not):
        return True
    if not all(matches(clause, doc) for clause in must):
        return False
    if any(matches(clause, doc) for clause in must_not):
        return False
    minimum = int(body.get("minimum_should_match", 0 if must else 1 if should else 0))
    return sum(matches(clause, doc) for clause in should) >= minimum


def _cosines(docs: list[_Doc], field_name: str, query_vector: Any) -> list[float]:
    if not docs:
        return []
    dimension = docs[0].index.dimensions.get(field_name)
    if dimension is None:
        raise _bad_request(f"Field '{field_name}' is not knn_vector type.", "query_shard_exception")
    query = np.asarray(query_vector, dtype=np.float32)
    if query.shape != (dimension,):
        raise _bad_request(
            f"Query vector has invalid dimension: {query.shape[0]}. Dimension should be: {dimension}",
            "query_shard_exception",
        )
    if not query.any():
        raise _bad_request("zero vector is not supported when space type is [cosinesimil]")
    matrix = np.asarray([doc.source[field_name] for doc in docs], dtype=np.float32)
    cos = (matrix @ query) / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    return [float(c) for c in cos]


@dataclass
class _Searcher:
    docs: list[_Doc]
    knn_shortfall: bool
    text_stats: dict[str, tuple[int, float, dict[str, int]]] = field(default_factory=dict)

    def scored(self, query: dict[str, Any]) -> list[tuple[_Doc, float | None]]:
        """Matching docs with scores (None for non-scoring queries), best first for scoring ones."""
        query_type, body = _single(query, "query")
        if query_type == "knn":
            return self._knn(body)
        if query_type == "script_score":
            return self._script_score(body)
        validate(query)
        found = [doc for doc in self.docs if matches(query, doc)]
        return [(doc, self._score(query, doc)) for doc in found]

    def _score(self, query: dict[str, Any], doc: _Doc) -> float:
        """BM25 (k1 1.2, b 0.75, Lucene's idf) of the match clauses in scoring position, summed as a
        bool query sums them; other clauses score 1.0, filter clauses nothing."""
        query_type, body = _single(query, "query")
        if query_type == "match":
            return self._bm25(body, doc)
        if query_type == "bool":
            scoring = _clauses(body.get("must", [])) + _clauses(body.get("should", []))
            return sum(self._score(clause, doc) for clause in scoring if matches(clause, doc)) or 0.0
        return 1.0

    def _bm25(self, body: Any, doc: _Doc) -> float:
        field_name, wanted = _match_terms(body)
        stats = self._stats(field_name)
        tokens = _text_terms(doc, field_name) or []
        count, average, frequency = stats
        score = 0.0
        for term in wanted:
            tf = tokens.count(term)
            if not tf:
                continue
            idf = float(np.log(1 + (count - frequency[term] + 0.5) / (frequency[term] + 0.5)))
            norm = _BM25_K1 * (1 - _BM25_B + _BM25_B * len(tokens) / average)
            score += idf * tf * (_BM25_K1 + 1) / (tf + norm)
        return float(np.float32(score))

    def _stats(self, field_name: str) -> tuple[int, float, dict[str, int]]:
        if field_name not in self.text_stats:
            frequency: dict[str, int] = {}
            lengths = []
            for doc in self.docs:
                tokens = _text_terms(doc, field_name)
                if tokens is None:
                    continue
                lengths.append(len(tokens))
                for term in set(tokens):
                    frequency[term] = frequency.get(term, 0) + 1
            average = sum(lengths) / len(lengths) if lengths else 1.0
            self.text_stats[field_name] = (len(lengths), average or 1.0, frequency)
        return self.text_stats[field_name]

    def _knn(self, body: Any) -> list[tuple[_Doc, float | None]]:
        field_name, knn = _single(body, "knn")
        if set(knn) - {"vector", "k", "filter"}:
            raise _bad_request(f"fake: unsupported knn parameters {sorted(knn)}", "parsing_exception")
        k = knn["k"]
        if not isinstance(k, int) or not 1 <= k <= RESULT_WINDOW:
            raise _bad_request(
                f"[knn] requires k to be in the range [1, {RESULT_WINDOW}]", "parsing_exception"
            )
        where = knn.get("filter")
        if where is not None:
            validate(where)
        candidates = self.docs
        if where is not None and not self.knn_shortfall:
            candidates = [doc for doc in candidates if matches(where, doc)]
        candidates = [doc for doc in candidates if field_name in doc.source]
        scores = [float(np.float32((1.0 + c) / 2.0)) for c in _cosines(candidates, field_name, knn["vector"])]
        ranked = sorted(zip(candidates, scores, strict=True), key=lambda pair: -pair[1])[:k]
        if where is not None and self.knn_shortfall:
            ranked = [(doc, score) for doc, score in ranked if matches(where, doc)]
        return list(ranked)

    def _script_score(self, body: dict[str, Any]) -> list[tuple[_Doc, float | None]]:
        script = body.get("script", {})
        if script.get("source") != EXACT_SCRIPT or script.get("lang", "painless") != "painless":
            raise _bad_request(f"fake: unsupported script {script.get('source')!r}", "script_exception")
        params = script["params"]
        validate(body.get("query", {"match_all": {}}))
        candidates = [doc for doc in self.docs if matches(body.get("query", {"match_all": {}}), doc)]
        if any(params["field"] not in doc.source for doc in candidates):
            raise _bad_request("fake: a matching document has no vector", "script_exception")
        cosines = _cosines(candidates, params["field"], params["query_value"])
        scored = [(doc, float(np.float32(1.0 + c))) for doc, c in zip(candidates, cosines, strict=True)]
        return sorted(scored, key=lambda pair: -(pair[1] or 0.0))


def _sort_spec(sort: Any) -> list[tuple[str, bool]]:
    spec: list[tuple[str, bool]] = []
    for item in sort if isinstance(sort, list) else [sort]:
        if isinstance(item, str):
            spec.append((item, False))
            continue
        ((name, order),) = item.items()
        direction = order.get("order", "asc") if isinstance(order, dict) else order
        if isinstance(order, dict) and set(order) - {"order"}:
            raise _bad_request(f"fake: unsupported sort options {order}", "parsing_exception")
        spec.append((name, direction == "desc"))
    return spec


def _sort_values(doc: _Doc, spec: list[tuple[str, bool]], score: float | None) -> list[Any]:
    values: list[Any] = []
    for name, descending in spec:
        if name == "_score":
            values.append(score)
            continue
        kind = doc.index.fields.get(name)
        if kind is None:
            raise _bad_request(f"No mapping found for [{name}] in order to sort on", "query_shard_exception")
        if kind in {"text", "knn_vector"}:
            raise _bad_request(f"Text fields are not optimised for sorting [{name}]")
        present = _values(doc.source, name)
        values.append((max if descending else min)(present) if present else None)
    return values


def _sort_key(values: list[Any], spec: list[tuple[str, bool]]) -> tuple[Any, ...]:
    """Missing values sort last in either direction, as OpenSearch's default `missing: _last`."""
    key: list[Any] = []
    for value, (_, descending) in zip(values, spec, strict=True):
        if value is None:
            key.append((1, 0))
        elif isinstance(value, str):
            key.append((0, _Reversed(value) if descending else value))
        else:
            key.append((0, -value if descending else value))
    return tuple(key)


@dataclass(frozen=True)
class _Reversed:
    value: str

    def __lt__(self, other: _Reversed) -> bool:
        return self.value > other.value


def _filter_source(source: dict[str, Any], spec: Any) -> dict[str, Any] | None:
    if spec is True or spec is None:
        return source
    if spec is False:
        return None
    if isinstance(spec, str | list):
        spec = {"includes": spec}
    if set(spec) - {"includes", "excludes"}:
        raise _bad_request(f"fake: unsupported _source options {spec}", "parsing_exception")
    includes = [spec["includes"]] if isinstance(spec.get("includes"), str) else spec.get("includes", [])
    excludes = [spec["excludes"]] if isinstance(spec.get("excludes"), str) else spec.get("excludes", [])

    def keep(path: str) -> bool:
        excluded = any(_wildcard(p, path) or path.startswith(f"{p}.") for p in excludes)
        included = not includes or any(
            _wildcard(p, path) or path.startswith(f"{p}.") or p.startswith(f"{path}.") for p in includes
        )
        return included and not excluded

    def walk(node: dict[str, Any], prefix: str) -> dict[str, Any]:
        kept: dict[str, Any] = {}
        for key, value in node.items():
            path = f"{prefix}{key}"
            if not keep(path):
                continue
            kept[key] = walk(value, f"{path}.") if isinstance(value, dict) else value
        return kept

    return walk(source, "")


def _composite(docs: list[_Doc], body: dict[str, Any]) -> dict[str, Any]:
    if set(body) - {"size", "sources", "after"} or len(body.get("sources", [])) != 1:
        raise _bad_request(f"fake: unsupported composite aggregation {body}", "parsing_exception")
    ((source_name, source),) = body["sources"][0].items()
    if set(source) != {"terms"} or set(source["terms"]) != {"field"}:
        raise _bad_request(f"fake: unsupported composite source {source}", "parsing_exception")
    counts: dict[str, int] = {}
    for doc in docs:
        for value in set(map(str, _typed(doc, source["terms"]["field"], {"keyword"}) or [])):
            counts[value] = counts.get(value, 0) + 1
    after = (body.get("after") or {}).get(source_name)
    keys = sorted(key for key in counts if after is None or key > after)[: body.get("size", 10)]
    result: dict[str, Any] = {
        "buckets": [{"key": {source_name: key}, "doc_count": counts[key]} for key in keys]
    }
    if keys:
        result["after_key"] = {source_name: keys[-1]}
    return result


# --- the cluster ---------------------------------------------------------------------------------

_INFO = {
    "name": "fake",
    "cluster_name": "fake-opensearch",
    "version": {"distribution": "opensearch", "number": "2.19.0"},
    "tagline": "The OpenSearch Project: https://opensearch.org/",
}
_INVALID_NAME = re.compile(r'[\\/*?"<>| ,#:A-Z]')


class _Cluster:
    def __init__(self, *, knn_shortfall: bool, max_result_window: int) -> None:
        self.knn_shortfall = knn_shortfall
        self.max_result_window = max_result_window
        self.indices: dict[str, _Index] = {}
        self.aliases: dict[str, str] = {}
        self.failures: list[tuple[str, int, int]] = []
        self.throttled_items = 0
        self.rejected_items: dict[str, dict[str, Any]] = {}

    def resolve(self, target: str) -> list[_Index]:
        found: list[_Index] = []
        for name in target.split(","):
            if name in self.aliases:
                found.append(self.indices[self.aliases[name]])
            elif name in self.indices:
                found.append(self.indices[name])
            else:
                raise _index_not_found(name)
        return found

    def create_index(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if _INVALID_NAME.search(name) or name[:1] in {"-", "_", "+", "."} or len(name.encode()) > 255:
            raise _bad_request(f"Invalid index name [{name}]", "invalid_index_name_exception")
        if name in self.indices or name in self.aliases:
            raise _bad_request(f"index [{name}] already exists", "resource_already_exists_exception")
        if set(body) - {"settings", "mappings", "aliases"}:
            raise _bad_request(f"unknown key in create index body: {sorted(body)}", "parse_exception")
        settings = _flatten_settings(body.get("settings", {}))
        if unknown := set(settings) - _KNOWN_SETTINGS:
            raise _bad_request(f"unknown setting [{sorted(unknown)[0]}]")
        index = _Index(name=name, settings=settings, mappings=body.get("mappings", {}))
        _parse_mappings(index)
        for alias, options in body.get("aliases", {}).items():
            if options or alias in self.indices or alias == name or alias in self.aliases:
                raise _bad_request(f"Invalid alias name [{alias}]", "invalid_alias_name_exception")
        self.indices[name] = index
        for alias in body.get("aliases", {}):
            self.aliases[alias] = name
        return {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def delete_index(self, target: str) -> dict[str, Any]:
        for name in target.split(","):
            if name in self.aliases:
                raise _bad_request(
                    f"The provided expression [{name}] matches an alias, specify the corresponding concrete "
                    "indices instead."
                )
            if name not in self.indices:
                raise _index_not_found(name)
        for name in target.split(","):
            del self.indices[name]
            self.aliases = {a: i for a, i in self.aliases.items() if i != name}
        return {"acknowledged": True}

    def bulk(
        self, path_index: str | None, lines: list[dict[str, Any]], params: dict[str, str]
    ) -> dict[str, Any]:
        if len(lines) % 2:
            raise _bad_request("The bulk request must be terminated by a newline [\\n]")
        items: list[dict[str, Any]] = []
        touched: set[str] = set()
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            ((op, meta),) = action.items()
            if op != "index" or set(meta) - {"_index", "_id"} or "_id" not in meta:
                raise _bad_request(f"fake: unsupported bulk action {action}")
            items.append(
                self._bulk_index(meta.get("_index", path_index), meta["_id"], source, params, touched)
            )
        if params.get("refresh") in {"true", "", "wait_for"}:
            for name in touched:
                self.indices[name].refresh()
        errors = any(next(iter(item.values()))["status"] >= 300 for item in items)
        return {"took": 1, "errors": errors, "items": items}

    def _bulk_index(
        self,
        target: str | None,
        doc_id: str,
        source: dict[str, Any],
        params: dict[str, str],
        touched: set[str],
    ) -> dict[str, Any]:
        result: dict[str, Any] = {"_index": target, "_id": doc_id}
        try:
            if target is None:
                raise _bad_request("index is missing", "action_request_validation_exception")
            if params.get("require_alias") == "true" and target not in self.aliases:
                raise OpenSearchError(
                    404,
                    "index_not_found_exception",
                    f"no such index [{target}] and [require_alias] request flag is [true] and [{target}] "
                    "is not an alias",
                )
            (index,) = self.resolve(target)
            result["_index"] = index.name
            if self.throttled_items:
                self.throttled_items -= 1
                raise OpenSearchError(429, "rejected_execution_exception", "fake: write queue is full")
            if doc_id in self.rejected_items:
                error = self.rejected_items[doc_id]
                raise OpenSearchError(400, error["type"], error["reason"], error.get("caused_by"))
            added = _check_document(index, source)
        except OpenSearchError as exc:
            return {"index": {**result, "status": exc.status, "error": exc.error()}}
        index.fields |= added
        created = doc_id not in index.docs
        index.docs[doc_id] = source
        index.versions[doc_id] = index.versions.get(doc_id, 0) + 1
        touched.add(index.name)
        outcome = {"result": "created" if created else "updated", "_version": index.versions[doc_id]}
        return {"index": {**result, **outcome, "status": 201 if created else 200}}

    def documents(self, target: str) -> list[_Doc]:
        return [
            _Doc(index, doc_id, source)
            for index in self.resolve(target)
            for doc_id, source in index.visible.items()
        ]

    def search(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        allowed = {
            "query", "size", "from", "sort", "_source", "track_total_hits", "search_after", "aggs",
            "track_scores",
        }  # fmt: skip
        if unknown := set(body) - allowed:
            raise _bad_request(
                f"Unknown key for a START_OBJECT in [{sorted(unknown)[0]}].", "parsing_exception"
            )
        size, offset = body.get("size", 10), body.get("from", 0)
        window = self.max_result_window
        if offset + size > window:
            raise _bad_request(
                f"Result window is too large, from + size must be less than or equal to: [{window}] "
                f"but was [{offset + size}]."
            )
        searcher = _Searcher(self.documents(target), self.knn_shortfall)
        scored = searcher.scored(body.get("query", {"match_all": {}}))
        spec = _sort_spec(body["sort"]) if "sort" in body else None
        track_scores = body.get("track_scores") is True or any(name == "_score" for name, _ in spec or [])
        hits = self._order(scored, spec, body.get("search_after"), offset, track_scores)
        total = len(scored)
        relation = "eq"
        if body.get("track_total_hits") is not True and total > RESULT_WINDOW:
            total, relation = RESULT_WINDOW, "gte"
        response: dict[str, Any] = {
            "took": 1,
            "timed_out": False,
            "hits": {"total": {"value": total, "relation": relation}, "hits": hits[offset : offset + size]},
        }
        for hit in response["hits"]["hits"]:
            source = _filter_source(hit.pop("_full_source"), body.get("_source"))
            if source is not None:
                hit["_source"] = source
        if "aggs" in body:
            response["aggregations"] = self._aggregations(body["aggs"], [doc for doc, _ in scored])
        return response

    @staticmethod
    def _order(
        scored: list[tuple[_Doc, float | None]],
        spec: list[tuple[str, bool]] | None,
        after: Any,
        offset: int,
        track_scores: bool = False,
    ) -> list[dict[str, Any]]:
        def hit(doc: _Doc, score: float | None, sort: list[Any] | None = None) -> dict[str, Any]:
            entry: dict[str, Any] = {
                "_index": doc.index.name,
                "_id": doc.doc_id,
                "_score": score,
                "_full_source": doc.source,
            }
            if sort is not None:
                entry["sort"] = sort
            return entry

        if spec is None:
            if after is not None:
                raise _bad_request("Sort must contain at least one field when search_after is used.")
            return [hit(doc, score) for doc, score in scored]
        if after is not None and offset:
            raise _bad_request("`from` parameter must be set to 0 when `search_after` is used.")
        keyed = [(doc, _sort_values(doc, spec, score)) for doc, score in scored]
        keyed.sort(key=lambda pair: _sort_key(pair[1], spec))
        if after is not None:
            if len(after) != len(spec):
                raise _bad_request("search_after has a different number of sort values than the sort")
            bound = _sort_key(list(after), spec)
            keyed = [pair for pair in keyed if _sort_key(pair[1], spec) > bound]
        scores = {id(doc): score for doc, score in scored}
        return [hit(doc, scores[id(doc)] if track_scores else None, values) for doc, values in keyed]

    @staticmethod
    def _aggregations(aggs: dict[str, Any], docs: list[_Doc]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, definition in aggs.items():
            agg_type, body = _single(definition, "aggregation")
            if agg_type != "composite":
                raise _bad_request(f"fake: unsupported aggregation [{agg_type}]", "parsing_exception")
            result[name] = _composite(docs, body)
        return result

    def count(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        if set(body) - {"query"}:
            raise _bad_request(f"request does not support {sorted(body)}", "parsing_exception")
        docs = self.documents(target)
        query = body.get("query", {"match_all": {}})
        validate(query)
        return {"count": sum(matches(query, doc) for doc in docs), "_shards": {"total": 1, "successful": 1}}

    def delete_by_query(self, target: str, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        if set(body) != {"query"}:
            raise _bad_request(
                "query is missing or the body has unknown keys", "action_request_validation_exception"
            )
        validate(body["query"])
        victims = [doc for doc in self.documents(target) if matches(body["query"], doc)]
        for doc in victims:
            doc.index.docs.pop(doc.doc_id, None)
        if params.get("refresh") in {"true", ""}:
            for index in self.resolve(target):
                index.refresh()
        deleted = len(victims)
        return {"took": 1, "timed_out": False, "total": deleted, "deleted": deleted, "batches": 1,
                "version_conflicts": 0, "noops": 0, "failures": []}  # fmt: skip

    def update_by_query(self, target: str, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        """Only the vector store's own metadata script, whose params it interprets in Python."""
        if set(body) != {"query", "script"}:
            raise _bad_request("fake: update_by_query needs exactly a query and a script")
        script = body["script"]
        if script.get("source") != UPDATE_METADATA_SCRIPT or script.get("lang", "painless") != "painless":
            raise _bad_request(f"fake: unsupported script {script.get('source')!r}", "script_exception")
        validate(body["query"])
        targets = [doc for doc in self.documents(target) if matches(body["query"], doc)]
        for doc in targets:
            source = _edit_metadata(doc.source, script["params"])
            doc.index.fields |= _check_document(doc.index, source)
            doc.index.docs[doc.doc_id] = source
            doc.index.versions[doc.doc_id] = doc.index.versions.get(doc.doc_id, 0) + 1
        if params.get("refresh") in {"true", ""}:
            for index in self.resolve(target):
                index.refresh()
        updated = len(targets)
        return {"took": 1, "timed_out": False, "total": updated, "updated": updated, "batches": 1,
                "version_conflicts": 0, "noops": 0, "failures": []}  # fmt: skip


def _edit_metadata(source: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """What UPDATE_METADATA_SCRIPT does to a document's source."""
    edited: dict[str, Any] = json.loads(json.dumps(source))
    maps = ("metadata", "meta_kw", "meta_num", "meta_date")
    for name in maps:
        if params["replace"] or edited.get(name) is None:
            edited[name] = {}
    for removal in params["remove"]:
        edited["metadata"].pop(removal["key"], None)
        for name in maps[1:]:
            edited[name].pop(removal["field"], None)
    for entry in params["set"]:
        edited["metadata"][entry["key"]] = entry["value"]
        edited["meta_kw"][entry["field"]] = entry["value"]
        for name, reading in (("meta_num", entry["number"]), ("meta_date", entry["date"])):
            if reading is None:
                edited[name].pop(entry["field"], None)
            else:
                edited[name][entry["field"]] = reading
    for name in maps[1:]:
        if not edited[name]:
            del edited[name]
    return edited


# --- HTTP --------------------------------------------------------------------------------------


class FakeOpenSearch:
    """Start with `start()` (or as a context manager); `url` is the address to give the client."""

    def __init__(self, *, knn_shortfall: bool = False, max_result_window: int = RESULT_WINDOW) -> None:
        self._cluster = _Cluster(knn_shortfall=knn_shortfall, max_result_window=max_result_window)
        self._lock = threading.Lock()
        self._log: list[LoggedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    def start(self) -> FakeOpenSearch:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the serving loop's next poll.
        serve = partial(self._server.serve_forever, poll_interval=0.01)
        self._thread = threading.Thread(target=serve, name="fake-opensearch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenSearch:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- test controls ---

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def requests_to(self, endpoint: str) -> list[LoggedRequest]:
        """Logged requests whose path ends with `endpoint` (e.g. "_bulk", "_search")."""
        return [request for request in self.requests if request.path.rstrip("/").endswith(endpoint)]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def fail_next(self, endpoint: str, count: int, status: int = 429) -> None:
        """Answer the next `count` requests to `endpoint` with `status` (a whole-request failure)."""
        with self._lock:
            self._cluster.failures.append((endpoint, count, status))

    def throttle_bulk_items(self, count: int) -> None:
        """Reject the next `count` bulk items with a per-item 429, as a full write queue does."""
        with self._lock:
            self._cluster.throttled_items = count

    def reject_bulk_items(self, doc_ids: set[str], error_type: str, reason: str) -> None:
        """Fail every bulk item for these ids with this per-item error, until cleared."""
        with self._lock:
            for doc_id in doc_ids:
                self._cluster.rejected_items[doc_id] = {"type": error_type, "reason": reason}

    def index_names(self) -> set[str]:
        with self._lock:
            return set(self._cluster.indices)

    def aliases(self) -> dict[str, str]:
        with self._lock:
            return dict(self._cluster.aliases)

    def settings_of(self, index: str) -> dict[str, str]:
        with self._lock:
            return dict(self._cluster.indices[index].settings)

    def document(self, index: str, doc_id: str) -> dict[str, Any]:
        with self._lock:
            document: dict[str, Any] = json.loads(json.dumps(self._cluster.indices[index].docs[doc_id]))
            return document

    # --- dispatch ---

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        split = urlsplit(raw_path)
        path = split.path
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        parts = [unquote(part) for part in path.strip("/").split("/") if part]
        with self._lock:
            body: Any = None
            try:
                body = _parse_body(parts, raw)
            except OpenSearchError as exc:
                self._log.append(LoggedRequest(method, path, params, raw.decode(errors="replace"), headers))
                return exc.status, exc.body()
            self._log.append(LoggedRequest(method, path, params, body, headers))
            try:
                self._inject_failure(parts)
                _check_params(parts, params)
                return 200, self._route(method, parts, params, body)
            except OpenSearchError as exc:
                return exc.status, exc.body()

    def _inject_failure(self, parts: list[str]) -> None:
        endpoint = _endpoint(parts)
        for position, (target, count, status) in enumerate(self._cluster.failures):
            if target == endpoint and count > 0:
                self._cluster.failures[position] = (target, count - 1, status)
                kind = "rejected_execution_exception" if status == 429 else "fake_injected_failure"
                raise OpenSearchError(status, kind, f"fake: injected {status} for [{endpoint}]")

    def _route(self, method: str, parts: list[str], params: dict[str, str], body: Any) -> Any:
        cluster = self._cluster
        match method, parts:
            case (("GET" | "HEAD"), []):
                return _INFO
            case "GET", ["_cluster", "health"]:
                return {"cluster_name": "fake-opensearch", "status": "green", "number_of_nodes": 1}
            case (("GET" | "HEAD"), ["_alias", name]):
                if name not in cluster.aliases:
                    raise _AliasMissing(name)
                return {cluster.aliases[name]: {"aliases": {name: {}}}}
            case "GET", [target, "_mapping"]:
                return {index.name: {"mappings": _mapping_view(index)} for index in cluster.resolve(target)}
            case (("POST" | "PUT"), ["_bulk"]):
                return cluster.bulk(None, body, params)
            case (("POST" | "PUT"), [target, "_bulk"]):
                return cluster.bulk(target, body, params)
            case (("POST" | "GET"), [target, "_refresh"]):
                for index in cluster.resolve(target):
                    index.refresh()
                return {"_shards": {"total": 1, "successful": 1, "failed": 0}}
            case (("POST" | "GET"), [target, "_search"]):
                return cluster.search(target, body or {})
            case (("POST" | "GET"), [target, "_count"]):
                return cluster.count(target, body or {})
            case "POST", [target, "_delete_by_query"]:
                return cluster.delete_by_query(target, body or {}, params)
            case "POST", [target, "_update_by_query"]:
                return cluster.update_by_query(target, body or {}, params)
            case "PUT", [name] if not name.startswith("_"):
                return cluster.create_index(name, body or {})
            case "DELETE", [target] if not target.startswith("_"):
                return cluster.delete_index(target)
            case "HEAD", [target] if not target.startswith("_"):
                return {index.name: {} for index in cluster.resolve(target)}
        raise _bad_request(f"fake OpenSearch does not implement [{method} /{'/'.join(parts)}]")


class _AliasMissing(OpenSearchError):
    """GET _alias answers a missing alias with its own flat error shape."""

    def __init__(self, name: str) -> None:
        super().__init__(404, "alias_missing", f"alias [{name}] missing")

    def body(self) -> dict[str, Any]:
        return {"error": self.reason, "status": 404}


def _endpoint(parts: list[str]) -> str:
    for part in reversed(parts):
        if part.startswith("_"):
            return part
    return "index" if parts else ""


def _check_params(parts: list[str], params: dict[str, str]) -> None:
    allowed = _ENDPOINT_PARAMS.get(_endpoint(parts), set())
    if unknown := sorted(set(params) - allowed):
        raise _bad_request(f"request [/{'/'.join(parts)}] contains unrecognized parameter: [{unknown[0]}]")


def _parse_body(parts: list[str], raw: bytes) -> Any:
    if not raw.strip():
        return None
    text = raw.decode("utf-8")
    try:
        if parts and parts[-1] == "_bulk":
            if not text.endswith("\n"):
                raise _bad_request("The bulk request must be terminated by a newline [\\n]")
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _bad_request(f"Failed to parse content: {exc.msg}", "parse_exception") from exc


def _reject_constant(name: str) -> Any:
    raise _bad_request(f"non-finite number [{name}] is not valid JSON", "parse_exception")


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenSearch
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, each response would wait for the
    # client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        status, body = self.owner.handle(self.command, self.path, headers, raw)
        payload = b"" if self.command == "HEAD" else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet; the request log is the record."""
