"""Talking to OpenSearch: the client (hosts, TLS, basic auth or AWS SigV4), retries with backoff,
and OpenSearch errors turned into the vector store's.

The transport's own retry is switched off: it retries at once, without backoff, which only adds
load to an overloaded cluster. `Retrier` retries connection errors, timeouts, 429 and 502/503/504
with exponential backoff and jitter; every request the store sends is idempotent (index by id,
delete by query, create-if-missing), so a retry after a lost answer is safe.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import structlog
from opensearchpy import ConnectionError as OpenSearchConnectionError
from opensearchpy import OpenSearch, TransportError, Urllib3AWSV4SignerAuth

from kb_service.config import OpenSearchStoreSettings
from kb_service.vectorstores.base import IndexNotFoundError, TransientVectorStoreError, VectorStoreError

log = structlog.get_logger(__name__)

T = TypeVar("T")

RETRYABLE_STATUS: Final = frozenset({429, 502, 503, 504})
_REASON_MAX: Final = 200


def build_client(settings: OpenSearchStoreSettings) -> OpenSearch:
    """An opensearch-py client for the settings: hosts, TLS, and basic auth or AWS SigV4."""
    options: dict[str, Any] = {
        "hosts": list(settings.hosts),
        "timeout": settings.timeout_s,
        "max_retries": 0,
        "verify_certs": settings.verify_certs,
    }
    if settings.ca_certs is not None:
        options["ca_certs"] = str(settings.ca_certs)
    if settings.aws_region and settings.username:
        raise VectorStoreError("configure either username/password or aws_region for OpenSearch, not both")
    if settings.aws_region:
        options["http_auth"] = _sigv4_auth(settings.aws_region, settings.aws_service)
    elif settings.username:
        password = settings.password.get_secret_value() if settings.password else ""
        options["http_auth"] = (settings.username, password)
    return OpenSearch(**options)


def _sigv4_auth(region: str, service: str) -> Urllib3AWSV4SignerAuth:
    try:
        import boto3  # optional: only Amazon OpenSearch Service / Serverless needs it
    except ImportError as exc:
        raise VectorStoreError(
            "OpenSearch aws_region is set, which signs requests with AWS SigV4 and needs boto3: "
            "pip install boto3"
        ) from exc
    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise VectorStoreError("OpenSearch aws_region is set but boto3 found no AWS credentials")
    return Urllib3AWSV4SignerAuth(credentials, region, service)


class RequestFailed(VectorStoreError):
    """A request OpenSearch refused for good; keeps the error type for callers that expect one."""

    def __init__(self, message: str, *, status: int, error_type: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


class Retrier:
    def __init__(
        self, *, max_retries: int, backoff_s: float, max_backoff_s: float, sleep: Callable[[float], None]
    ) -> None:
        self.max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._sleep = sleep

    def call(
        self, op: str, call: Callable[[], T], *, kb_id: str | None = None, retries: int | None = None
    ) -> T:
        """Run one request, retrying transient failures with backoff; map errors to the store's."""
        limit = self.max_retries if retries is None else retries
        attempt = 0
        while True:
            try:
                return call()
            except OpenSearchConnectionError as exc:
                reason = f"cluster unreachable ({type(exc).__name__})"
                cause: Exception = exc
            except TransportError as exc:
                status = exc.status_code if isinstance(exc.status_code, int) else 0
                if status not in RETRYABLE_STATUS:
                    raise translate(op, kb_id, exc) from exc
                reason = f"HTTP {status} {error_type(exc)}"
                cause = exc
            if attempt >= limit:
                raise TransientVectorStoreError(f"OpenSearch {op} failed: {reason}") from cause
            self.backoff(op, attempt, kb_id, reason)
            attempt += 1

    def backoff(self, op: str, attempt: int, kb_id: str | None, reason: str) -> None:
        # Exponential with "equal jitter": half the cap is certain, half random, so clients that
        # failed together spread out while each still backs off further every time.
        cap = min(self._max_backoff_s, self._backoff_s * 2**attempt)
        delay = cap / 2 + random.uniform(0, cap / 2)
        log.warning(
            "vectorstore.opensearch.retry",
            op=op,
            kb_id=kb_id,
            attempt=attempt + 1,
            delay_s=delay,
            reason=reason,
        )
        self._sleep(delay)


def is_missing(response: Mapping[str, Any]) -> bool:
    """Whether an answer requested with ignore=404 is the 404 (successful ones are keyed by index)."""
    return response.get("status") == 404 and "error" in response


def translate(op: str, kb_id: str | None, exc: TransportError) -> VectorStoreError:
    status = exc.status_code if isinstance(exc.status_code, int) else 0
    kind = error_type(exc)
    # Every request targets a KB's alias or index, so a 404 means the index is missing.
    if status == 404:
        return IndexNotFoundError(f"knowledge base {kb_id!r} has no index ({op}: {kind})")
    return RequestFailed(
        f"OpenSearch {op} failed: HTTP {status} {kind}: {_error_reason(exc)}", status=status, error_type=kind
    )


def error_type(exc: TransportError) -> str:
    info = exc.info
    if isinstance(info, Mapping) and isinstance(error := info.get("error"), Mapping):
        return str(error.get("type", "unknown"))
    return str(exc.error)


def _error_reason(exc: TransportError) -> str:
    info = exc.info
    if isinstance(info, Mapping) and isinstance(error := info.get("error"), Mapping):
        return clean_reason(str(error.get("reason", "")))
    return ""


def clean_reason(reason: str) -> str:
    """OpenSearch reasons can quote document values ("Preview of field's value: ..."); cut that off."""
    reason = reason.split("Preview of field's value", 1)[0].strip()
    return reason if len(reason) <= _REASON_MAX else reason[: _REASON_MAX - 3] + "..."
