"""Cohere Rerank (v3.5, multilingual v3.0) behind the `Reranker` port, through the official SDK.

A rerank runs inside a search request, so retries are few and short (`KB_RERANK__MAX_RETRIES`,
0.25 s doubling, or what Retry-After asks for up to 2 s); then the search answers 503. The SDK's
own retries are off, as for the embedder. Neither the key nor any text appears in errors or logs.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Final

import cohere
import httpx
import structlog
from cohere.core.api_error import ApiError
from cohere.core.parse_error import ParsingError

from kb_service.config import CohereSettings
from kb_service.retrieval.rerankers.base import Reranked, RerankerError, RerankUsage, TransientRerankerError

log = structlog.get_logger(__name__)

# Cohere's limit of documents per rerank request.
MAX_DOCUMENTS: Final = 1000
_BASE_BACKOFF_S: Final = 0.25
_MAX_BACKOFF_S: Final = 2.0
_RETRIED_TRANSPORT_ERRORS: Final = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class CohereReranker:
    def __init__(
        self,
        model_id: str,
        settings: CohereSettings,
        *,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._model_id = model_id
        self._max_retries = max_retries
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        api_key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
        self._client = (
            cohere.ClientV2(
                api_key=api_key,
                # Passed even when None, so the SDK does not read CO_API_URL from the environment.
                base_url=settings.base_url,
                timeout=settings.timeout_s,
                max_retries=0,
                httpx_client=http_client,
                client_name="kb-service",
            )
            if api_key
            else None
        )

    @property
    def model_id(self) -> str:
        return self._model_id

    def rerank(self, query: str, texts: Sequence[str]) -> Reranked:
        if not texts:
            return Reranked((), RerankUsage(self._model_id, api_calls=0, search_units=0))
        if len(texts) > MAX_DOCUMENTS:
            raise RerankerError(f"Cohere reranks at most {MAX_DOCUMENTS} documents, got {len(texts)}")
        if self._client is None:
            raise RerankerError("Cohere API key is not configured (KB_COHERE__API_KEY)")
        response = self._with_retries(self._client, query, list(texts))
        scores = [math.nan] * len(texts)
        for result in getattr(response, "results", None) or []:
            index, score = getattr(result, "index", None), getattr(result, "relevance_score", None)
            if isinstance(index, int) and 0 <= index < len(texts) and isinstance(score, int | float):
                scores[index] = float(score)
        if any(math.isnan(score) for score in scores):
            raise RerankerError(f"Cohere returned scores for fewer than the {len(texts)} documents sent")
        usage = RerankUsage(self._model_id, api_calls=1, search_units=_billed_search_units(response))
        log.debug(
            "rerankers.cohere.reranked",
            model=self._model_id,
            documents=len(texts),
            search_units=usage.search_units,
        )
        return Reranked(tuple(scores), usage)

    def _with_retries(self, client: cohere.ClientV2, query: str, texts: list[str]) -> cohere.V2RerankResponse:
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                return client.rerank(model=self._model_id, query=query, documents=texts, top_n=len(texts))
            except ApiError as exc:
                status = exc.status_code
                if status is None or not (status in (408, 429) or status >= 500):
                    raise _final_error(status) from None
                reason = f"HTTP {status}"
                retry_after = _retry_after_s(exc.headers)
            except _RETRIED_TRANSPORT_ERRORS as exc:
                reason = type(exc).__name__
            except ParsingError:
                raise RerankerError("Cohere returned a rerank response that could not be parsed") from None
            if attempt >= self._max_retries:
                raise TransientRerankerError(f"Cohere rerank failed after {attempt + 1} attempts ({reason})")
            ceiling = min(_MAX_BACKOFF_S, _BASE_BACKOFF_S * 2**attempt)
            delay = (
                min(retry_after, _MAX_BACKOFF_S) if retry_after is not None else self._rng.uniform(0, ceiling)
            )
            log.warning(
                "rerankers.cohere.retrying", reason=reason, attempt=attempt + 1, delay_s=round(delay, 3)
            )
            self._sleep(delay)
            attempt += 1


def _final_error(status: int | None) -> RerankerError:
    if status in (401, 498):
        return RerankerError(f"Cohere rejected the API key (HTTP {status})")
    if status is None or 200 <= status < 300:
        return RerankerError(f"Cohere returned an unreadable rerank response (HTTP {status})")
    return RerankerError(f"Cohere rejected the rerank request (HTTP {status})")


def _billed_search_units(response: cohere.V2RerankResponse) -> int:
    """Exactly what Cohere billed for this call; 0 when the response does not say."""
    billed = getattr(getattr(response, "meta", None), "billed_units", None)
    units = getattr(billed, "search_units", None)
    return round(units) if isinstance(units, int | float) else 0


def _retry_after_s(headers: dict[str, str] | None) -> float | None:
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
