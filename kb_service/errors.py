"""One error family. Each carries its HTTP status and a stable code; one handler renders them as
`{"error": {"code": ..., "message": ..., "details": ...}}`. Services raise these, never HTTPException.
"""

from __future__ import annotations

from typing import Any, ClassVar


class KBError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


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


class Conflict(KBError):
    status_code = 409
    code = "conflict"


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
