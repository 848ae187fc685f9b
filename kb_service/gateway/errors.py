"""The gateway's errors, and the one translation of provider failures into them.

A provider's own error (`ProviderError` family, or the embedder port's) never reaches a route: the
service turns it into one of these, each naming the provider and never echoing prompt text.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kb_service.embedders.base import EmbedderError, TransientEmbedderError
from kb_service.errors import BadRequest, KBError, UpstreamRejected
from kb_service.gateway.providers.base import (
    ProviderAuthFailed,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)


class ProviderRateLimitedError(KBError):
    """The provider kept answering 429 after our bounded retries; `Retry-After` says when to retry."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float | None, details: dict[str, Any]) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        # Whole seconds, at least 1: a client retrying at once would only be refused again.
        seconds = 1 if self.retry_after_s is None else max(1, math.ceil(self.retry_after_s))
        return {"Retry-After": str(seconds)}


class ProviderUnavailableError(KBError):
    """5xx, timeout or connection failure at the provider (after retries)."""

    status_code = 502
    code = "provider_unavailable"


class ProviderAuthFailedError(KBError):
    """This deployment's provider credentials were refused: an operator must fix them."""

    status_code = 502
    code = "provider_auth_failed"


class ProviderRejectedError(BadRequest):
    """The provider refused the request itself (too long, a model it does not serve here)."""

    code = "provider_rejected"


class ProviderNotConfiguredError(KBError):
    status_code = 503
    code = "provider_not_configured"


@contextmanager
def translate_provider_errors() -> Iterator[None]:
    try:
        yield
    except ProviderRateLimited as exc:
        raise ProviderRateLimitedError(
            f"The model provider ({exc.provider}) is rate limiting this deployment; retry later.",
            retry_after_s=exc.retry_after_s,
            details={"provider": exc.provider},
        ) from None
    except ProviderUnavailable as exc:
        raise ProviderUnavailableError(
            f"The model provider ({exc.provider}) is unavailable: {exc.detail}.",
            details={"provider": exc.provider},
        ) from None
    except ProviderAuthFailed as exc:
        raise ProviderAuthFailedError(
            f"The model provider ({exc.provider}) refused this deployment's credentials: {exc.detail}.",
            details={"provider": exc.provider},
        ) from None
    except ProviderNotConfigured as exc:
        raise not_configured(exc.setting_name) from None
    except ProviderRejected as exc:
        raise ProviderRejectedError(
            f"The model provider ({exc.provider}) refused the request: {exc.detail}.",
            details={"provider": exc.provider},
        ) from None


_HINTS = {
    "KB_TEXT__PROVIDER": (
        " to anthropic (with KB_TEXT__API_KEY) or bedrock (an AWS role or KB_TEXT__ACCESS_KEY_ID)"
    )
}


def not_configured(setting: str, what: str = "Text generation") -> ProviderNotConfiguredError:
    """503 naming the setting an operator must set before `what` can be called."""
    return ProviderNotConfiguredError(
        f"{what} is not configured on this deployment: set {setting}{_HINTS.get(setting, '')}.",
        details={"setting": setting},
    )


@contextmanager
def translate_embedder_errors(provider: str) -> Iterator[None]:
    """The embedder port's two errors: transient (a rate limit when Retry-After came with it)
    and final (Cohere: a wrong key or a refused request — both the deployment's to fix)."""
    try:
        yield
    except TransientEmbedderError as exc:
        if exc.retry_after_s is not None:
            raise ProviderRateLimitedError(
                f"The embeddings provider ({provider}) is rate limiting this deployment; retry later.",
                retry_after_s=exc.retry_after_s,
                details={"provider": provider},
            ) from None
        raise ProviderUnavailableError(
            f"The embeddings provider ({provider}) is unavailable: {exc}.", details={"provider": provider}
        ) from None
    except EmbedderError as exc:
        # Final: a wrong key, denied access or a refused request (the message says which).
        raise UpstreamRejected(
            f"The embeddings provider ({provider}) refused the call: {exc}.", details={"provider": provider}
        ) from None
