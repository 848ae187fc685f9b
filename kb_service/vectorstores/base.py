"""The vector-store port: value types, the filter language both stores translate, and the Protocol.

Chunks are written with their vector and read back without it. Metadata values are strings; the
numeric and date readings used by range filters are derived at write time by `as_number` and
`as_date`, so every store interprets a value the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal, Protocol, TypeAlias, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

Vector: TypeAlias = npt.NDArray[np.float32]

# Filterable chunk attributes besides metadata ("metadata.<key>").
SYSTEM_FIELDS = ("collection", "document_id", "source_id", "mx_object_id", "mx_entity")
METADATA_PREFIX = "metadata."


@dataclass(frozen=True, slots=True)
class Chunk:
    chunk_id: str
    collection: str
    text: str
    # The document id or chunk-job id whose processing wrote this chunk.
    source_id: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    document_id: str | None = None
    page: int | None = None
    human_readable_id: str | None = None
    mx_object_id: str | None = None
    mx_entity: str | None = None
    # Order of the chunk within its source; listings sort by it.
    position: int = 0


@dataclass(frozen=True, slots=True)
class ChunkWrite:
    chunk: Chunk
    vector: Vector


@dataclass(frozen=True, slots=True)
class SearchHit:
    chunk: Chunk
    # Cosine similarity in [-1, 1] (in practice [0, 1] for these models).
    similarity: float


SearchMode: TypeAlias = Literal["vector", "keyword", "hybrid"]
Leg: TypeAlias = Literal["vector", "keyword"]
SEARCH_MODES: tuple[SearchMode, ...] = ("vector", "keyword", "hybrid")
# Reciprocal rank fusion constant (Cormack, Clarke and Buettcher 2009) and the candidate depth of
# each leg of a hybrid search when the query names none.
DEFAULT_RRF_K = 60
DEFAULT_CANDIDATES = 50


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One search in any mode; `VectorStore.search_chunks` runs it.

    - "vector": the k chunks nearest to `vector` by cosine (needs `vector`).
    - "keyword": the k best chunks by BM25 for `text` among those containing at least one of its
      terms (needs `text`); fewer than k come back when fewer chunks contain a term.
    - "hybrid": both legs, each `candidates` deep (at least k), fused by reciprocal rank fusion:
      score = vector_weight / (rrf_k + vector rank) + (1 - vector_weight) / (rrf_k + keyword rank),
      a leg that did not find a chunk adding nothing (needs `vector` and `text`).

    `where` and `min_similarity` (a cosine in [-1, 1]; None = no threshold; needs `vector`) apply to
    every leg alike, so whenever at least k chunks match them, vector and hybrid return exactly k.
    """

    k: int
    vector: Vector | None = None
    text: str | None = None
    mode: SearchMode = "vector"
    where: Filter | None = None
    min_similarity: float | None = None
    fusion: Literal["rrf"] = "rrf"
    rrf_k: int = DEFAULT_RRF_K
    vector_weight: float = 0.5
    candidates: int | None = None

    @property
    def depth(self) -> int:
        """How many candidates each leg of a hybrid search contributes."""
        return max(self.k, self.candidates if self.candidates is not None else DEFAULT_CANDIDATES)


@dataclass(frozen=True, slots=True)
class RankedHit:
    """A hit of `search_chunks`.

    `score` is what the hits are ranked by: the cosine (vector mode), the store's BM25 score
    (keyword mode; higher is better, comparable only within one answer) or the fused RRF score
    (hybrid). `similarity` is the cosine to the query vector whenever the query has one (computed
    from the stored vector for chunks only the keyword leg found), else None. `legs` says which legs
    found the chunk, with its 1-based rank in each.
    """

    chunk: Chunk
    score: float
    similarity: float | None
    legs: frozenset[Leg]
    vector_rank: int | None = None
    keyword_rank: int | None = None


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """How a store found a search's hits, and whether the answer is exact.

    `kind` names the access path: the embedded store's "slice-scan" (one contiguous run of rows
    scored whole), "bitmap-gather" (the matching rows' span walked step by step, dense steps scored
    whole and sparse ones gathered), "candidate-list" (the few matching rows gathered) or
    "keyword-only" (no vector leg); OpenSearch's "opensearch-knn" (the approximate HNSW query) or
    "opensearch-exact" (the brute-force script_score fallback). `exact` is True when the vector
    leg's recall is exactly that of a brute-force scan. `quantized`: the rows were pre-scored on an
    int8 copy and the `rescored` candidates that could still be in the top k (by the int8 error
    bound) were scored again on the float vectors. `scanned` is how many rows were scored.
    """

    kind: str
    exact: bool
    quantized: bool = False
    scanned: int | None = None
    rescored: int | None = None


