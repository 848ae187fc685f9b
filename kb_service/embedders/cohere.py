"""Cohere Embed v3 behind the `Embedder` port, through the official SDK (v2 API).

We own the retry policy, so the SDK is built with ``max_retries=0``; otherwise each of our attempts
would hide up to two more SDK attempts and the backoff would no longer be ours to bound.

Retried: HTTP 429, 408 and 5xx, timeouts and connection errors, with exponential backoff and full
jitter, or exactly what ``Retry-After`` asks for (capped at ``max_backoff_s``). When the retries run
out, `TransientEmbedderError` tells the Celery task to try again later. Every other HTTP error is
final (`EmbedderError`) after one request, so a wrong key never turns into a retry storm.

Neither the API key nor any input text appears in an error message or a log event.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias

import cohere
import httpx
import numpy as np
import numpy.typing as npt
import structlog
from cohere.core.api_error import ApiError
from cohere.core.parse_error import ParsingError

from kb_service.catalog import ModelSpec
from kb_service.config import CohereSettings
from kb_service.embedders.base import (
    EmbedderError,
    EmbeddingCall,
    Embeddings,
    InputType,
    TransientEmbedderError,
)
from kb_service.embedders.local import check_texts, count_wordpiece_tokens

log = structlog.get_logger(__name__)

Truncate: TypeAlias = Literal["NONE", "START", "END"]

MAX_TEXTS_PER_CALL: Final = 96
_MAX_ERROR_DETAIL_CHARS: Final = 200
_KEY_STATUSES: Final = frozenset({401, 498})  # 498: Cohere's "invalid token"
_RETRIED_TRANSPORT_ERRORS: Final = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _is_retried_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


@dataclass(frozen=True, slots=True)
class _Failure:
    """A retryable failure of one attempt."""

    reason: str
    retry_after_s: float | None = None


class CohereEmbedder:
    """Cohere Embed v3 (english / multilingual, full and light); dimension and window from the spec.

    ``truncate="END"`` by default: the chunker keeps chunks inside 512 tokens by the (conservative)
    WordPiece count, but a pushed chunk is only capped at 2,048 characters, which can rarely exceed
    512 Cohere tokens; losing the tail of that one chunk is better than failing its whole batch of 96.

    A missing API key is reported by `embed()`, not here, so token counting still works and the
    error reaches the caller where embedding errors are handled.
    """

    def __init__(
        self,
        spec: ModelSpec,
        settings: CohereSettings,
        *,
        http_client: httpx.Client | None = None,
        truncate: Truncate = "END",
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        base_backoff_s: float = 1.0,
    ) -> None:
        if spec.provider != "cohere" or spec.dimension is None or spec.max_tokens is None:
            raise ValueError(f"{spec.id} is not a Cohere embedding model")
        self._spec = spec
        self._dimension = spec.dimension
        self._max_tokens = spec.max_tokens
        self._truncate: Truncate = truncate
        self._max_retries = settings.max_retries
        self._max_backoff_s = settings.max_backoff_s
        self._base_backoff_s = base_backoff_s
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._api_key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
        self._client = self._build_client(settings, http_client) if self._api_key else None

    def _build_client(self, settings: CohereSettings, http_client: httpx.Client | None) -> cohere.ClientV2:
        # base_url is passed even when None: the SDK's default would read CO_API_URL from the
        # environment, and Settings is the only place configuration comes from.
        return cohere.ClientV2(
            api_key=self._api_key,
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=0,
            httpx_client=http_client,
            client_name="kb-service",
        )

    @property
    def model_id(self) -> str:
        return self._spec.id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        """A conservative stand-in for Cohere's own count, which needs no network.

        There is no offline Cohere tokenizer here, so this is the bundled MiniLM WordPiece count.
        For English, WordPiece's 30k vocabulary usually splits text into MORE pieces than Cohere's
        larger BPE vocabulary, so a chunk sized to fit 512 by this count fits Cohere's window too.
        """
        return count_wordpiece_tokens(text)

    def embed(self, texts: Sequence[str], input_type: InputType) -> Embeddings:
        batch = check_texts(texts, input_type)
        if not batch:
            return Embeddings(vectors=np.empty((0, self._dimension), dtype=np.float32), calls=())
        client = self._require_client()
        parts: list[npt.NDArray[np.float32]] = []
        calls: list[EmbeddingCall] = []
        for start in range(0, len(batch), MAX_TEXTS_PER_CALL):
            chunk = batch[start : start + MAX_TEXTS_PER_CALL]
            response = self._embed_with_retries(client, chunk, input_type)
            parts.append(self._vectors_of(response, len(chunk)))
            calls.append(EmbeddingCall(input_tokens=_billed_input_tokens(response)))
        log.debug(
            "embedders.cohere.embedded",
            model=self.model_id,
            texts=len(batch),
            calls=len(calls),
            input_tokens=sum(call.input_tokens for call in calls),
        )
        return Embeddings(vectors=_l2_normalised(np.vstack(parts)), calls=tuple(calls))

    def _require_client(self) -> cohere.ClientV2:
        if self._client is None:
            raise EmbedderError("Cohere API key is not configured (KB_COHERE__API_KEY)")
        return self._client

    def _embed_with_retries(
        self, client: cohere.ClientV2, texts: list[str], input_type: InputType
    ) -> cohere.EmbedByTypeResponse:
        attempt = 0
        while True:
            try:
                return client.embed(
                    model=self.model_id,
                    texts=texts,
                    input_type=input_type,
                    embedding_types=["float"],
                    truncate=self._truncate,
                )
            except ApiError as exc:
                failure = self._failure_of(exc)
            except _RETRIED_TRANSPORT_ERRORS as exc:
                failure = _Failure(reason=type(exc).__name__)
            except ParsingError:
                raise EmbedderError("Cohere returned a response that could not be parsed") from None
            if attempt >= self._max_retries:
                raise TransientEmbedderError(
                    f"Cohere embed failed after {attempt + 1} attempts ({failure.reason})",
                    retry_after_s=failure.retry_after_s,
                )
            delay = self._backoff_s(attempt, failure.retry_after_s)
            log.warning(
                "embedders.cohere.retrying",
                model=self.model_id,
                reason=failure.reason,
                attempt=attempt + 1,
                delay_s=round(delay, 3),
            )
            self._sleep(delay)
            attempt += 1

    def _failure_of(self, exc: ApiError) -> _Failure:
        """A retryable failure, or raise the final `EmbedderError` for this HTTP error."""
        status = exc.status_code
        if status is None or 200 <= status < 300:
            # The SDK reports a 2xx whose body is not JSON this way.
            raise EmbedderError(f"Cohere returned an unreadable response (HTTP {status})") from None
        if _is_retried_status(status):
            return _Failure(reason=f"HTTP {status}", retry_after_s=_retry_after_s(exc.headers))
        # `from None`: the SDK error's text carries the raw response, which is not ours to log.
        if status in _KEY_STATUSES:
            raise EmbedderError(f"Cohere rejected the API key (HTTP {status})") from None
        detail = self._error_detail(exc.body)
        if status == 403:
            raise EmbedderError(f"Cohere denied access (HTTP 403){detail}") from None
        raise EmbedderError(f"Cohere rejected the request (HTTP {status}){detail}") from None

    def _error_detail(self, body: Any) -> str:
        message = body.get("message") if isinstance(body, dict) else body
        if not isinstance(message, str) or not message.strip():
            return ""
        text = " ".join(message.split())
        if self._api_key:
            text = text.replace(self._api_key, "[redacted]")
        if len(text) > _MAX_ERROR_DETAIL_CHARS:
            text = text[: _MAX_ERROR_DETAIL_CHARS - 1] + "…"
        return f": {text}"

    def _backoff_s(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, self._max_backoff_s)
        # Full jitter: spreads the workers that hit the same rate limit at the same moment.
        ceiling = min(self._max_backoff_s, self._base_backoff_s * 2**attempt)
        return self._rng.uniform(0.0, ceiling)

    def _vectors_of(self, response: cohere.EmbedByTypeResponse, expected: int) -> npt.NDArray[np.float32]:
        # The SDK builds responses without validation, so a field may be missing altogether.
        floats = getattr(getattr(response, "embeddings", None), "float_", None)
        if floats is None:
            raise EmbedderError("Cohere response has no float embeddings")
        vectors = np.asarray(floats, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != expected:
            raise EmbedderError(f"Cohere returned {len(floats)} embeddings for {expected} texts")
        if vectors.shape[1] != self._dimension:
            raise EmbedderError(
                f"Cohere returned {vectors.shape[1]}-dimensional vectors; "
                f"{self.model_id} has {self._dimension} dimensions"
            )
        return vectors


def _billed_input_tokens(response: cohere.EmbedByTypeResponse) -> int:
    """Exactly what Cohere billed for this call; 0 when the response does not say."""
    billed = getattr(getattr(response, "meta", None), "billed_units", None)
    tokens = getattr(billed, "input_tokens", None)
    return round(tokens) if isinstance(tokens, int | float) else 0


def _retry_after_s(headers: dict[str, str] | None) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or HTTP date), if any."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _l2_normalised(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    # Cohere's v3 floats are close to unit length but not promised to be; the port promises it.
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if np.any(norms == 0.0):
        raise EmbedderError("Cohere returned an all-zero embedding")
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)
