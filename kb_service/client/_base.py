"""What the sync and async clients share: the retry policy, reading an answer, the wait helpers' rules,
and the decorators that turn each operation of `_calls` into a client method."""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import httpx

from kb_service.client._calls import Call
from kb_service.client.errors import DocumentFailed, KBServiceError, TransportError, error_from_response
from schemas.knowledge import ChunkJobOut, DocumentOut

if TYPE_CHECKING:
    from kb_service.client._async import AsyncKBClient
    from kb_service.client._sync import KBClient

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
RETRY_STATUSES = frozenset({429, 503})
FINISHED = frozenset({"indexed", "failed"})


@dataclass(frozen=True)
class RetryPolicy:
    """429 and 503 are retried up to `max_retries` times, waiting what `Retry-After` says when it is at
    most `max_wait` seconds (a longer wait — an allocation that refills next month — is raised at
    once); without the header a 503 backs off exponentially from `backoff` seconds and a 429 is raised.
    Connection errors of reads (GET) are retried the same way."""

    max_retries: int = 3
    max_wait: float = 30.0
    backoff: float = 0.5

    def delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        if attempt >= self.max_retries:
            return None
        if response is None:
            return self._backoff(attempt)
        after = retry_after(response)
        if after is not None:
            return after if after <= self.max_wait else None
        return self._backoff(attempt) if response.status_code == 503 else None

    def _backoff(self, attempt: int) -> float:
        jitter = 1 + random.random() / 4
        return float(min(self.max_wait, self.backoff * 2**attempt * jitter))


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (delta-seconds or an HTTP date), or None when absent or unreadable."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def build_request(client: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
    return client.build_request(
        call.method,
        call.path,
        params=list(call.params) or None,
        json=call.json,
        files=call.files,
        data=call.data,
        headers=call.headers or None,
    )


def read(call: Call[T], response: httpx.Response) -> T:
    if response.is_error:
        raise error_from_response(response)
    return call.parse(response)


def auth_headers(key: str | None) -> dict[str, str]:
    headers = {"User-Agent": "kb-service-client"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def resolve(url: str | None, key: str | None) -> tuple[str, str | None]:
    """The base URL and key: the arguments, else `KB_URL` / `KB_API_KEY`, else the local default."""
    return (url or os.environ.get("KB_URL") or DEFAULT_URL).rstrip("/"), key or os.environ.get("KB_API_KEY")


def document_outcome(document: DocumentOut) -> DocumentOut | None:
    """The finished document (indexed), None while it is still on its way; raises when it failed."""
    if document.status == "failed":
        raise DocumentFailed(
            document.error or "The document failed.",
            code="document_failed",
            details={"document_id": document.id},
        )
    return document if document.status == "indexed" else None


def job_outcome(job: ChunkJobOut) -> ChunkJobOut | None:
    if job.status == "failed":
        raise DocumentFailed(job.error or "The job failed.", code="job_failed", details={"job_id": job.id})
    return job if job.status == "indexed" else None


def sync_op(operation: Callable[P, Call[T]]) -> Callable[Concatenate[KBClient, P], T]:
    """A `KBClient` method that sends the operation's request and answers its typed result."""

    @functools.wraps(operation)
    def method(self: KBClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.send(operation(*args, **kwargs))

    return method


def async_op(
    operation: Callable[P, Call[T]],
) -> Callable[Concatenate[AsyncKBClient, P], Coroutine[Any, Any, T]]:
    """An `AsyncKBClient` method: the same operation, awaited."""

    @functools.wraps(operation)
    async def method(self: AsyncKBClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.send(operation(*args, **kwargs))

    return method


def transport_error(exc: httpx.TransportError, url: str) -> KBServiceError:
    return TransportError(f"Cannot reach {url}: {exc}", code="transport_error")