_Hit = TypeVar("_Hit")


class Hits(list[_Hit]):
    """A search's hits, best first, with the plan that found them (`SearchPlan`)."""

    __slots__ = ("plan",)

    def __init__(self, hits: Iterable[_Hit] = (), plan: SearchPlan | None = None) -> None:
        super().__init__(hits)
        self.plan = plan


def check_query(query: SearchQuery) -> None:
    """Raise VectorStoreError for a query no store can run; every store checks with this."""
    if query.mode not in SEARCH_MODES:
        raise VectorStoreError(f"unknown search mode {query.mode!r}; use one of {', '.join(SEARCH_MODES)}")
    if query.mode in ("vector", "hybrid") and query.vector is None:
        raise VectorStoreError(f"a {query.mode} search needs a query vector")
    if query.mode in ("keyword", "hybrid") and query.text is None:
        raise VectorStoreError(f"a {query.mode} search needs a query text")
    if query.min_similarity is not None:
        if query.vector is None:
            raise VectorStoreError("min_similarity needs a query vector")
        if not -1.0 <= query.min_similarity <= 1.0:
            raise VectorStoreError(f"min_similarity is a cosine in [-1, 1], not {query.min_similarity}")
    if query.fusion != "rrf":
        raise VectorStoreError(f"unknown fusion {query.fusion!r}; only rrf is supported")
    if query.rrf_k < 1:
        raise VectorStoreError(f"rrf_k must be positive, not {query.rrf_k}")
    if not 0.0 <= query.vector_weight <= 1.0:
        raise VectorStoreError(f"vector_weight must be in [0, 1], not {query.vector_weight}")
    if query.candidates is not None and query.candidates < 1:
        raise VectorStoreError(f"candidates must be positive, not {query.candidates}")
    if query.where is not None:
        check_filter(query.where)


@dataclass(frozen=True, slots=True)
class ChunkPage:
    items: list[Chunk]
    total: int


# --- filter language ---------------------------------------------------------------------------
# `field` is one of SYSTEM_FIELDS or "metadata.<key>". "Not equal" is Not(Eq(...)) and matches
# chunks that lack the field, as OpenSearch's must_not does.


@dataclass(frozen=True, slots=True)
class Eq:
    field: str
    value: str


@dataclass(frozen=True, slots=True)
class In:
    field: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Exists:
    field: str


@dataclass(frozen=True, slots=True)
class Prefix:
    field: str
    value: str


@dataclass(frozen=True, slots=True)
class Range:
    """Bounds are numbers, or POSIX seconds (UTC) when kind is "date"."""

    field: str
    kind: Literal["number", "date"]
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Filter


Filter: TypeAlias = Eq | In | Exists | Prefix | Range | And | Or | Not


def all_of(*filters: Filter | None) -> Filter | None:
    """AND the given filters together, skipping None; None when nothing is left."""
    present = tuple(f for f in filters if f is not None)
    if not present:
        return None
    return present[0] if len(present) == 1 else And(present)


def as_number(value: str) -> float | None:
    """The numeric reading of a metadata value, or None. Finite decimal numbers only."""
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def as_date(value: str) -> float | None:
    """The date reading of a metadata value as POSIX seconds, or None.

    Accepts ISO 8601 dates and date-times; naive values are taken as UTC.
    """
    text = value.strip()
    if len(text) < 10 or not text[:4].isdigit():
        return None
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def check_filter(where: Filter) -> None:
    """Raise VectorStoreError for a filter no store can apply (an unknown field, a range on a system
    field), before any data is touched. Every store checks with this one function."""
    match where:
        case And(items) | Or(items):
            for item in items:
                check_filter(item)
        case Not(item):
            check_filter(item)
        case Range(field=field, kind=kind):
            if not _is_metadata_field(field):
                raise VectorStoreError(f"range filters apply to metadata fields only, not {field!r}")
            if kind not in ("number", "date"):
                raise VectorStoreError(f"unknown range kind {kind!r}")
        case Eq(field=field) | In(field=field) | Exists(field=field) | Prefix(field=field):
            if field not in SYSTEM_FIELDS and not _is_metadata_field(field):
                raise VectorStoreError(
                    f"cannot filter on {field!r}: use one of {', '.join(SYSTEM_FIELDS)} or metadata.<key>"
                )
        case _:
            raise VectorStoreError(f"unknown filter {type(where).__name__}")


