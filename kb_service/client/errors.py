"""The errors the client raises: one `KBServiceError` subclass per status, carrying our JSON error body
(`{"error": {"code", "message", "details"}}`) and the request field it is about, when there is one."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "BadGateway",
    "BadRequest",
    "CapacityExhausted",
    "Conflict",
    "DocumentFailed",
    "Forbidden",
    "Gone",
    "InvalidInput",
    "KBServiceError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "ServerError",
    "ServiceUnavailable",
    "TransportError",
    "Unauthorized",
    "UnsupportedMediaType",
    "WaitTimeout",
]


class KBServiceError(Exception):
    """An error answer of the service (or no answer at all: `TransportError`)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 0,
        code: str = "error",
        details: dict[str, Any] | None = None,
        field: str | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.details = details or {}
        self.field = field
        self.response = response

    def __str__(self) -> str:
        prefix = f"{self.status_code} {self.code}" if self.status_code else self.code
        return f"{prefix}: {self.message}"


class BadRequest(KBServiceError):
    """400."""


class Unauthorized(KBServiceError):
    """401: no key, a wrong key or a revoked one."""


class Forbidden(KBServiceError):
    """403: visible to the caller, but not theirs to change."""


class NotFound(KBServiceError):
    """404: absent, or not reachable with this key."""


class MethodNotAllowed(KBServiceError):
    """405."""


class Conflict(KBServiceError):
    """409."""


class Gone(KBServiceError):
    """410: e.g. a knowledge base past its deprovisioning."""


class PayloadTooLarge(KBServiceError):
    """413."""


class UnsupportedMediaType(KBServiceError):
    """415."""


class InvalidInput(KBServiceError):
    """422: the request is well formed but says something the service refuses; `field` names it."""


class CapacityExhausted(KBServiceError):
    """429: the resource's allocation for the bundle month is used up (retried only when the answer
    carries `Retry-After`)."""


class ServerError(KBServiceError):
    """500 (always a bug of the service) and any other 5xx without a class of its own."""


class BadGateway(KBServiceError):
    """502: an upstream provider refused the call."""


class ServiceUnavailable(KBServiceError):
    """503: an upstream (provider, vector store) is unavailable; retried."""


class TransportError(KBServiceError):
    """The service could not be reached (connection refused, timeout)."""


class WaitTimeout(KBServiceError):
    """A wait for a document or job to finish ran out of time."""


class DocumentFailed(KBServiceError):
    """A document (or chunk job) ended `failed`; `message` is the service's reason."""


_BY_STATUS: dict[int, type[KBServiceError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: InvalidInput,
    429: CapacityExhausted,
    500: ServerError,
    502: BadGateway,
    503: ServiceUnavailable,
}


def error_from_response(response: httpx.Response) -> KBServiceError:
    """The typed error of an error answer, from our JSON error body (or the raw text, if another
    server — a proxy — answered)."""
    kind = _BY_STATUS.get(response.status_code)
    if kind is None:
        kind = ServerError if response.status_code >= 500 else KBServiceError
    code, message = "http_error", response.text.strip() or response.reason_phrase
    details: dict[str, Any] = {}
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code", code))
        message = str(error.get("message", message))
        given = error.get("details")
        details = given if isinstance(given, dict) else {}
    named = details.get("field")
    if named is None and isinstance(details.get("errors"), list) and details["errors"]:
        first = details["errors"][0]
        named = first.get("field") if isinstance(first, dict) else None
    return kind(
        message,
        status_code=response.status_code,
        code=code,
        details=details,
        field=named if isinstance(named, str) else None,
        response=response,
    )
