"""The typed Python client of kb-service: `KBClient` (sync) and `AsyncKBClient` (async), on httpx.

    from kb_service.client import KBClient

    with KBClient("http://127.0.0.1:8000", key) as kb:
        document = kb.upload_and_wait(kb_id, "handbook.pdf", collection="Docs")
        for hit in kb.search(kb_id, "how do I reset my password?", mode="hybrid").results:
            print(hit.similarity, hit.text)

Answers are the service's own response models (`schemas.*`); errors are `KBServiceError` subclasses
per status carrying our JSON error body. See docs/client-and-cli.md.
"""

from kb_service.client._async import AsyncKBClient
from kb_service.client._base import RetryPolicy
from kb_service.client._calls import ROUTES, Call
from kb_service.client._sync import KBClient
from kb_service.client.errors import (
    BadGateway,
    BadRequest,
    CapacityExhausted,
    Conflict,
    DocumentFailed,
    Forbidden,
    Gone,
    InvalidInput,
    KBServiceError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServerError,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    UnsupportedMediaType,
    WaitTimeout,
)

__all__ = [
    "ROUTES",
    "AsyncKBClient",
    "BadGateway",
    "BadRequest",
    "Call",
    "CapacityExhausted",
    "Conflict",
    "DocumentFailed",
    "Forbidden",
    "Gone",
    "InvalidInput",
    "KBClient",
    "KBServiceError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailable",
    "TransportError",
    "Unauthorized",
    "UnsupportedMediaType",
    "WaitTimeout",
]
