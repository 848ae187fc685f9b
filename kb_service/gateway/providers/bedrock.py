"""Claude through Amazon Bedrock's Converse / ConverseStream APIs, with boto3.

One ``bedrock-runtime`` client per region (boto3 clients are thread-safe), created on first use:
a resource's requests run in its own region, and with cross-region inference (CRI) on they name the
geography's inference profile (``eu.anthropic...``) instead of the base model id.

botocore's retries are off (``total_max_attempts=1``) so the bounded, capped policy is ours, the same as
for the Anthropic API. Credentials come from the settings when given, else from boto3's default
chain (an instance or task role). Usage is Bedrock's ``usage.inputTokens`` / ``outputTokens``
(for a stream, from its ``metadata`` event, which follows ``messageStop``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Final

import boto3
import botocore.config
import botocore.exceptions

from kb_service.gateway.providers.base import (
    ProviderAuthFailed,
    ProviderError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    StopReason,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextRequest,
    TextResult,
    TextUsage,
    claude_stop_reason,
)
from kb_service.gateway.providers.model_ids import bedrock_model_id
from kb_service.gateway.providers.retry import RetryPolicy, call_with_retries

NAME: Final = "bedrock"

# Lower-cased: ConverseStream reports errors inside the stream with camel-case names.
_AUTH_CODES: Final = frozenset(
    {
        "accessdeniedexception",
        "unrecognizedclientexception",
        "invalidsignatureexception",
        "expiredtokenexception",
        "invalidclienttokenid",
        "signaturedoesnotmatch",
    }
)
_THROTTLE_CODES: Final = frozenset(
    {"throttlingexception", "servicequotaexceededexception", "toomanyrequestsexception"}
)
_UNAVAILABLE_CODES: Final = frozenset(
    {
        "internalserverexception",
        "serviceunavailableexception",
        "modeltimeoutexception",
        "modelerrorexception",
        "modelstreamerrorexception",
        "modelnotreadyexception",
    }
)


def classify_error(exc: Exception) -> ProviderError | None:
    """botocore exception → port error; messages carry the AWS error code and status, never text."""
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return ProviderNotConfigured(NAME, "KB_TEXT__ACCESS_KEY_ID", "no AWS credentials found")
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "unknown"))
        metadata = exc.response.get("ResponseMetadata", {})
        status = int(metadata.get("HTTPStatusCode", 0) or 0)
        lowered = code.lower()
        if lowered in _THROTTLE_CODES or (status == 429 and lowered not in _UNAVAILABLE_CODES):
            return ProviderRateLimited(NAME, f"rate limited ({code})", _retry_after_s(metadata))
        if lowered in _AUTH_CODES or status in (401, 403):
            return ProviderAuthFailed(NAME, f"credentials refused ({code})")
        if lowered in _UNAVAILABLE_CODES or status >= 500 or status == 408:
            return ProviderUnavailable(NAME, f"server error ({code}, HTTP {status})")
        return ProviderRejected(NAME, f"request refused ({code}, HTTP {status})")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        # Timeouts, connection errors, unreadable responses.
        return ProviderUnavailable(NAME, type(exc).__name__)
    return None


def _retry_after_s(metadata: dict[str, Any]) -> float | None:
    value = metadata.get("HTTPHeaders", {}).get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


class BedrockTextProvider:
    def __init__(
        self,
        *,
        default_region: str = "eu-central-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        endpoint_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        max_backoff_s: float = 20.0,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self._default_region = default_region
        self._session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
        )
        self._endpoint_url = endpoint_url
        self._config = botocore.config.Config(
            connect_timeout=min(timeout, 10.0),
            read_timeout=timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
            user_agent_extra="kb-service",
        )
        self._policy = retry_policy or RetryPolicy(max_retries=max_retries, max_backoff_s=max_backoff_s)
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return NAME

    def complete(self, request: TextRequest) -> TextResult:
        client, params = self._prepare(request)
        response = call_with_retries(NAME, lambda: client.converse(**params), classify_error, self._policy)
        blocks = response.get("output", {}).get("message", {}).get("content", [])
        text = "".join(block["text"] for block in blocks if "text" in block)
        return TextResult(text, claude_stop_reason(response.get("stopReason")), _usage(response.get("usage")))

    def stream(self, request: TextRequest) -> Iterator[StreamEvent]:
        client, params = self._prepare(request)
        # Only opening the stream is retried: once text has gone to the caller a retry would repeat it.
        response = call_with_retries(
            NAME, lambda: client.converse_stream(**params), classify_error, self._policy
        )
        return self._translate(response["stream"])

    def _translate(self, events: Any) -> Iterator[StreamEvent]:
        stop_reason: StopReason = "end_turn"
        try:
            for event in events:
                if "contentBlockDelta" in event:
                    text = event["contentBlockDelta"].get("delta", {}).get("text")
                    if text:
                        yield TextDelta(text)
                elif "messageStop" in event:
                    stop_reason = claude_stop_reason(event["messageStop"].get("stopReason"))
                elif "metadata" in event:
                    yield StreamEnd(stop_reason, _usage(event["metadata"].get("usage")))
                    return
        except Exception as exc:
            error = classify_error(exc)
            if error is None:
                raise
            raise error from exc
        finally:
            events.close()
        raise ProviderUnavailable(NAME, "stream ended without usage metadata")

    def _prepare(self, request: TextRequest) -> tuple[Any, dict[str, Any]]:
        region = request.region or self._default_region
        model = bedrock_model_id(
            request.model_id, region, cross_region_inference=request.cross_region_inference
        )
        params: dict[str, Any] = {
            "modelId": model,
            "messages": [
                {"role": m.role, "content": [{"text": m.content}]}
                for m in request.messages
                if m.role != "system"
            ],
            "inferenceConfig": _inference_config(request),
        }
        system = [{"text": m.content} for m in request.messages if m.role == "system"]
        if system:
            params["system"] = system
        return self._client(region), params

    def _client(self, region: str) -> Any:
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                client = self._session.client(
                    "bedrock-runtime",
                    region_name=region,
                    endpoint_url=self._endpoint_url,
                    config=self._config,
                )
                self._clients[region] = client
            return client


def _inference_config(request: TextRequest) -> dict[str, Any]:
    config: dict[str, Any] = {"maxTokens": request.max_tokens}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop:
        config["stopSequences"] = list(request.stop)
    return config


def _usage(raw: dict[str, Any] | None) -> TextUsage:
    raw = raw or {}
    return TextUsage(int(raw.get("inputTokens", 0)), int(raw.get("outputTokens", 0)))
