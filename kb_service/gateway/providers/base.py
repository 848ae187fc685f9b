"""The text-generation port: one Protocol for Claude (Anthropic API, Bedrock).

Value types are frozen dataclasses so a request can be logged by its shape (model, sizes) and
handed between threads without copying. Errors form one family, `ProviderError`, each naming the
provider; their messages never contain prompt or completion text, only statuses and sizes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, runtime_checkable

Role: TypeAlias = Literal["system", "user", "assistant"]
StopReason: TypeAlias = Literal["end_turn", "max_tokens", "stop_sequence"]

# Claude's stop reasons (the Anthropic API and Bedrock Converse name them alike) folded into the
# port's three. A refusal or a tool call ends the turn; running out of context is, to the caller,
# running out of tokens.
_CLAUDE_STOP_REASONS: dict[str | None, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "model_context_window_exceeded": "max_tokens",
}


def claude_stop_reason(raw: str | None) -> StopReason:
    return _CLAUDE_STOP_REASONS.get(raw, "end_turn")


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class TextRequest:
    """One generation call, in the catalog's terms (`model_id` is a catalog id, not a provider's).

    `region` and `cross_region_inference` describe where the calling resource may run; only
    Bedrock uses them (to pick the regional client and an inference profile), the others ignore them.
    """

    model_id: str
    messages: tuple[ChatMessage, ...]
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    region: str | None = None
    cross_region_inference: bool = False


@dataclass(frozen=True, slots=True)
class TextUsage:
    """The provider's own count: what metering records, to the token."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class TextResult:
    text: str
    stop_reason: StopReason
    usage: TextUsage


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last event of every stream that finished at the provider; carries the final usage."""

    stop_reason: StopReason
    usage: TextUsage


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Usage a provider reported part-way through a stream (cumulative: the last one wins).

    Anthropic reports input tokens in ``message_start`` and output tokens in ``message_delta``;
    Bedrock reports only at the end (its ``metadata`` event, which becomes the `StreamEnd`). A
    stream cut before its `StreamEnd` is metered from the last report, if any."""

    usage: TextUsage


StreamEvent: TypeAlias = TextDelta | UsageReport | StreamEnd


class ProviderError(Exception):
    """A provider call failed; `provider` names it ("anthropic", "bedrock", "none")."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.detail = message


class ProviderRateLimited(ProviderError):
    """429 from the provider after our bounded retries; `retry_after_s` is what it last asked for."""

    def __init__(self, provider: str, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(provider, message)
        self.retry_after_s = retry_after_s


class ProviderUnavailable(ProviderError):
    """5xx, timeout or connection failure that outlasted the retries."""


class ProviderAuthFailed(ProviderError):
    """The provider refused our credentials (401/403); never retried."""


class ProviderRejected(ProviderError):
    """The provider refused the request itself (4xx other than auth and rate limits)."""


class ProviderNotConfigured(ProviderError):
    """No usable provider: `setting_name` is the setting an operator must set."""

    def __init__(self, provider: str, setting_name: str, message: str | None = None) -> None:
        super().__init__(provider, message or f"not configured; set {setting_name}")
        self.setting_name = setting_name


@runtime_checkable
class TextProvider(Protocol):
    @property
    def name(self) -> str:
        """The provider's name, as errors and logs carry it."""

    def complete(self, request: TextRequest) -> TextResult:
        """Generate a whole answer; raises a `ProviderError` subclass on failure."""

    def stream(self, request: TextRequest) -> Iterator[StreamEvent]:
        """Yield text deltas (and `UsageReport`s where the provider sends them), then exactly one
        `StreamEnd` when the provider finished.

        Errors before the first event raise from the first `next()`; a stream cut by the consumer
        (generator closed) stops without a `StreamEnd`.
        """
