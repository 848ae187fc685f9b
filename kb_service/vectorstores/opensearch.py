"""The OpenSearch k-NN vector store: one HNSW index per knowledge base, read and written via an alias.

Index naming, the mapping and the metadata-key encoding are in `_opensearch_schema`; filter
translation, request bodies and score conversion in `_opensearch_query`; bulk batching and per-item
errors in `_opensearch_bulk`; the client, retries and error mapping in `_opensearch_client`.
docs/opensearch.md explains the index settings.

Search runs an approximate ``knn`` query with the filter inside it (efficient filtering: the engine
applies it during the graph search). If fewer than k hits come back while ``_count`` says more
chunks match, an exact brute-force ``script_score`` over the filtered set fills the gap, so a
restrictive filter never silently shortens the result.

Writes are ``_bulk`` index operations keyed by chunk id with ``refresh=wait_for`` and
``require_alias=true`` (a write must never auto-create an unmapped index); replaced chunks are
removed afterwards with ``_delete_by_query`` (``refresh=true``), so a reader sees the old chunks, then
both, then the new ones - never neither.

Every request is retried with exponential backoff and jitter on connection errors, timeouts, 429
and 502/503/504 (`_opensearch_client`); bulk items rejected with 429 are re-sent alone. When retries
run out the error is a TransientVectorStoreError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Final

import numpy as np
import structlog
from opensearchpy import OpenSearch

from kb_service.config import OpenSearchStoreSettings
from kb_service.vectorstores._opensearch_bulk import (
    ItemFailure,
    batches,
    bulk_outcome,
    id_list,
    rejection_message,
)
from kb_service.vectorstores._opensearch_client import RequestFailed, Retrier, build_client, is_missing
from kb_service.vectorstores._opensearch_query import (
    count_by_body,
    delete_query,
    list_body,
    query,
    update_metadata_body,
    vectors_body,
)
from kb_service.vectorstores._opensearch_schema import (
    JSON,
    VECTOR_FIELD,
    IndexNames,
    chunk_from_source,
    chunk_source,
    index_body,
    index_names,
    mapped_dimension,
    validate_prefix,
    vector_shape,
    vector_values,
)
from kb_service.vectorstores._opensearch_search import rank_hits
from kb_service.vectorstores.base import (
    Chunk,
    ChunkPage,
    ChunkWrite,
    DimensionMismatchError,
    Filter,
    Hits,
    IndexNotFoundError,
    RankedHit,
    SearchHit,
    SearchQuery,
    TransientVectorStoreError,
    Vector,
    VectorStoreError,
    check_filter,
    check_query,
)
from kb_service.vectorstores.shared import metadata_update

__all__ = ["OpenSearchVectorStore", "build_client"]

log = structlog.get_logger(__name__)

# The largest k the knn query accepts, and OpenSearch's default index.max_result_window.
_MAX_K: Final = 10_000
_RESULT_WINDOW: Final = 10_000
_COUNT_BY_PAGE: Final = 1_000


class OpenSearchVectorStore:
    def __init__(
        self,
        settings: OpenSearchStoreSettings,
        *,
        client: OpenSearch | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        result_window: int = _RESULT_WINDOW,
    ) -> None:
        validate_prefix(settings.index_prefix)
        self._settings = settings
        self._client = client if client is not None else build_client(settings)
        self._retrier = Retrier(
            max_retries=settings.max_retries, backoff_s=backoff_s, max_backoff_s=max_backoff_s, sleep=sleep
        )
        # from + size beyond this needs search_after (index.max_result_window).
        self._result_window = result_window
        # alias -> vector dimension, read once from the mapping; dropped when the index changes.
        self._dimensions: dict[str, int] = {}

    # --- index lifecycle -------------------------------------------------------------------------

    def create_index(self, kb_id: str, dimension: int) -> None:
        if dimension < 1:
            raise VectorStoreError(f"vector dimension must be positive, got {dimension}")
        names = self._names(kb_id)
        existing = self._dimension(kb_id, names)
        if existing is None:
            if self._create(kb_id, names, dimension):
                return
            # Another process created it between our look-up and our create.
            existing = self._dimension(kb_id, names)
        if existing != dimension:
            raise DimensionMismatchError(
                f"knowledge base {kb_id!r} already has an index of dimension {existing}, not {dimension}"
            )

    def _create(self, kb_id: str, names: IndexNames, dimension: int) -> bool:
        """Create the index with its alias; False when it already exists."""
        body = index_body(self._settings, names.alias, dimension)
        try:
            self._retrier.call(
                "create_index",
                partial(self._client.indices.create, index=names.index, body=body),
                kb_id=kb_id,
            )
        except RequestFailed as exc:
            if exc.error_type == "resource_already_exists_exception":
                return False
            if "does not support space type" in str(exc):
                raise VectorStoreError(
                    f"{exc} - the faiss engine supports cosinesimil from OpenSearch 2.19; "
                    "use engine=lucene on older clusters"
                ) from exc
            raise
        self._dimensions[names.alias] = dimension
        log.info("vectorstore.opensearch.index.created", kb_id=kb_id, index=names.index, dimension=dimension)
        return True

    def drop_index(self, kb_id: str) -> None:
        names = self._names(kb_id)
        self._dimensions.pop(names.alias, None)
        # A missing alias or index is expected here; ignore=404 answers it without a logged failure.
        aliased = self._retrier.call(
            "get_alias", partial(self._client.indices.get_alias, name=names.alias, ignore=404), kb_id=kb_id
        )
        # The alias's indices, plus the first version in case the alias was removed by hand.
        indices = sorted({*({} if is_missing(aliased) else aliased), names.index})
        for index in indices:
            self._retrier.call(
                "drop_index", partial(self._client.indices.delete, index=index, ignore=404), kb_id=kb_id
            )
        log.info("vectorstore.opensearch.index.dropped", kb_id=kb_id, indices=indices)

    # --- writes ----------------------------------------------------------------------------------

    def write(self, kb_id: str, items: Sequence[ChunkWrite], *, delete_where: Filter | None = None) -> None:
        names = self._names(kb_id)
        dimension = self._require_dimension(kb_id, names)
        documents = self._documents(items, dimension)
        for batch in batches(documents, dimension):
            self._bulk(kb_id, names.alias, batch)
        replaced = 0
        if delete_where is not None:
            keep = list(dict.fromkeys(item.chunk.chunk_id for item in items))
            replaced = self._delete_by_query(kb_id, names.alias, delete_query(delete_where, keep))
        log.info("vectorstore.opensearch.written", kb_id=kb_id, chunks=len(documents), replaced=replaced)

    def delete(self, kb_id: str, where: Filter) -> int:
        names = self._names(kb_id)
        try:
            deleted = self._delete_by_query(kb_id, names.alias, query(where))
        except IndexNotFoundError:
            return 0
        log.info("vectorstore.opensearch.deleted", kb_id=kb_id, chunks=deleted)
        return deleted

    def update_metadata(
        self,
        kb_id: str,
        where: Filter,
        set: Mapping[str, str],
        remove: Sequence[str] = (),
        replace: Mapping[str, str] | None = None,
    ) -> int:
        """One `_update_by_query` with a Painless script that edits `metadata` and its typed copies
        (`refresh=true`, so the next search sees it). A version conflict means a concurrent write
        to a matched chunk; the edit is idempotent, so that is raised as transient, to retry."""
        check_filter(where)
        edit = metadata_update(set, remove, replace)
        names = self._names(kb_id)
        new_values = {**(edit.replace or {}), **edit.set}
        body = update_metadata_body(where, new_values, edit.remove, edit.replace is not None)
        try:
            response = self._retrier.call(
                "update_by_query",
                partial(
                    self._client.update_by_query,
                    index=names.alias,
                    body=body,
                    refresh=True,
                    conflicts="proceed",
                ),
                kb_id=kb_id,
            )
        except IndexNotFoundError:
            return 0
        failures = response.get("failures") or []
        if failures:
            kinds = sorted({str((failure.get("cause") or {}).get("type", "unknown")) for failure in failures})
            message = f"OpenSearch update_by_query failed for {len(failures)} chunks ({', '.join(kinds)})"
            if all(failure.get("status") == 429 for failure in failures):
                raise TransientVectorStoreError(message)
            raise VectorStoreError(message)
        conflicts = int(response.get("version_conflicts", 0))
        if conflicts:
            raise TransientVectorStoreError(
                f"{conflicts} chunks changed while their metadata was edited; retry the edit"
            )
        updated = int(response.get("updated", 0)) + int(response.get("noops", 0))
        log.info("vectorstore.opensearch.metadata_updated", kb_id=kb_id, chunks=updated)
        return updated

    def _documents(self, items: Sequence[ChunkWrite], dimension: int) -> list[tuple[str, JSON]]:
        wrong = [item.chunk.chunk_id for item in items if vector_shape(item.vector) != (dimension,)]
        if wrong:
            raise DimensionMismatchError(
                f"{len(wrong)} vectors do not have the index dimension {dimension}: {id_list(wrong)}"
            )
        return [
            (item.chunk.chunk_id, chunk_source(item.chunk, vector_values(item.vector, item.chunk.chunk_id)))
            for item in items
        ]

    def _bulk(self, kb_id: str, alias: str, batch: list[tuple[str, JSON]]) -> None:
        pending = batch
        attempt = 0
        while True:
            body = [line for chunk_id, source in pending for line in ({"index": {"_id": chunk_id}}, source)]
            response = self._retrier.call(
                "bulk",
                partial(self._client.bulk, body=body, index=alias, refresh="wait_for", require_alias=True),
                kb_id=kb_id,
            )
            throttled, failures = bulk_outcome(pending, response)
            if failures:
                raise self._bulk_error(kb_id, alias, failures, len(pending))
            if not throttled:
                return
            if attempt >= self._retrier.max_retries:
                raise TransientVectorStoreError(
                    f"OpenSearch kept rejecting {len(throttled)} chunks with 429 after {attempt} retries: "
                    f"{id_list([chunk_id for chunk_id, _ in throttled])}"
                )
            self._retrier.backoff("bulk", attempt, kb_id, f"{len(throttled)} items throttled (429)")
            pending = throttled
            attempt += 1

    def _bulk_error(self, kb_id: str, alias: str, failures: list[ItemFailure], sent: int) -> VectorStoreError:
        # Whatever went wrong, the cached dimension may be what is stale (the index was replaced).
        self._dimensions.pop(alias, None)
        log.error(
            "vectorstore.opensearch.bulk.rejected",
            kb_id=kb_id,
            rejected=len(failures),
            sent=sent,
            error_types=sorted({failure.error_type for failure in failures}),
        )
        if all(failure.error_type == "index_not_found_exception" for failure in failures):
            return IndexNotFoundError(f"knowledge base {kb_id!r} has no index; create it first")
        return VectorStoreError(rejection_message(failures, sent))

    def _delete_by_query(self, kb_id: str, alias: str, where_query: JSON) -> int:
        response = self._retrier.call(
            "delete_by_query",
            partial(
                self._client.delete_by_query,
                index=alias,
                body={"query": where_query},
                refresh=True,
                conflicts="proceed",
            ),
            kb_id=kb_id,
        )
        failures = response.get("failures") or []
        if failures:
            kinds = sorted({str((failure.get("cause") or {}).get("type", "unknown")) for failure in failures})
            message = f"OpenSearch delete_by_query failed for {len(failures)} chunks ({', '.join(kinds)})"
            if all(failure.get("status") == 429 for failure in failures):
                raise TransientVectorStoreError(message)
            raise VectorStoreError(message)
        return int(response.get("deleted", 0))

    # --- reads -----------------------------------------------------------------------------------

    def search(
        self,
        kb_id: str,
        vector: Vector,
        *,
        k: int,
        where: Filter | None = None,
        min_similarity: float | None = None,
    ) -> Hits[SearchHit]:
        query = SearchQuery(k=k, vector=vector, where=where, min_similarity=min_similarity)
        hits = self.search_chunks(kb_id, query)
        return Hits((SearchHit(chunk=hit.chunk, similarity=hit.score) for hit in hits), hits.plan)

    def search_chunks(self, kb_id: str, query: SearchQuery) -> Hits[RankedHit]:
        """Vector: one filtered knn query (with the exact fallback). Keyword: one match query inside
        the filter. Hybrid: both, fused here by reciprocal rank fusion (`shared.fuse`, the same code as
        the embedded store), then one exact script_score look-up for the cosine of the chunks only
        the keyword leg found. docs/opensearch.md says why the fusion is client-side."""
        check_query(query)
        if query.k < 1:
            return Hits()
        if query.k > _MAX_K:
            raise VectorStoreError(f"k must be at most {_MAX_K}, got {query.k}")
        names = self._names(kb_id)
        dimension = self._dimension(kb_id, names)
        if dimension is None:
            return Hits()
        values: list[float] | None = None
        if query.vector is not None:
            if vector_shape(query.vector) != (dimension,):
                raise DimensionMismatchError(
                    f"the query vector has shape {vector_shape(query.vector)}, "
                    f"the index dimension is {dimension}"
                )
            values = vector_values(query.vector, "the query vector")
        run = partial(self._search, kb_id, names.alias)
        count = partial(self._count, kb_id, names.alias)
        return rank_hits(kb_id, run, count, query, values)

    def vectors_of(self, kb_id: str, chunk_ids: Sequence[str]) -> dict[str, Vector]:
        """One `ids` query fetching only the `vector` field of `_source` (searches exclude it)."""
        unique = list(dict.fromkeys(chunk_ids))
        if not unique:
            return {}
        if len(unique) > _MAX_K:
            raise VectorStoreError(f"at most {_MAX_K} vectors per request, got {len(unique)}")
        try:
            response = self._search(kb_id, self._names(kb_id).alias, vectors_body(unique))
        except IndexNotFoundError:
            return {}
        return {
            str(hit["_id"]): np.asarray(hit["_source"][VECTOR_FIELD], dtype=np.float32)
            for hit in response["hits"]["hits"]
        }

    def list_chunks(
        self, kb_id: str, *, where: Filter | None = None, offset: int = 0, limit: int = 50
    ) -> ChunkPage:
        if offset < 0 or limit < 0:
            raise VectorStoreError(f"offset and limit must not be negative, got {offset} and {limit}")
        alias = self._names(kb_id).alias
        try:
            if offset + limit <= self._result_window:
                response = self._search(kb_id, alias, list_body(where, size=limit, offset=offset))
                return ChunkPage(items=_chunks(response), total=_total(response))
            return self._list_deep(kb_id, alias, where, offset, limit)
        except IndexNotFoundError:
            return ChunkPage(items=[], total=0)

    def _list_deep(self, kb_id: str, alias: str, where: Filter | None, offset: int, limit: int) -> ChunkPage:
        """Pages past index.max_result_window walk the sorted chunks with search_after."""
        cursor: list[Any] | None = None
        total = 0
        skipped = 0
        while skipped < offset:
            size = min(offset - skipped, self._result_window)
            body = list_body(where, size=size, search_after=cursor, with_source=False)
            response = self._search(kb_id, alias, body)
            total = _total(response)
            hits = response["hits"]["hits"]
            if len(hits) < size:
                return ChunkPage(items=[], total=total)
            cursor = hits[-1]["sort"]
            skipped += len(hits)
        items: list[Chunk] = []
        while len(items) < limit:
            size = min(limit - len(items), self._result_window)
            response = self._search(kb_id, alias, list_body(where, size=size, search_after=cursor))
            total = _total(response)
            hits = response["hits"]["hits"]
            items.extend(_chunks(response))
            if len(hits) < size:
                break
            cursor = hits[-1]["sort"]
        return ChunkPage(items=items, total=total)

    def count(self, kb_id: str, where: Filter | None = None) -> int:
        try:
            return self._count(kb_id, self._names(kb_id).alias, where)
        except IndexNotFoundError:
            return 0

    def count_by(self, kb_id: str, field: str, where: Filter | None = None) -> dict[str, int]:
        alias = self._names(kb_id).alias
        counts: dict[str, int] = {}
        after: JSON | None = None
        while True:
            body = count_by_body(field, where, page_size=_COUNT_BY_PAGE, after=after)
            try:
                aggregation = self._search(kb_id, alias, body)["aggregations"]["by_value"]
            except IndexNotFoundError:
                return {}
            buckets = aggregation["buckets"]
            counts.update({str(bucket["key"]["value"]): int(bucket["doc_count"]) for bucket in buckets})
            after = aggregation.get("after_key")
            if len(buckets) < _COUNT_BY_PAGE or after is None:
                return counts

    def ping(self) -> None:
        # A health probe answers now; it does not wait out the backoff.
        self._retrier.call("ping", self._client.info, retries=0)

    def close(self) -> None:
        self._client.close()

    def _search(self, kb_id: str, alias: str, body: JSON) -> Any:
        return self._retrier.call("search", partial(self._client.search, index=alias, body=body), kb_id=kb_id)

    def _count(self, kb_id: str, alias: str, where: Filter | None) -> int:
        response = self._retrier.call(
            "count", partial(self._client.count, index=alias, body={"query": query(where)}), kb_id=kb_id
        )
        return int(response["count"])

    # --- plumbing --------------------------------------------------------------------------------

    def _names(self, kb_id: str) -> IndexNames:
        return index_names(self._settings.index_prefix, kb_id)

    def _dimension(self, kb_id: str, names: IndexNames) -> int | None:
        """The index's vector dimension, or None when the knowledge base has no index."""
        if (cached := self._dimensions.get(names.alias)) is not None:
            return cached
        mapping = self._retrier.call(
            "get_mapping",
            partial(self._client.indices.get_mapping, index=names.alias, ignore=404),
            kb_id=kb_id,
        )
        if is_missing(mapping):
            return None
        dimension = mapped_dimension(mapping)
        self._dimensions[names.alias] = dimension
        return dimension

    def _require_dimension(self, kb_id: str, names: IndexNames) -> int:
        dimension = self._dimension(kb_id, names)
        if dimension is None:
            raise IndexNotFoundError(f"knowledge base {kb_id!r} has no index; create it first")
        return dimension


def _chunks(response: Mapping[str, Any]) -> list[Chunk]:
    return [chunk_from_source(hit["_source"]) for hit in response["hits"]["hits"]]


def _total(response: Mapping[str, Any]) -> int:
    total = response["hits"]["total"]
    return int(total["value"] if isinstance(total, Mapping) else total)
