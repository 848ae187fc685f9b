"""The one retry policy of the cloud text providers: bounded, honouring Retry-After, capped.

The SDKs are built with their own retries off, so every attempt is ours to count and every sleep
ours to bound. Only `ProviderRateLimited` and `ProviderUnavailable` are retried; an auth failure
or a rejected request is raised after one attempt, so a wrong key never becomes a retry storm.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from kb_service.gateway.providers.base import ProviderError, ProviderRateLimited, ProviderUnavailable

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    max_backoff_s: float = 20.0
    base_backoff_s: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay_s(self, retry: int, retry_after_s: float | None) -> float:
        """Retry-After when the provider gave one, else exponential backoff with full jitter; capped."""
        if retry_after_s is not None and retry_after_s >= 0:
            return min(retry_after_s, self.max_backoff_s)
        return min(self.rng.uniform(0, self.base_backoff_s * 2**retry), self.max_backoff_s)


def call_with_retries(
    provider: str,
    call: Callable[[], T],
    classify: Callable[[Exception], ProviderError | None],
    policy: RetryPolicy,
) -> T:
    """Run `call`, translating failures with `classify` (None: not a provider failure, re-raise)."""
    retry = 0
    while True:
        try:
            return call()
        except Exception as exc:
            error = classify(exc)
            if error is None:
                raise
            if (
                not isinstance(error, ProviderRateLimited | ProviderUnavailable)
                or retry >= policy.max_retries
            ):
                raise error from exc
            retry_after_s = error.retry_after_s if isinstance(error, ProviderRateLimited) else None
            delay = policy.delay_s(retry, retry_after_s)
            log.warning(
                "gateway.provider.retry",
                provider=provider,
                error=type(error).__name__,
                retry=retry + 1,
                max_retries=policy.max_retries,
                sleep_s=round(delay, 3),
            )
            policy.sleep(delay)
            retry += 1
