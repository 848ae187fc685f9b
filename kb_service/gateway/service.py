"""The model gateway: a resource's own API key calls the models enabled on it.

Every call runs the same steps, in this order:
1. the key's resource, of the right type (a text key for chat and messages; an embeddings key —
   including the one paired with a KB key — for embeddings); anything else is a 404;
2. the model: absent → the resource's default (text) or its one model (embeddings); a model not
   enabled → 400 naming the enabled ones;
3. capacity: a resource whose bundle month's GU are used up is refused (429) **before** any
   provider call, so a refused call spends nothing;
4. the provider call;
5. metering of exactly the usage the provider reported (`MeteringService`). A call that fails at the
   provider meters nothing. Embeddings never meter output tokens.

A stream is metered when it ends, in a unit of work of its own (the request's has committed by the
time the body streams): the `StreamEnd`'s final usage, or — for a stream the client cut — the last
`UsageReport` the provider sent (Anthropic: input tokens at once, output tokens at the end; Bedrock
reports nothing before its end, so a cut Bedrock stream meters nothing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import numpy.typing as npt
import structlog

from kb_service.auth.principals import Principal
from kb_service.capacity.service import CapacityService
from kb_service.catalog import ModelSpec, Offer, get_model
from kb_service.embedders.base import InputType
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.errors import BadRequest, InvalidInput, KBError, NotFound
from kb_service.gateway.errors import not_configured, translate_embedder_errors, translate_provider_errors
from kb_service.gateway.providers.base import (
    ChatMessage,
    StopReason,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextProvider,
    TextRequest,
    TextUsage,
    UsageReport,
)
from kb_service.metering.service import MeteringService
from kb_service.resources.models import Resource, ResourceType
from kb_service.resources.repository import ResourceRepository

log = structlog.get_logger(__name__)

# OpenAI's own limit for one embeddings request; the embedder port splits it into provider calls
# of at most 96 texts (Cohere's limit).
MAX_EMBEDDING_INPUTS = 2048


@dataclass(frozen=True, slots=True)
class TextCall:
    """One chat or messages request, in the catalog's terms; `model` None means the default."""

    model: str | None
    messages: tuple[ChatMessage, ...]
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EnabledModel:
    spec: ModelSpec
    is_default: bool


@dataclass(frozen=True, slots=True)
class Completion:
    model_id: str
    text: str
    stop_reason: StopReason
    usage: TextUsage
    genai_units: float


@dataclass(frozen=True, slots=True)
class EmbeddingsResult:
    model_id: str
    # Row i is text i's L2-normalised embedding.
    vectors: npt.NDArray[np.float32]
    input_tokens: int
    api_calls: int
    genai_units: float


@dataclass(frozen=True, slots=True)
class UsageRecorded:
    """The usage endpoint's answer: the call's GU and where the resource stands after it."""

    genai_units: float
    used_gu: float
    allocation_gu: int
    exhausted: bool


Meter = Callable[[TextUsage], float]