def _is_metadata_field(field: str) -> bool:
    return field.startswith(METADATA_PREFIX) and len(field) > len(METADATA_PREFIX)


# --- errors ------------------------------------------------------------------------------------


class VectorStoreError(Exception):
    """A store operation failed; the message says why (never contains chunk text)."""


class TransientVectorStoreError(VectorStoreError):
    """The store is overloaded or unreachable; the operation may be retried."""


class DimensionMismatchError(VectorStoreError):
    """A vector's length differs from the index's dimension."""


class IndexNotFoundError(VectorStoreError):
    """Writing to a knowledge base whose index was never created."""


# --- the port ----------------------------------------------------------------------------------


@runtime_checkable
class VectorStore(Protocol):
    def create_index(self, kb_id: str, dimension: int) -> None:
        """Create the KB's index; idempotent. DimensionMismatchError if it exists with another one."""

    def drop_index(self, kb_id: str) -> None:
        """Remove the KB's index and everything in it; a missing index is fine."""

    def write(self, kb_id: str, items: Sequence[ChunkWrite], *, delete_where: Filter | None = None) -> None:
        """Upsert `items` by chunk id, then delete the chunks matching `delete_where` that are not
        among `items`. When this returns, the change is visible to search. The embedded store does
        both in one transaction; other stores write first and delete second, so a search never
        sees neither the old nor the new chunks."""

    def delete(self, kb_id: str, where: Filter) -> int:
        """Delete the chunks matching `where`; returns how many."""

    def search(
        self,
        kb_id: str,
        vector: Vector,
        *,
        k: int,
        where: Filter | None = None,
        min_similarity: float | None = None,
    ) -> Hits[SearchHit]:
        """The k chunks nearest to `vector` by cosine similarity among those matching `where`,
        best first, all with similarity >= min_similarity (None: any cosine in [-1, 1]). Returns k
        hits whenever at least k chunks match `where` (and the threshold). The vector mode of
        `search_chunks`."""

    def search_chunks(self, kb_id: str, query: SearchQuery) -> Hits[RankedHit]:
        """Run `query` in its mode (see SearchQuery); best first, with the plan that ran (None when
        nothing was searched). VectorStoreError for a query `check_query` refuses."""

    def update_metadata(
        self,
        kb_id: str,
        where: Filter,
        set: Mapping[str, str],
        remove: Sequence[str] = (),
        replace: Mapping[str, str] | None = None,
    ) -> int:
        """Edit the metadata of the chunks matching `where` in place (vectors and text untouched):
        each becomes `replace` (or its own metadata), updated with `set`, without the `remove`d
        keys. Returns how many chunks matched; the next search, listing and filter see the edit."""

    def vectors_of(self, kb_id: str, chunk_ids: Sequence[str]) -> dict[str, Vector]:
        """The stored unit vectors of these chunks (for diversity re-ranking); ids that do not
        exist are absent from the answer, and a KB never created answers {}."""

    def list_chunks(
        self, kb_id: str, *, where: Filter | None = None, offset: int = 0, limit: int = 50
    ) -> ChunkPage:
        """A page of chunks in a stable order (collection, source_id, position, chunk_id)."""

    def count(self, kb_id: str, where: Filter | None = None) -> int: ...

    def count_by(self, kb_id: str, field: str, where: Filter | None = None) -> dict[str, int]:
        """Chunk counts grouped by a system field (e.g. collection, document_id)."""

    def ping(self) -> None:
        """Raise VectorStoreError when the store cannot be reached."""

    def close(self) -> None: ...
