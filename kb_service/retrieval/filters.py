"""Turn the public filter JSON (see schemas.retrieval.FILTER_DESCRIPTION) into the store's filter AST.

Every malformed filter is refused with the JSON path of the problem, so a typo never silently
matches everything (or nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kb_service.errors import InvalidInput
from kb_service.vectorstores.base import (
    METADATA_PREFIX,
    And,
    Eq,
    Exists,
    Filter,
    In,
    Not,
    Or,
    Prefix,
    Range,
    as_date,
)

_RANGE_OPS = ("gt", "gte", "lt", "lte")
_SINGLE_OPS = ("eq", "ne", "in", "not_in", "exists", "starts_with")
_MAX_DEPTH = 16
MAX_KEY_CHARS = 200


def is_metadata_key(key: object) -> bool:
    """The one rule for a metadata key, wherever one arrives (upload, pushed chunk, edit, exact-match
    metadata, filter condition): 1-200 characters, not only whitespace. A key no document can carry
    is refused, not searched for (an empty one used to reach the store and fail there)."""
    return isinstance(key, str) and bool(key.strip()) and len(key) <= MAX_KEY_CHARS


def metadata_equals(pairs: Mapping[str, str], path: str = "metadata") -> Filter | None:
    """The simple form: every key must have exactly this value."""
    for key in pairs:
        if not is_metadata_key(key):
            raise InvalidInput(
                f"`{path}` has an empty or too long key {key!r} (1-{MAX_KEY_CHARS} characters).",
                details={"field": path},
            )
    conditions = tuple(Eq(METADATA_PREFIX + key, value) for key, value in pairs.items())
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else And(conditions)


def parse_filter(raw: Any, path: str = "filter", depth: int = 0) -> Filter:
    if depth > _MAX_DEPTH:
        raise _invalid(path, f"is nested deeper than {_MAX_DEPTH} levels")
    if not isinstance(raw, dict):
        raise _invalid(path, "must be a JSON object")
    if "and" in raw or "or" in raw:
        return _parse_group(raw, path, depth)
    if "not" in raw:
        if set(raw) != {"not"}:
            raise _invalid(path, "a `not` object must have no other keys")
        return Not(parse_filter(raw["not"], f"{path}.not", depth + 1))
    return _parse_condition(raw, path)


def _parse_group(raw: dict[str, Any], path: str, depth: int) -> Filter:
    if len(raw) != 1:
        raise _invalid(path, "an `and` / `or` object must have exactly one key")
    op, items = next(iter(raw.items()))
    if not isinstance(items, list) or not items:
        raise _invalid(f"{path}.{op}", "must be a non-empty list of filters")
    parsed = tuple(parse_filter(item, f"{path}.{op}[{i}]", depth + 1) for i, item in enumerate(items))
    return And(parsed) if op == "and" else Or(parsed)


def _parse_condition(raw: dict[str, Any], path: str) -> Filter:
    key = raw.get("key")
    if not isinstance(key, str) or not is_metadata_key(key):
        raise _invalid(
            path,
            f"a condition needs a string `key` of 1-{MAX_KEY_CHARS} characters (or use and / or / not)",
        )
    field = METADATA_PREFIX + key
    ops = [name for name in raw if name != "key"]
    unknown = [name for name in ops if name not in _SINGLE_OPS + _RANGE_OPS]
    if unknown:
        allowed = ", ".join(_SINGLE_OPS + _RANGE_OPS)
        raise _invalid(path, f"unknown operator {unknown[0]!r}; use one of {allowed}")
    if not ops:
        raise _invalid(path, f"condition on {key!r} has no operator")
    if any(op in _RANGE_OPS for op in ops):
        if not all(op in _RANGE_OPS for op in ops):
            raise _invalid(path, "range operators (gt, gte, lt, lte) cannot be mixed with others")
        return _parse_range(field, {op: raw[op] for op in ops}, path)
    if len(ops) != 1:
        raise _invalid(path, f"condition on {key!r} must have exactly one operator, got {ops}")
    return _single(field, ops[0], raw[ops[0]], f"{path}.{ops[0]}")


def _single(field: str, op: str, value: Any, path: str) -> Filter:
    match op:
        case "eq" | "ne" | "starts_with":
            if not isinstance(value, str):
                raise _invalid(path, "must be a string (metadata values are strings)")
            if op == "eq":
                return Eq(field, value)
            return Not(Eq(field, value)) if op == "ne" else Prefix(field, value)
        case "in" | "not_in":
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                raise _invalid(path, "must be a non-empty list of strings")
            condition = In(field, tuple(value))
            return condition if op == "in" else Not(condition)
        case "exists":
            if not isinstance(value, bool):
                raise _invalid(path, "must be true or false")
            return Exists(field) if value else Not(Exists(field))
    raise _invalid(path, "unknown operator")  # unreachable: ops are checked by the caller


def _parse_range(field: str, bounds: dict[str, Any], path: str) -> Range:
    numbers = [v for v in bounds.values() if isinstance(v, int | float) and not isinstance(v, bool)]
    strings = [v for v in bounds.values() if isinstance(v, str)]
    if len(numbers) == len(bounds):
        return Range(field, "number", **{op: float(v) for op, v in bounds.items()})
    if len(strings) == len(bounds):
        parsed: dict[str, float] = {}
        for op, value in bounds.items():
            seconds = as_date(value)
            if seconds is None:
                raise _invalid(f"{path}.{op}", f"{value!r} is not an ISO 8601 date or date-time")
            parsed[op] = seconds
        return Range(field, "date", **parsed)
    raise _invalid(path, "range bounds must be all numbers or all ISO 8601 date strings")


def _invalid(path: str, problem: str) -> InvalidInput:
    return InvalidInput(f"Invalid filter: {path} {problem}.", details={"field": path})
