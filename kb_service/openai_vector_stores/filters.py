"""OpenAI's attribute filters translated into the search's own filter language (pure functions).

| OpenAI                                      | our `filter`                                     |
|---------------------------------------------|--------------------------------------------------|
| `{"key": k, "type": "eq", "value": "s"}`    | `{"key": k, "eq": "s"}`                          |
| `eq` a number n                             | `{"key": k, "gte": n, "lte": n}` (numeric)       |
| `eq` a boolean                              | `{"key": k, "eq": "true"}` / `"false"`           |
| `ne` (any value)                            | `{"not": <the eq>}` (also matches files without k)|
| `gt` `gte` `lt` `lte` a number              | `{"key": k, "<op>": n}`                          |
| `gt` `gte` `lt` `lte` an ISO 8601 date      | `{"key": k, "<op>": "2024-01-01"}` (date range)  |
| `in` strings                                | `{"key": k, "in": [...]}`                        |
| `in` with numbers                           | `{"or": [<eq> per value]}`                       |
| `nin`                                       | `{"not": <the in>}`                              |
| `{"type": "and" / "or", "filters": [...]}`  | `{"and" / "or": [...]}`                          |

The attribute `collection` is the collection, not metadata: `eq` / `in` on it, at the top level or in
a top-level `and`, become the search's `collections`; anywhere else it is refused (the search
language filters metadata only). Every refusal names the path of the problem in the request.
"""

from __future__ import annotations

from typing import Any

from kb_service.errors import InvalidInput
from kb_service.openai_vector_stores.attributes import COLLECTION_KEY, as_metadata_value
from kb_service.vectorstores.base import as_date
from schemas.openai_vector_stores import ComparisonFilter, CompoundFilter

_RANGE = ("gt", "gte", "lt", "lte")


def translate(
    filters: ComparisonFilter | CompoundFilter | None, path: str = "filters"
) -> tuple[list[str] | None, dict[str, Any] | None]:
    """(collections or None, our filter or None) for an OpenAI filter."""
    if filters is None:
        return None, None
    is_and = isinstance(filters, CompoundFilter) and filters.type == "and"
    top = filters.filters if isinstance(filters, CompoundFilter) and is_and else [filters]
    if not top:
        raise _invalid(f"{path}.filters", "must be a non-empty list of filters")
    prefix = f"{path}.filters" if is_and else None
    collections: list[str] | None = None
    rest: list[dict[str, Any]] = []
    for index, item in enumerate(top):
        where = f"{prefix}[{index}]" if prefix else path
        if isinstance(item, ComparisonFilter) and item.key == COLLECTION_KEY:
            named = _collections(item, where)
            collections = named if collections is None else [c for c in collections if c in named]
        else:
            rest.append(_node(item, where))
    if collections == []:
        # Two top-level conditions on `collection` that no collection meets: nothing can match.
        raise InvalidInput(f"`{path}` asks for two different collections at once.", field=path)
    if not rest:
        return collections, None
    return collections, rest[0] if len(rest) == 1 else {"and": rest}


def _node(item: ComparisonFilter | CompoundFilter, path: str) -> dict[str, Any]:
    if isinstance(item, CompoundFilter):
        if not item.filters:
            raise _invalid(f"{path}.filters", "must be a non-empty list of filters")
        return {item.type: [_node(child, f"{path}.filters[{i}]") for i, child in enumerate(item.filters)]}
    if item.key == COLLECTION_KEY:
        raise _invalid(
            path,
            "filters on `collection` only with eq / in, at the top level or in a top-level `and`",
        )
    return _comparison(item, path)


def _comparison(item: ComparisonFilter, path: str) -> dict[str, Any]:
    key, value = item.key, item.value
    match item.type:
        case "eq":
            return _equals(key, value, f"{path}.value")
        case "ne":
            return {"not": _equals(key, value, f"{path}.value")}
        case "in" | "nin":
            if not isinstance(value, list) or not value:
                raise _invalid(f"{path}.value", f"`{item.type}` needs a non-empty list")
            if all(isinstance(v, str) for v in value):
                condition: dict[str, Any] = {"key": key, "in": list(value)}
            else:
                condition = {"or": [_equals(key, v, f"{path}.value[{i}]") for i, v in enumerate(value)]}
            return condition if item.type == "in" else {"not": condition}
    # gt / gte / lt / lte
    if isinstance(value, bool | list):
        raise _invalid(f"{path}.value", f"`{item.type}` compares a number or an ISO 8601 date")
    if isinstance(value, str) and as_date(value) is None:
        raise _invalid(f"{path}.value", f"{value!r} is neither a number nor an ISO 8601 date")
    return {"key": key, item.type: value}


def _equals(key: str, value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, list):
        raise _invalid(path, "a list needs `in` / `nin`")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"key": key, "gte": value, "lte": value}
    return {"key": key, "eq": as_metadata_value(value)}


def _collections(item: ComparisonFilter, path: str) -> list[str]:
    value = item.value
    if item.type == "eq" and isinstance(value, str):
        return [value]
    if item.type == "in" and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    raise _invalid(path, "filters on `collection` only with eq / in of collection names")


def _invalid(path: str, problem: str) -> InvalidInput:
    return InvalidInput(f"Invalid filters: {path} {problem}.", field=path)
