"""One error family. Each carries its HTTP status and a stable code; one handler renders them as
`{"error": {"code": ..., "message": ..., "details": ...}}`. Services raise these, never HTTPException.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from kb_service.vectorstores.base import TransientVectorStoreError, VectorStoreError
from schemas._base import ErrorResponse


class KBError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self, message: str, *, details: dict[str, Any] | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        # The request field the error is about, so a form can show it next to that input; request
        # validation errors also carry it in `details["field"]`.
        named = self.details.get("field")
        self.field: str | None = field or (named if isinstance(named, str) else None)

    @property
    def headers(self) -> dict[str, str]:
        """Response headers the error carries (a rate limit's Retry-After); none by default."""
        return {}


class BadRequest(KBError):
    status_code = 400
    code = "bad_request"


class Unauthorized(KBError):
    status_code = 401
    code = "unauthorized"


class Forbidden(KBError):
    status_code = 403
    code = "forbidden"


class NotFound(KBError):
    status_code = 404
    code = "not_found"


class MethodNotAllowed(KBError):
    status_code = 405
    code = "method_not_allowed"


class Conflict(KBError):
    status_code = 409
    code = "conflict"


class Gone(KBError):
    """The resource existed but has been deprovisioned: it takes no more calls (not a 404, which
    would suggest a wrong id)."""

    status_code = 410
    code = "gone"


class PayloadTooLarge(KBError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(KBError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidInput(KBError):
    status_code = 422
    code = "invalid_input"


class CapacityExhausted(KBError):
    status_code = 429
    code = "capacity_exhausted"


class UpstreamUnavailable(KBError):
    """The embedding provider or vector store is unavailable; the client may retry."""

    status_code = 503
    code = "upstream_unavailable"


class UpstreamRejected(KBError):
    """The embedding provider refused the request for good (e.g. a wrong Cohere key)."""

    status_code = 502
    code = "upstream_rejected"


def documented(*kinds: type[KBError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the errors it may return, plus 401 (every route needs a key) and 422
    (request validation), all with the one error body, so the OpenAPI document is honest."""
    responses: dict[int | str, dict[str, Any]] = {}
    all_kinds: tuple[type[KBError], ...] = (Unauthorized, InvalidInput, *kinds)
    for kind in all_kinds:
        entry = responses.setdefault(kind.status_code, {"model": ErrorResponse, "description": ""})
        names = [n for n in entry["description"].split(" / ") if n]
        if kind.code not in names:
            names.append(kind.code)
        entry["description"] = " / ".join(names)
    return responses


@contextmanager
def translate_store_errors() -> Iterator[None]:
    """A vector-store failure as the client should see it: a transient one (overloaded, unreachable)
    is a JSON 503 it may retry, any other a JSON 502 — never a bare 500."""
    try:
        yield
    except TransientVectorStoreError as exc:
        raise UpstreamUnavailable(f"The vector store is unavailable, try again: {exc}") from None
    except VectorStoreError as exc:
        raise UpstreamRejected(f"The vector store refused the request: {exc}") from None
