"""The public filter JSON → the store's filter AST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kb_service.errors import InvalidInput
from kb_service.retrieval.filters import metadata_equals, parse_filter
from kb_service.vectorstores.base import And, Eq, Exists, In, Not, Or, Prefix, Range


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"key": "A", "eq": "1"}, Eq("metadata.A", "1")),
        ({"key": "A", "ne": "1"}, Not(Eq("metadata.A", "1"))),
        ({"key": "A", "in": ["1", "2"]}, In("metadata.A", ("1", "2"))),
        ({"key": "A", "not_in": ["1"]}, Not(In("metadata.A", ("1",)))),
        ({"key": "A", "exists": True}, Exists("metadata.A")),
        ({"key": "A", "exists": False}, Not(Exists("metadata.A"))),
        ({"key": "A", "starts_with": "x"}, Prefix("metadata.A", "x")),
        ({"key": "A", "gte": 1, "lt": 2.5}, Range("metadata.A", "number", gte=1.0, lt=2.5)),
        (
            {"key": "D", "gt": "2024-01-01"},
            Range("metadata.D", "date", gt=datetime(2024, 1, 1, tzinfo=UTC).timestamp()),
        ),
        (
            {"or": [{"key": "A", "eq": "1"}, {"not": {"key": "B", "eq": "2"}}]},
            Or((Eq("metadata.A", "1"), Not(Eq("metadata.B", "2")))),
        ),
        ({"and": [{"key": "A", "eq": "1"}]}, And((Eq("metadata.A", "1"),))),
    ],
)
def test_every_form_parses(raw: dict[str, Any], expected: object) -> None:
    assert parse_filter(raw) == expected


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ([], "filter must be a JSON object"),
        ({"key": "A"}, "has no operator"),
        ({"key": "A", "eq": 1}, "filter.eq must be a string"),
        ({"key": "A", "eq": "1", "ne": "2"}, "exactly one operator"),
        ({"key": "A", "in": []}, "non-empty list"),
        ({"key": "A", "exists": "yes"}, "true or false"),
        ({"key": "A", "gte": 1, "eq": "1"}, "cannot be mixed"),
        ({"key": "A", "gte": True}, "all numbers"),
        ({"and": [{"key": "A", "eq": "1"}], "or": []}, "exactly one key"),
        ({"not": {"key": "A", "eq": "1"}, "key": "B"}, "no other keys"),
        ({"or": [{"key": "A", "eq": "1"}, {"key": "", "eq": "1"}]}, "filter.or[1]"),
    ],
)
def test_malformed_filters_name_the_problem(raw: Any, path: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_filter(raw)
    assert path in error.value.message


def test_deep_nesting_is_refused() -> None:
    raw: dict[str, Any] = {"key": "A", "eq": "1"}
    for _ in range(20):
        raw = {"not": raw}
    with pytest.raises(InvalidInput, match="nested deeper"):
        parse_filter(raw)


def test_metadata_equals_is_an_and_of_eqs() -> None:
    assert metadata_equals({}) is None
    assert metadata_equals({"A": "1"}) == Eq("metadata.A", "1")
    assert metadata_equals({"A": "1", "B": "2"}) == And((Eq("metadata.A", "1"), Eq("metadata.B", "2")))
