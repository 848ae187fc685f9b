"""OpenAI `attributes` <-> the knowledge base's collection and metadata (pure functions).

The attribute `collection` picks the collection; every other attribute is a metadata entry, stored as
a string: numbers as written (`2`, `2.5`), booleans as `true` / `false`. Read back, attributes are the
metadata plus `collection`, all strings (metadata values are strings in this service); the filter
translation compares numbers and booleans the same way, so `{"type": "eq", "value": 2}` matches a
file attached with `2`.
"""

from __future__ import annotations

from collections.abc import Mapping

from kb_service.errors import InvalidInput
from kb_service.knowledge.models import DEFAULT_COLLECTION
from kb_service.knowledge.uploads import validate_metadata
from schemas.openai_vector_stores import AttributeValue

COLLECTION_KEY = "collection"
MAX_ATTRIBUTES = 16


def as_metadata_value(value: AttributeValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def split_attributes(
    attributes: Mapping[str, AttributeValue] | None, field: str = "attributes"
) -> tuple[str | None, dict[str, str]]:
    """(collection or None, metadata) of a file's attributes."""
    attributes = attributes or {}
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidInput(f"`{field}` has more than {MAX_ATTRIBUTES} keys.", field=field)
    collection = attributes.get(COLLECTION_KEY)
    if collection is not None and not isinstance(collection, str):
        raise InvalidInput(
            f"`{field}.{COLLECTION_KEY}` names the collection: it must be a string.",
            field=f"{field}.{COLLECTION_KEY}",
        )
    metadata = {k: as_metadata_value(v) for k, v in attributes.items() if k != COLLECTION_KEY}
    # The metadata rules of every other way in (key length, value length).
    validate_metadata(metadata, field)
    return collection, metadata


def attributes_of(collection: str, metadata: Mapping[str, str]) -> dict[str, AttributeValue]:
    return {**metadata, COLLECTION_KEY: collection}


def default_collection(collection: str | None) -> str:
    return collection or DEFAULT_COLLECTION
