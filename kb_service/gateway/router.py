"""The model gateway under /v1, OpenAI-compatible (and Anthropic's Messages API), authenticated with
a resource's own API key: `Authorization: Bearer <key>` or, as Anthropic clients send it,
`x-api-key: <key>`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kb_service.auth.deps import authenticate_key
from kb_service.auth.principals import Principal
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import BadRequest, CapacityExhausted, NotFound, Unauthorized, documented
from kb_service.gateway.errors import (
    ProviderAuthFailedError,
    ProviderNotConfiguredError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from kb_service.gateway.presenters import (
    chat_call,
    chat_chunks,
    chat_completion_out,
    embeddings_out,
    include_usage,
    message_events,
    message_out,
    messages_call,
    models_out,
)
from kb_service.gateway.streaming import sse_response
from schemas.gateway import (
    ChatCompletion,
    ChatCompletionRequest,
    EmbeddingsRequest,
    EmbeddingsResponse,
    MessageOut,
    MessagesRequest,
    ModelList,
)

router = APIRouter(route_class=UnitOfWorkRoute, tags=["gateway"])

_bearer = HTTPBearer(auto_error=False, description="A resource's API key: `kb_<key id>_<secret>`.")
_CALL_ERRORS = (
    BadRequest,
    NotFound,
    CapacityExhausted,
    ProviderRateLimitedError,
    ProviderUnavailableError,
    ProviderAuthFailedError,
    ProviderNotConfiguredError,
)
_SSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "With `stream: true`."}
}


async def get_gateway_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    presented = credentials.credentials if credentials is not None else x_api_key
    if not presented:
        raise Unauthorized("Missing API key: send `Authorization: Bearer <key>` (or `x-api-key`).")
    return await authenticate_key(services, presented)


GatewayPrincipalDep = Annotated[Principal, Depends(get_gateway_principal)]


@router.get("/v1/models", responses=documented(NotFound))
def list_models(principal: GatewayPrincipalDep, services: ServicesDep) -> ModelList:
    """The models enabled on the key's resource."""
    return models_out(services.gateway.models(principal))


@router.post("/v1/embeddings", responses=documented(*_CALL_ERRORS))
def embeddings(
    principal: GatewayPrincipalDep, services: ServicesDep, body: EmbeddingsRequest
) -> EmbeddingsResponse:
    """Embed texts with the resource's model; `usage.prompt_tokens` is what the provider billed."""
    texts = [body.input] if isinstance(body.input, str) else body.input
    result = services.gateway.embed(principal, texts, body.model, body.input_type)
    return embeddings_out(result, body.encoding_format)


@router.post("/v1/chat/completions", response_model=None, responses=documented(*_CALL_ERRORS) | _SSE)
def chat_completions(
    principal: GatewayPrincipalDep, services: ServicesDep, body: ChatCompletionRequest
) -> ChatCompletion | StreamingResponse:
    call = chat_call(body)
    if not body.stream:
        return chat_completion_out(services.gateway.complete(principal, call))
    stream = services.gateway.stream(principal, call)
    return sse_response(chat_chunks(stream, include_usage(body)), on_cancel=stream.cancel)


@router.post("/v1/messages", response_model=None, responses=documented(*_CALL_ERRORS) | _SSE)
def messages(
    principal: GatewayPrincipalDep, services: ServicesDep, body: MessagesRequest
) -> MessageOut | StreamingResponse:
    """Anthropic's Messages API, for Claude-native clients: same models, metering and limits."""
    call = messages_call(body)
    if not body.stream:
        return message_out(services.gateway.complete(principal, call))
    stream = services.gateway.stream(principal, call)
    return sse_response(message_events(stream), on_cancel=stream.cancel)
