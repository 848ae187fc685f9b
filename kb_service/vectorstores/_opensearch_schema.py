"""How a knowledge base lives in OpenSearch: index names, the mapping, and the chunk document.

Names
    Each knowledge base has one concrete index ``{prefix}{kb}_v1`` behind the alias ``{prefix}{kb}``;
    every read and write goes through the alias, so the KB can later be re-indexed into ``_v2`` and
    switched over atomically. ``{kb}`` is the KB id with every character outside ``[a-z0-9-]``
    written as ``_`` plus two hex digits per UTF-8 byte (``KB_1`` -> ``_4b_42_5f1``): index names
    must be lowercase, and the escaping keeps distinct ids distinct (lowercasing alone would not).
    In an escaped id ``_`` is always followed by two hex digits, so ``_v1`` cannot occur in one and
    no alias can equal another KB's index name (with ``-v1``, KB ``x-v1``'s alias would be KB
    ``x``'s index).

Metadata
    Metadata keys are free text and may contain dots, which OpenSearch would read as object paths
    (``a.b`` would become ``{"a": {"b": ...}}`` and collide with a key ``a``). So the original map is
    kept verbatim in ``metadata`` (an object with ``enabled: false``: stored for the round trip,
    never parsed or indexed), and each key is indexed under an encoded name:

    - ``meta_kw.<k>``   keyword, the value as written (term / terms / prefix / exists filters);
    - ``meta_num.<k>``  double, when ``as_number(value)`` parses (number range filters);
    - ``meta_date.<k>`` double POSIX seconds, when ``as_date(value)`` parses (date range filters).
      Seconds as a double rather than an OpenSearch ``date`` keep the range bounds exactly the
      numbers the filter carries, with no date-format parsing on either side.

    ``<k>`` is the key with ASCII letters, digits, ``-`` and ``_`` kept and every other character
    (``.``, ``%``, space, ``*``, non-ASCII, ...) written as ``%XX`` per UTF-8 byte, like URL
    percent-encoding; a leading ``_`` is escaped too (names starting with ``_`` are reserved), and
    the empty key is ``%``. The encoding is injective and never contains a dot, so each key is one
    field. Three dynamic templates type new fields under the three prefixes; the root mapping is
    ``strict`` so a misspelt field fails loudly instead of being guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from kb_service.config import OpenSearchStoreSettings
from kb_service.vectorstores.base import Chunk, Vector, VectorStoreError, as_date, as_number

JSON = dict[str, Any]

INDEX_VERSION: Final = 1
VECTOR_FIELD: Final = "vector"
KEYWORD_PREFIX: Final = "meta_kw"
NUMBER_PREFIX: Final = "meta_num"
DATE_PREFIX: Final = "meta_date"
# Derived or bulky fields a reader never needs back.
SOURCE_EXCLUDES: Final = [VECTOR_FIELD, KEYWORD_PREFIX, NUMBER_PREFIX, DATE_PREFIX]

_KEYWORD_FIELDS = (
    "chunk_id",
    "collection",
    "source_id",
    "document_id",
    "mx_object_id",
    "mx_entity",
    "human_readable_id",
)
_OPTIONAL_FIELDS = ("document_id", "page", "human_readable_id", "mx_object_id", "mx_entity")
_KB_ID_SAFE = re.compile(r"[a-z0-9-]")
_KEY_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_PREFIX_VALID = re.compile(r"[a-z0-9][a-z0-9._-]*")
# OpenSearch limits index names to 255 bytes.
_MAX_INDEX_NAME = 255


@dataclass(frozen=True, slots=True)
class IndexNames:
    alias: str
    index: str


def validate_prefix(prefix: str) -> None:
    if not _PREFIX_VALID.fullmatch(prefix):
        raise VectorStoreError(
            f"index_prefix {prefix!r} is not a valid OpenSearch index name start "
            "(lowercase letters, digits, '-', '_', '.'; not starting with '-', '_' or '.')"
        )


def index_names(prefix: str, kb_id: str) -> IndexNames:
    escaped = "".join(
        char if _KB_ID_SAFE.fullmatch(char) else "".join(f"_{byte:02x}" for byte in char.encode())
        for char in kb_id
    )
    alias = f"{prefix}{escaped}"
    index = f"{alias}_v{INDEX_VERSION}"
    if not kb_id or len(index.encode()) > _MAX_INDEX_NAME:
        raise VectorStoreError(f"knowledge base id of length {len(kb_id)} cannot name an OpenSearch index")
    return IndexNames(alias=alias, index=index)


def encode_key(key: str) -> str:
    """The field-name form of a metadata key; see the module docstring."""
    if not key:
        return "%"
    encoded = "".join(
        char if char in _KEY_SAFE else "".join(f"%{byte:02X}" for byte in char.encode()) for char in key
    )
    return "%5F" + encoded[1:] if encoded.startswith("_") else encoded


def index_body(settings: OpenSearchStoreSettings, alias: str, dimension: int) -> JSON:
    """The create-index request: k-NN settings, the alias and the strict mapping."""
    keyword: JSON = {"type": "keyword"}
    properties: JSON = {name: dict(keyword) for name in _KEYWORD_FIELDS}
    properties |= {
        VECTOR_FIELD: {
            "type": "knn_vector",
            "dimension": dimension,
            "method": {
                "name": "hnsw",
                "engine": settings.engine,
                "space_type": "cosinesimil",
                "parameters": {"m": settings.hnsw_m, "ef_construction": settings.hnsw_ef_construction},
            },
        },
        "text": {"type": "text"},
        "page": {"type": "integer"},
        "position": {"type": "integer"},
        "metadata": {"type": "object", "enabled": False},
        KEYWORD_PREFIX: {"type": "object", "dynamic": True},
        NUMBER_PREFIX: {"type": "object", "dynamic": True},
        DATE_PREFIX: {"type": "object", "dynamic": True},
    }
    return {
        "settings": {"index": {"knn": True, "knn.algo_param.ef_search": settings.hnsw_ef_search}},
        "aliases": {alias: {}},
        "mappings": {
            "dynamic": "strict",
            "dynamic_templates": [
                {KEYWORD_PREFIX: {"path_match": f"{KEYWORD_PREFIX}.*", "mapping": {"type": "keyword"}}},
                {NUMBER_PREFIX: {"path_match": f"{NUMBER_PREFIX}.*", "mapping": {"type": "double"}}},
                {DATE_PREFIX: {"path_match": f"{DATE_PREFIX}.*", "mapping": {"type": "double"}}},
            ],
            "properties": properties,
        },
    }


def mapped_dimension(mapping_response: Mapping[str, Any]) -> int:
    """The vector dimension from a GET <alias>/_mapping answer (one index behind the alias)."""
    for index in mapping_response.values():
        try:
            return int(index["mappings"]["properties"][VECTOR_FIELD]["dimension"])
        except (KeyError, TypeError, ValueError):
            continue
    raise VectorStoreError("the knowledge base index has no knn_vector mapping")


def chunk_source(chunk: Chunk, vector: list[float]) -> JSON:
    """The stored document of one chunk, including the typed metadata copies."""
    source: JSON = {
        "chunk_id": chunk.chunk_id,
        "collection": chunk.collection,
        "source_id": chunk.source_id,
        "position": chunk.position,
        "text": chunk.text,
        "metadata": dict(chunk.metadata),
    }
    for name in _OPTIONAL_FIELDS:
        value = getattr(chunk, name)
        if value is not None:
            source[name] = value
    keywords: JSON = {}
    numbers: JSON = {}
    dates: JSON = {}
    for key, value in chunk.metadata.items():
        field = encode_key(key)
        keywords[field] = value
        if (number := as_number(value)) is not None:
            numbers[field] = number
        if (seconds := as_date(value)) is not None:
            dates[field] = seconds
    for prefix, values in ((KEYWORD_PREFIX, keywords), (NUMBER_PREFIX, numbers), (DATE_PREFIX, dates)):
        if values:
            source[prefix] = values
    source[VECTOR_FIELD] = vector
    return source


def chunk_from_source(source: Mapping[str, Any]) -> Chunk:
    try:
        return Chunk(
            chunk_id=source["chunk_id"],
            collection=source["collection"],
            text=source["text"],
            source_id=source["source_id"],
            metadata=dict(source.get("metadata") or {}),
            document_id=source.get("document_id"),
            page=source.get("page"),
            human_readable_id=source.get("human_readable_id"),
            mx_object_id=source.get("mx_object_id"),
            mx_entity=source.get("mx_entity"),
            position=source.get("position", 0),
        )
    except KeyError as exc:
        raise VectorStoreError(f"stored chunk lacks the field {exc.args[0]!r}") from exc


def vector_shape(vector: Vector) -> tuple[int, ...]:
    return tuple(np.shape(vector))


def vector_values(vector: Vector, what: str) -> list[float]:
    array = np.asarray(vector, dtype=np.float32)
    if not np.isfinite(array).all():
        raise VectorStoreError(f"{what}: the vector contains NaN or infinite values")
    # Cosine similarity is undefined for the zero vector; OpenSearch rejects it too.
    if not array.any():
        raise VectorStoreError(f"{what}: the zero vector has no cosine similarity")
    values: list[float] = array.tolist()
    return values
