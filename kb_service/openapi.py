"""Helpers that keep the OpenAPI document honest about errors."""

from __future__ import annotations

from typing import Any

from kb_service.errors import InvalidInput, KBError, Unauthorized
from schemas._base import ErrorResponse


def errors(*kinds: type[KBError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the errors it may return, plus 401 (every route needs a key) and 422
    (request validation), all with the one error body."""
    responses: dict[int | str, dict[str, Any]] = {}
    all_kinds: tuple[type[KBError], ...] = (Unauthorized, InvalidInput, *kinds)
    for kind in all_kinds:
        entry = responses.setdefault(kind.status_code, {"model": ErrorResponse, "description": ""})
        names = [n for n in entry["description"].split(" / ") if n]
        if kind.code not in names:
            names.append(kind.code)
        entry["description"] = " / ".join(names)
    return responses