@dataclass
class MeteredStream:
    """A provider stream that meters itself exactly once: on its `StreamEnd`, or — cut before it
    (`cancel`, or closed early) — from the provider's last `UsageReport`. A provider failure meters
    nothing.

    Iterating yields `TextDelta`s then one `StreamEnd`; provider failures arrive as the gateway's
    errors. `genai_units` is set once metered. Whoever iterates must `close()` it when done."""

    model_id: str
    _events: Iterator[StreamEvent]
    _meter: Meter
    _reported: TextUsage | None = None
    genai_units: float | None = field(default=None, init=False)
    _settled: bool = field(default=False, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __iter__(self) -> Iterator[TextDelta | StreamEnd]:
        try:
            with translate_provider_errors():
                for event in self._events:
                    if isinstance(event, UsageReport):
                        self._reported = event.usage
                        continue
                    if isinstance(event, StreamEnd):
                        self._settle(event.usage)
                    yield event
        except KBError:
            self._settle(None)  # failed at the provider: nothing is metered
            raise
        finally:
            self.close()

    def cancel(self) -> None:
        """The client went away: meter what the provider has reported, now — from any thread, even
        while a pull is waiting on the provider (the stream itself is closed when that returns)."""
        self._settle(self._reported)

    def close(self) -> None:
        self._settle(self._reported)
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    def _settle(self, usage: TextUsage | None) -> None:
        with self._lock:
            if self._settled:
                return
            self._settled = True
        if usage is not None:
            self.genai_units = self._meter(usage)


class GatewayService:
    def __init__(
        self,
        resources: ResourceRepository,
        capacity: CapacityService,
        metering: MeteringService,
        text_provider: Callable[[], TextProvider],
        embedders: EmbedderRegistry,
        offer: Offer,
        metering_unit: Callable[[], AbstractContextManager[MeteringService]],
    ) -> None:
        self._resources = resources
        self._capacity = capacity
        self._metering = metering
        # A callable: the provider is built on first use, and a misconfiguration is a 503 per call.
        self._text_provider = text_provider
        self._embedders = embedders
        self._offer = offer
        # Metering after the request's unit of work has committed (the end of a stream).
        self._metering_unit = metering_unit

    # --- models -------------------------------------------------------------------------------

    def models(self, principal: Principal) -> list[EnabledModel]:
        """The models the key's resource has enabled (text: its Claude versions; embeddings: its one)."""
        resource = self._resource(principal)
        if resource.type == ResourceType.TEXT_GENERATION:
            return [
                EnabledModel(get_model(m), m == resource.default_model_id)
                for m in self._resources.models_of(resource.id)
            ]
        if resource.type == ResourceType.EMBEDDINGS and resource.model_id is not None:
            return [EnabledModel(get_model(resource.model_id), True)]
        raise NotFound("This key is a knowledge-base key; it reaches no models.")

    # --- text ---------------------------------------------------------------------------------

    def complete(self, principal: Principal, call: TextCall) -> Completion:
        resource, request = self._prepare_text(principal, call)
        with translate_provider_errors():
            result = self._text_provider().complete(request)
        units = self._metering.record_text_call(
            resource.id, request.model_id, result.usage.input_tokens, result.usage.output_tokens
        )
        return Completion(request.model_id, result.text, result.stop_reason, result.usage, units)

    def stream(self, principal: Principal, call: TextCall) -> MeteredStream:
        """Opens the stream before returning, so a refusal (capacity, provider) is an HTTP error
        rather than an event in a 200 stream."""
        resource, request = self._prepare_text(principal, call)
        with translate_provider_errors():
            events = iter(self._text_provider().stream(request))
            first = next(events, None)
        reported = first.usage if isinstance(first, UsageReport) else None
        opened = events if first is None or reported is not None else chain([first], events)
        resource_id, model_id = resource.id, request.model_id
        return MeteredStream(
            model_id, opened, lambda usage: self._meter_later(resource_id, model_id, usage), reported
        )

    def _prepare_text(self, principal: Principal, call: TextCall) -> tuple[Resource, TextRequest]:
        resource = self._resource(principal)
        if resource.type != ResourceType.TEXT_GENERATION:
            raise NotFound("This key does not belong to a text-generation resource.")
        enabled = self._resources.models_of(resource.id)
        model_id = call.model or resource.default_model_id or (enabled[0] if enabled else None)
        _require_enabled(model_id, enabled)
        assert model_id is not None
        self._capacity.check_capacity(resource)
        request = TextRequest(
            model_id=model_id,
            messages=call.messages,
            max_tokens=call.max_tokens,
            temperature=call.temperature,
            top_p=call.top_p,
            stop=call.stop,
            region=resource.region,
            cross_region_inference=resource.cross_region_inference,
        )
        return resource, request

    def _meter_later(self, resource_id: str, model_id: str, usage: TextUsage) -> float:
        with self._metering_unit() as metering:
            units = metering.record_text_call(resource_id, model_id, usage.input_tokens, usage.output_tokens)
        log.info(
            "gateway.stream.metered",
            resource_id=resource_id,
            model_id=model_id,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )
        return units

    # --- embeddings ---------------------------------------------------------------------------

    def embed(
        self, principal: Principal, texts: list[str], model: str | None, input_type: InputType
    ) -> EmbeddingsResult:
        resource = self._resource(principal)
        if resource.type != ResourceType.EMBEDDINGS or resource.model_id is None:
            raise NotFound(
                "This key does not belong to an embeddings resource (a knowledge base's app uses the "
                "embeddings key created with its key)."
            )
        _require_enabled(model or resource.model_id, [resource.model_id])
        _check_texts(texts)
        spec = get_model(resource.model_id)
        setting = self._offer.setting_for(spec)
        if setting is not None:  # a resource provisioned before its provider's key was removed
            raise not_configured(setting, spec.display_name)
        self._capacity.check_capacity(resource)
        with translate_embedder_errors(spec.provider):
            embeddings = self._embedders.get(spec.id).embed(texts, input_type)
        self._metering.record_embeddings(
            embeddings_resource_id=resource.id,
            model_id=spec.id,
            embeddings=embeddings,
            source="gateway",
            reference_id=None,
        )
        return EmbeddingsResult(
            spec.id,
            embeddings.vectors,
            embeddings.input_tokens,
            len(embeddings.calls),
            spec.genai_units(embeddings.input_tokens),
        )

    # --- self-reported usage ------------------------------------------------------------------

    def report_usage(
        self, principal: Principal, model_id: str, input_tokens: int, output_tokens: int
    ) -> UsageRecorded:
        """`POST /v1/gateway/usage`: an external gateway reports a call it made; refused like a
        call once the resource's GU are used up."""
        resource = self._resource(principal)
        if resource.type != ResourceType.TEXT_GENERATION:
            raise NotFound("Usage is reported with the key of a text-generation resource.")
        if model_id not in self._resources.models_of(resource.id):
            raise InvalidInput(
                f"Model {model_id!r} is not enabled on this resource.", details={"field": "model_id"}
            )
        self._capacity.check_capacity(resource)
        units = self._metering.record_text_call(resource.id, model_id, input_tokens, output_tokens)
        usage = self._capacity.usage(resource)
        return UsageRecorded(units, usage.used_gu, usage.allocation_gu, usage.exhausted)

    def _resource(self, principal: Principal) -> Resource:
        resource = self._resources.get(principal.resource_id)
        if resource is None:
            raise NotFound("The key's resource no longer exists.")
        return resource


def _require_enabled(model_id: str | None, enabled: list[str]) -> None:
    if model_id is not None and model_id in enabled:
        return
    names = ", ".join(f"{m} ({get_model(m).display_name})" for m in enabled) or "none"
    if model_id is None:
        raise BadRequest(
            f"Name a model: this resource has no default model. Enabled: {names}.",
            details={"field": "model", "enabled_models": enabled},
        )
    raise BadRequest(
        f"Model {model_id!r} is not enabled on this resource. Enabled: {names}.",
        details={"field": "model", "enabled_models": enabled},
    )


def _check_texts(texts: list[str]) -> None:
    if not texts:
        raise InvalidInput("`input` has no text to embed.", field="input")
    if len(texts) > MAX_EMBEDDING_INPUTS:
        raise InvalidInput(
            f"`input` has {len(texts)} texts; at most {MAX_EMBEDDING_INPUTS} per request.", field="input"
        )
    for position, text in enumerate(texts):
        if not text.strip():
            raise InvalidInput(
                f"`input[{position}]` is empty; empty texts cannot be embedded.", field="input"
            )
