"""The pure translations of the OpenAI-compatible API: filters into the search filter language (and
on through the search's own parser, so nothing translated is refused later), attributes into a
collection and metadata."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from kb_service.errors import InvalidInput
from kb_service.openai_vector_stores.attributes import attributes_of, split_attributes
from kb_service.openai_vector_stores.filters import translate
from kb_service.retrieval.filters import parse_filter
from schemas.openai_vector_stores import ComparisonFilter, CompoundFilter

_FILTERS: TypeAdapter[ComparisonFilter | CompoundFilter] = TypeAdapter(ComparisonFilter | CompoundFilter)


def _translate(raw: dict[str, Any]) -> tuple[list[str] | None, dict[str, Any] | None]:
    return translate(_FILTERS.validate_python(raw))


def _eq(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "type": "eq", "value": value}


@pytest.mark.parametrize(
    ("openai_filter", "collections", "ours"),
    [
        (_eq("Status", "Open"), None, {"key": "Status", "eq": "Open"}),
        (_eq("Priority", 2), None, {"key": "Priority", "gte": 2, "lte": 2}),
        (_eq("Urgent", True), None, {"key": "Urgent", "eq": "true"}),
        ({"key": "Status", "type": "ne", "value": "Open"}, None, {"not": {"key": "Status", "eq": "Open"}}),
        ({"key": "Priority", "type": "lt", "value": 2.5}, None, {"key": "Priority", "lt": 2.5}),
        (
            {"key": "Created", "type": "gte", "value": "2024-01-01"},
            None,
            {"key": "Created", "gte": "2024-01-01"},
        ),
        (
            {"key": "Type", "type": "in", "value": ["Bug", "Task"]},
            None,
            {"key": "Type", "in": ["Bug", "Task"]},
        ),
        (
            {"key": "Size", "type": "nin", "value": ["S", 3]},
            None,
            {"not": {"or": [{"key": "Size", "eq": "S"}, {"key": "Size", "gte": 3, "lte": 3}]}},
        ),
        (_eq("collection", "Manuals"), ["Manuals"], None),
        (
            {
                "type": "and",
                "filters": [
                    {"key": "collection", "type": "in", "value": ["A", "B"]},
                    _eq("collection", "B"),
                    {"type": "or", "filters": [_eq("X", "1"), _eq("Y", "2")]},
                ],
            },
            ["B"],
            {"or": [{"key": "X", "eq": "1"}, {"key": "Y", "eq": "2"}]},
        ),
        (
            {"type": "and", "filters": [_eq("X", "1"), _eq("Y", "2")]},
            None,
            {"and": [{"key": "X", "eq": "1"}, {"key": "Y", "eq": "2"}]},
        ),
    ],
)
def test_filters_translate_into_the_search_language(
    openai_filter: dict[str, Any], collections: list[str] | None, ours: dict[str, Any] | None
) -> None:
    assert _translate(openai_filter) == (collections, ours)
    if ours is not None:
        parse_filter(ours)  # the search accepts what the translation produced


@pytest.mark.parametrize(
    ("openai_filter", "field"),
    [
        ({"type": "or", "filters": [_eq("collection", "A"), _eq("X", "1")]}, "filters.filters[0]"),
        ({"key": "collection", "type": "ne", "value": "A"}, "filters"),
        ({"key": "Priority", "type": "gt", "value": "high"}, "filters.value"),
        ({"key": "Urgent", "type": "gte", "value": True}, "filters.value"),
        ({"key": "Type", "type": "in", "value": []}, "filters.value"),
        ({"key": "Type", "type": "eq", "value": ["a"]}, "filters.value"),
        ({"type": "and", "filters": []}, "filters.filters"),
        ({"type": "and", "filters": [{"type": "or", "filters": []}]}, "filters.filters[0].filters"),
        ({"type": "and", "filters": [_eq("collection", "A"), _eq("collection", "B")]}, "filters"),
    ],
)
def test_untranslatable_filters_are_refused_naming_the_path(
    openai_filter: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _translate(openai_filter)
    assert refused.value.field == field


def test_attributes_become_a_collection_and_string_metadata() -> None:
    collection, metadata = split_attributes(
        {"collection": "Manuals", "Priority": 2, "Ratio": 2.5, "On": False}
    )
    assert collection == "Manuals"
    assert metadata == {"Priority": "2", "Ratio": "2.5", "On": "false"}
    assert attributes_of("Manuals", metadata) == {**metadata, "collection": "Manuals"}
    assert split_attributes(None) == (None, {})
    with pytest.raises(InvalidInput):
        split_attributes({"collection": 3})
    with pytest.raises(InvalidInput):
        split_attributes({f"k{i}": "v" for i in range(17)})
    with pytest.raises(InvalidInput) as empty_key:
        split_attributes({" ": "v"})
    assert empty_key.value.field == "attributes"
    with pytest.raises(InvalidInput):
        split_attributes({"Long": "x" * 1001})
