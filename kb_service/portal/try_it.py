"""The "Try it" tab of text-generation and embeddings resources: one call to the model gateway from
the portal, with the reply and the tokens and GU it metered.

The call goes through `Services.gateway` — the same service, capacity check and metering as an app's
call with the resource's key — on behalf of the signed-in user, who must be one who may use the
resource (create its keys). The gateway acts on a `Principal`, an app's view of a resource; the
portal hands it one naming this user's session instead of a key (only its resource is read), so the
call is metered on the resource and lands in the consumption charts like any other. Prompts, texts
and replies are shown to the user and never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Form, status
from fastapi.responses import HTMLResponse

from kb_service.auth.access import Permission
from kb_service.auth.principals import Principal
from kb_service.catalog import get_model
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import Gone, InvalidInput, KBError, NotFound
from kb_service.gateway.availability import text_provider_missing
from kb_service.gateway.providers.base import ChatMessage
from kb_service.gateway.service import TextCall
from kb_service.portal.layout import ResourceFrame, ResourceFrameDep
from kb_service.portal.overview import ModelName, model_names
from kb_service.portal.web import PREFIX, CsrfChecked, Page, PageDep
from kb_service.resources.models import ResourceStatus, ResourceType
from kb_service.services import Services

log = structlog.get_logger(__name__)
router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)

PROMPT_MAX = 8000
TEXTS_MAX = 16
MAX_TOKENS_DEFAULT = 256
MAX_TOKENS_LIMIT = 4096
InputTypeName = Literal["search_document", "search_query"]


@dataclass(frozen=True, slots=True)
class TryResult:
    """What one call metered, and (text) the reply or (embeddings) the vectors' shape."""

    model_name: str
    input_tokens: int
    output_tokens: int
    genai_units: float
    api_calls: int
    reply: str | None = None
    vectors: int = 0
    dimension: int = 0
    preview: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class TryForm:
    prompt: str = ""
    texts: str = ""
    model: str = ""
    max_tokens: int = MAX_TOKENS_DEFAULT
    input_type: InputTypeName = "search_document"


def _callable(services: Services, page: Page, frame: ResourceFrame) -> Principal:
    """The gateway's view of the resource for this user: a model resource they may use; a KB (or a
    resource they may not use) is not found here, an ended resource is gone."""
    resource = services.access.resource(page.actor, frame.resource.id, Permission.MANAGE_KEYS)
    if resource.type not in (ResourceType.TEXT_GENERATION, ResourceType.EMBEDDINGS):
        raise NotFound(f"Resource {resource.id} has no models to try.")
    if resource.status == ResourceStatus.DEPROVISIONED:
        raise Gone(f"Resource {resource.display_name} was deprovisioned; its models can no longer be called.")
    return Principal(key_id=f"portal:{page.actor.user_id}", resource_id=resource.id)


def _texts(raw: str) -> list[str]:
    texts = [line.strip() for line in raw.splitlines() if line.strip()]
    if not texts:
        raise InvalidInput("Give at least one text to embed, one per line.", field="texts")
    if len(texts) > TEXTS_MAX:
        raise InvalidInput(f"At most {TEXTS_MAX} texts here, one per line.", field="texts")
    return texts


def _call(services: Services, principal: Principal, frame: ResourceFrame, form: TryForm) -> TryResult:
    gateway = services.gateway
    model = form.model.strip() or None
    if frame.resource.type == "embeddings":
        texts = _texts(form.texts)
        embedded = gateway.embed(principal, texts, model, form.input_type)
        first = embedded.vectors[0] if len(embedded.vectors) else ()
        return TryResult(
            model_name=get_model(embedded.model_id).display_name,
            input_tokens=embedded.input_tokens,
            output_tokens=0,
            genai_units=embedded.genai_units,
            api_calls=embedded.api_calls,
            vectors=len(embedded.vectors),
            dimension=int(embedded.vectors.shape[1]) if embedded.vectors.ndim == 2 else 0,
            preview=tuple(round(float(v), 4) for v in first[:6]),
        )
    prompt = form.prompt.strip()
    if not prompt:
        raise InvalidInput("Write a prompt to send to the model.", field="prompt")
    if len(prompt) > PROMPT_MAX:
        raise InvalidInput(f"The prompt is at most {PROMPT_MAX:,} characters here.", field="prompt")
    if not 1 <= form.max_tokens <= MAX_TOKENS_LIMIT:
        raise InvalidInput(f"Max tokens is between 1 and {MAX_TOKENS_LIMIT:,}.", field="max_tokens")
    completion = gateway.complete(
        principal, TextCall(model, (ChatMessage("user", prompt),), max_tokens=form.max_tokens)
    )
    return TryResult(
        model_name=get_model(completion.model_id).display_name,
        input_tokens=completion.usage.input_tokens,
        output_tokens=completion.usage.output_tokens,
        genai_units=completion.genai_units,
        api_calls=1,
        reply=completion.text,
    )


def _try_page(
    page: Page,
    frame: ResourceFrame,
    services: Services,
    form: TryForm,
    extra: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    models: list[ModelName] = model_names(frame.resource.models, frame.resource.default_model)
    context: dict[str, Any] = {
        **frame.context("try"),
        "form": form,
        "models": models,
        "selected_model": form.model or frame.resource.default_model or (models[0].id if models else ""),
        "embeddings": frame.resource.type == "embeddings",
        "prompt_max": PROMPT_MAX,
        "texts_max": TEXTS_MAX,
        "max_tokens_limit": MAX_TOKENS_LIMIT,
        "result": None,
        "error": None,
        "error_code": None,
        "error_field": None,
        "summary": services.consumption.summary(page.actor, frame.resource.id),
        # Said before the first call: text on a deployment without a text provider is refused.
        "text_setting": None
        if frame.resource.type == "embeddings"
        else text_provider_missing(services.container.settings),
        **extra,
    }
    return page.render("try_it.html", context, status_code)


@router.get("/resources/{resource_id}/try")
def try_page(page: PageDep, frame: ResourceFrameDep, services: ServicesDep) -> HTMLResponse:
    _callable(services, page, frame)
    return _try_page(page, frame, services, TryForm(), {})


@router.post("/resources/{resource_id}/try", dependencies=[CsrfChecked])
def try_call(
    page: PageDep,
    frame: ResourceFrameDep,
    services: ServicesDep,
    prompt: Annotated[str, Form()] = "",
    texts: Annotated[str, Form()] = "",
    model: Annotated[str, Form()] = "",
    max_tokens: Annotated[int, Form()] = MAX_TOKENS_DEFAULT,
    input_type: Annotated[InputTypeName, Form()] = "search_document",
) -> HTMLResponse:
    """One gateway call; the page again with what it answered and metered, or why it was refused."""
    principal = _callable(services, page, frame)
    form = TryForm(prompt, texts, model, max_tokens, input_type)
    try:
        result = _call(services, principal, frame, form)
    except KBError as exc:
        log.info("portal.try_it.refused", resource_id=frame.resource.id, code=exc.code)
        extra = {"error": exc.message, "error_code": exc.code, "error_field": exc.field}
        refused = _try_page(page, frame, services, form, extra, exc.status_code)
        refused.headers.update(exc.headers)  # a provider's rate limit: when to try again
        return refused
    log.info(
        "portal.try_it.called",
        resource_id=frame.resource.id,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
    )
    return _try_page(page, frame, services, form, {"result": result}, status.HTTP_200_OK)
