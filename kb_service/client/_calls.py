"""Every operation of the HTTP API, once: a function that turns typed arguments into a `Call` (the
request to send and how to read its answer). `KBClient` and `AsyncKBClient` are built from these
functions, so both expose the same operations with the same signatures, and `ROUTES` lists which
route each one reaches (a test compares it with the OpenAPI document, so the client cannot drift)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from schemas._base import Page
from schemas.activity import ActivityOut
from schemas.companies import CloudTokensOut, CompanyOut
from schemas.consumption import ConsumptionSeries, ConsumptionSummary, GatewayUsage, GatewayUsageRecorded
from schemas.evaluation import EvaluationOut, EvaluationQuestion, EvaluationSummaryOut
from schemas.gateway import EmbeddingsResponse, ModelList
from schemas.keys import KeyCreated, KeyOut
from schemas.knowledge import (
    ChunkJobOut,
    ChunkOut,
    CollectionOut,
    DocumentAccepted,
    DocumentMetadataUpdated,
    DocumentOut,
    PushedChunk,
)
from schemas.resources import (
    CapacityChange,
    Environment,
    PlanName,
    Provisioned,
    ProvisionRequest,
    ResourceOut,
    ResourceSettings,
    ResourceTypeName,
    Specification,
)
from schemas.retrieval import SearchMode, SearchResponse
from schemas.teams import InvitationCreated, InvitationOut, MemberOut
from schemas.users import MeOut, TokenCreated, TokenOut

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

Parse = Callable[[httpx.Response], T]
WorkStatus = Literal["queued", "parsing", "embedding", "indexing", "indexed", "failed", "paused"]
ConsumptionRange = Literal["W", "BM", "MTD", "6M"]

# (method, path template) of every route an operation reaches, filled as the operations are defined.
ROUTES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request, ready to send (and to send again: every part is bytes or plain data)."""

    method: str
    path: str
    parse: Parse[T]
    params: list[tuple[str, str]] = field(default_factory=list)
    json: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


F = TypeVar("F", bound=Callable[..., Any])


def route(method: str, template: str) -> Callable[[F], F]:
    """Registers the route an operation reaches (for the coverage test and the docs)."""

    def register(function: F) -> F:
        ROUTES[(method, template)] = function.__name__
        return function

    return register


def _path(template: str, **parts: str) -> str:
    return template.format(**{name: quote(value, safe="") for name, value in parts.items()})


def _model(kind: type[M]) -> Parse[M]:
    return lambda response: kind.model_validate_json(response.content)


def _list(kind: type[M]) -> Parse[list[M]]:
    adapter = TypeAdapter(list[kind])  # type: ignore[valid-type]
    return lambda response: list(adapter.validate_json(response.content))


def _none(_response: httpx.Response) -> None:
    return None


def _json(response: httpx.Response) -> Any:
    return response.json()


def _text(response: httpx.Response) -> str:
    return response.text


def _params(**values: Any) -> list[tuple[str, str]]:
    """Query parameters without the absent ones; a list repeats its key; dicts are sent as JSON."""
    out: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            out.extend((name, str(item)) for item in value)
        elif isinstance(value, Mapping):
            out.append((name, json.dumps(value)))
        elif isinstance(value, bool):
            out.append((name, "true" if value else "false"))
        else:
            out.append((name, str(value)))
    return out


def _body(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_unset=True)


# --- operations -------------------------------------------------------------------------------------

KB = "/v1/knowledge-bases/{kb_id}"


@route("GET", "/health")
def health() -> Call[Any]:
    """Liveness: the process answers."""
    return Call("GET", "/health", _json)


@route("GET", "/ready")
def ready() -> Call[Any]:
    """Readiness: the database, broker and vector store answer."""
    return Call("GET", "/ready", _json)


@route("GET", "/metrics")
def metrics() -> Call[str]:
    """The Prometheus exposition text."""
    return Call("GET", "/metrics", _text)


# documents


@route("POST", KB + "/documents")
def upload_document(
    kb_id: str,
    filename: str,
    content: bytes,
    *,
    collection: str | None = None,
    metadata: Mapping[str, str] | None = None,
    password: str | None = None,
    content_type: str | None = None,
) -> Call[DocumentAccepted]:
    """Upload a TXT or PDF file; `unchanged` in the answer when the same file with identical content
    is already in the collection (nothing is queued again)."""
    kind = content_type or ("application/pdf" if filename.lower().endswith(".pdf") else "text/plain")
    form = _body(
        collection=collection,
        metadata=json.dumps(dict(metadata)) if metadata is not None else None,
        password=password,
    )
    return Call(
        "POST",
        _path(KB + "/documents", kb_id=kb_id),
        _model(DocumentAccepted),
        files={"file": (filename, content, kind)},
        data=form,
    )


@route("GET", KB + "/documents")
def list_documents(
    kb_id: str,
    *,
    collection: str | None = None,
    status: WorkStatus | None = None,
    offset: int | None = None,
    limit: int | None = None,
) -> Call[Page[DocumentOut]]:
    """One page of the KB's documents, newest first."""
    return Call(
        "GET",
        _path(KB + "/documents", kb_id=kb_id),
        _model(Page[DocumentOut]),
        params=_params(collection=collection, status=status, offset=offset, limit=limit),
    )


@route("GET", KB + "/documents/{document_id}")
def get_document(kb_id: str, document_id: str) -> Call[DocumentOut]:
    """A document: its status, the reason it failed, its chunk and token counts, its timings."""
    return Call(
        "GET",
        _path(KB + "/documents/{document_id}", kb_id=kb_id, document_id=document_id),
        _model(DocumentOut),
    )


@route("PATCH", KB + "/documents/{document_id}")
def update_document_metadata(
    kb_id: str,
    document_id: str,
    *,
    metadata: Mapping[str, str] | None = None,
    set: Mapping[str, str] | None = None,
    remove: Sequence[str] | None = None,
) -> Call[DocumentMetadataUpdated]:
    """Edit a document's metadata in place (nothing is re-embedded): replace the map with `metadata`,
    then apply `set`, then drop the `remove`d keys."""
    body = _body(
        metadata=dict(metadata) if metadata is not None else None,
        set=dict(set) if set is not None else None,
        remove=list(remove) if remove is not None else None,
    )
    return Call(
        "PATCH",
        _path(KB + "/documents/{document_id}", kb_id=kb_id, document_id=document_id),
        _model(DocumentMetadataUpdated),
        json=body,
    )


@route("DELETE", KB + "/documents/{document_id}")
def delete_document(kb_id: str, document_id: str) -> Call[None]:
    """Delete a document and its chunks."""
    return Call("DELETE", _path(KB + "/documents/{document_id}", kb_id=kb_id, document_id=document_id), _none)


# collections and chunks


@route("GET", KB + "/collections")
def list_collections(kb_id: str) -> Call[list[CollectionOut]]:
    """The KB's collections with their document and chunk counts."""
    return Call("GET", _path(KB + "/collections", kb_id=kb_id), _list(CollectionOut))


@route("DELETE", KB + "/collections/{name}")
def delete_collection(kb_id: str, name: str) -> Call[None]:
    """Delete a collection with its documents and chunks (the `default` collection is only emptied)."""
    return Call("DELETE", _path(KB + "/collections/{name}", kb_id=kb_id, name=name), _none)


@route("POST", KB + "/collections/{name}/chunks")
def push_chunks(
    kb_id: str,
    collection: str,
    chunks: Sequence[PushedChunk | Mapping[str, Any]],
    *,
    mode: Literal["insert", "repopulate", "replace"] = "insert",
) -> Call[ChunkJobOut]:
    """Queue a chunk push job (`insert`, `repopulate` the whole collection, or `replace` the chunks of
    the app objects named); follow it with `get_job`."""
    body = {
        "mode": mode,
        "chunks": [_dump(c) if isinstance(c, BaseModel) else dict(c) for c in chunks],
    }
    return Call(
        "POST",
        _path(KB + "/collections/{name}/chunks", kb_id=kb_id, name=collection),
        _model(ChunkJobOut),
        json=body,
    )


@route("GET", KB + "/collections/{name}/chunks")
def list_chunks(
    kb_id: str,
    collection: str,
    *,
    offset: int | None = None,
    limit: int | None = None,
    metadata: Mapping[str, str] | None = None,
    filter: Mapping[str, Any] | None = None,
    mx_object_id: Sequence[str] | None = None,
    mx_entity: str | None = None,
) -> Call[Page[ChunkOut]]:
    """One page of a collection's chunks, optionally filtered."""
    params = _params(
        offset=offset,
        limit=limit,
        metadata=metadata,
        filter=filter,
        mx_object_id=list(mx_object_id) if mx_object_id is not None else None,
        mx_entity=mx_entity,
    )
    return Call(
        "GET",
        _path(KB + "/collections/{name}/chunks", kb_id=kb_id, name=collection),
        _model(Page[ChunkOut]),
        params=params,
    )


@route("DELETE", KB + "/collections/{name}/chunks")
def delete_object_chunks(
    kb_id: str, collection: str, mx_object_id: Sequence[str], *, mx_entity: str | None = None
) -> Call[ChunkJobOut]:
    """Delete the chunks of app objects, as a job applied after the collection's earlier jobs (its
    `chunk_count` is how many chunks it removed, once indexed; follow it with `wait_for_job`)."""
    return Call(
        "DELETE",
        _path(KB + "/collections/{name}/chunks", kb_id=kb_id, name=collection),
        _model(ChunkJobOut),
        params=_params(mx_object_id=list(mx_object_id), mx_entity=mx_entity),
    )


@route("PATCH", KB + "/collections/{name}/chunks")
def update_object_metadata(
    kb_id: str,
    collection: str,
    mx_object_id: Sequence[str],
    *,
    mx_entity: str | None = None,
    metadata: Mapping[str, str] | None = None,
    set: Mapping[str, str] | None = None,
    remove: Sequence[str] | None = None,
) -> Call[ChunkJobOut]:
    """Queue a metadata edit of app objects' chunks (nothing is re-embedded)."""
    body = _body(
        metadata=dict(metadata) if metadata is not None else None,
        set=dict(set) if set is not None else None,
        remove=list(remove) if remove is not None else None,
    )
    return Call(
        "PATCH",
        _path(KB + "/collections/{name}/chunks", kb_id=kb_id, name=collection),
        _model(ChunkJobOut),
        params=_params(mx_object_id=list(mx_object_id), mx_entity=mx_entity),
        json=body,
    )


@route("GET", KB + "/jobs/{job_id}")
def get_job(kb_id: str, job_id: str) -> Call[ChunkJobOut]:
    """A chunk push or metadata job."""
    return Call("GET", _path(KB + "/jobs/{job_id}", kb_id=kb_id, job_id=job_id), _model(ChunkJobOut))


# search and evaluation


@route("POST", KB + "/search")
def search(
    kb_id: str,
    query: str,
    *,
    mode: SearchMode | None = None,
    max_results: int | None = None,
    collections: Sequence[str] | None = None,
    metadata: Mapping[str, str] | None = None,
    filter: Mapping[str, Any] | None = None,
    min_similarity: float | None = None,
    candidates: int | None = None,
    rerank: bool | None = None,
    diversity: float | None = None,
    max_chunks_per_document: int | None = None,
    vector_weight: float | None = None,
    rrf_k: int | None = None,
) -> Call[SearchResponse]:
    """Search the KB: `vector`, `keyword` (BM25) or `hybrid` (both fused; `vector_weight`, `rrf_k`),
    within `collections`, matching `metadata` exactly and the `filter` expression."""
    hybrid = _body(vector_weight=vector_weight, rrf_k=rrf_k)
    body = _body(
        query=query,
        mode=mode,
        max_results=max_results,
        collections=list(collections) if collections is not None else None,
        metadata=dict(metadata) if metadata is not None else None,
        filter=dict(filter) if filter is not None else None,
        min_similarity=min_similarity,
        candidates=candidates,
        rerank=rerank,
        diversity=diversity,
        max_chunks_per_document=max_chunks_per_document,
        hybrid=hybrid or None,
    )
    return Call("POST", _path(KB + "/search", kb_id=kb_id), _model(SearchResponse), json=body)


@route("POST", KB + "/evaluations")
def run_evaluation(
    kb_id: str,
    questions: Sequence[EvaluationQuestion | Mapping[str, Any]],
    *,
    modes: Sequence[SearchMode] | None = None,
    k: int | None = None,
    collections: Sequence[str] | None = None,
    filter: Mapping[str, Any] | None = None,
    rerank: bool | None = None,
    name: str | None = None,
) -> Call[EvaluationOut]:
    """Run labelled questions against the KB and answer the retrieval figures (nDCG, recall, MRR...)."""
    body = _body(
        questions=[
            q.model_dump(mode="json", exclude_none=True) if isinstance(q, BaseModel) else dict(q)
            for q in questions
        ],
        modes=list(modes) if modes is not None else None,
        k=k,
        collections=list(collections) if collections is not None else None,
        filter=dict(filter) if filter is not None else None,
        rerank=rerank,
        name=name,
    )
    return Call("POST", _path(KB + "/evaluations", kb_id=kb_id), _model(EvaluationOut), json=body)


@route("GET", KB + "/evaluations")
def list_evaluations(
    kb_id: str, *, offset: int | None = None, limit: int | None = None
) -> Call[Page[EvaluationSummaryOut]]:
    """The KB's evaluation runs, newest first."""
    return Call(
        "GET",
        _path(KB + "/evaluations", kb_id=kb_id),
        _model(Page[EvaluationSummaryOut]),
        params=_params(offset=offset, limit=limit),
    )


@route("GET", KB + "/evaluations/{evaluation_id}")
def get_evaluation(kb_id: str, evaluation_id: str) -> Call[EvaluationOut]:
    """One evaluation run with its per-question detail."""
    return Call(
        "GET",
        _path(KB + "/evaluations/{evaluation_id}", kb_id=kb_id, evaluation_id=evaluation_id),
        _model(EvaluationOut),
    )


# the model gateway (a text-generation or embeddings resource's key)


@route("GET", "/v1/models")
def list_models() -> Call[ModelList]:
    """The models the key's resource may call."""
    return Call("GET", "/v1/models", _model(ModelList))


@route("POST", "/v1/embeddings")
def create_embeddings(
    input: str | Sequence[str],
    *,
    model: str | None = None,
    input_type: Literal["search_document", "search_query"] | None = None,
) -> Call[EmbeddingsResponse]:
    """Embed texts with the embeddings resource's model (OpenAI's shape)."""
    body = _body(input=input if isinstance(input, str) else list(input), model=model, input_type=input_type)
    return Call("POST", "/v1/embeddings", _model(EmbeddingsResponse), json=body)


@route("POST", "/v1/chat/completions")
def chat_completions(body: Mapping[str, Any]) -> Call[Any]:
    """OpenAI chat completions, non-streaming (for streaming use the official `openai` client)."""
    return Call("POST", "/v1/chat/completions", _json, json=dict(body))


@route("POST", "/v1/messages")
def messages(body: Mapping[str, Any]) -> Call[Any]:
    """Anthropic messages, non-streaming (for streaming use the official `anthropic` client)."""
    return Call("POST", "/v1/messages", _json, json=dict(body))


@route("POST", "/v1/gateway/usage")
def record_gateway_usage(usage: GatewayUsage) -> Call[GatewayUsageRecorded]:
    """Report usage of a call made outside the gateway (metered on the key's resource)."""
    return Call("POST", "/v1/gateway/usage", _model(GatewayUsageRecorded), json=_dump(usage))


# the control plane (a personal access token)


@route("GET", "/v1/me")
def me() -> Call[MeOut]:
    """The signed-in user."""
    return Call("GET", "/v1/me", _model(MeOut))


@route("GET", "/v1/me/tokens")
def list_tokens() -> Call[list[TokenOut]]:
    """The user's personal access tokens (no secrets)."""
    return Call("GET", "/v1/me/tokens", _list(TokenOut))


@route("POST", "/v1/me/tokens")
def create_token(*, description: str = "") -> Call[TokenCreated]:
    """A new personal access token; its `secret` is in this answer only."""
    return Call("POST", "/v1/me/tokens", _model(TokenCreated), json={"description": description})


@route("DELETE", "/v1/me/tokens/{token_id}")
def revoke_token(token_id: str) -> Call[TokenOut]:
    """Revoke one of the user's tokens."""
    return Call("DELETE", _path("/v1/me/tokens/{token_id}", token_id=token_id), _model(TokenOut))


@route("GET", "/v1/company")
def get_company() -> Call[CompanyOut]:
    """The user's company: subscriptions and Cloud Token balance."""
    return Call("GET", "/v1/company", _model(CompanyOut))


@route("PATCH", "/v1/company")
def update_company(*, external_invitations_enabled: bool) -> Call[CompanyOut]:
    """Company settings (admins)."""
    body = {"external_invitations_enabled": external_invitations_enabled}
    return Call("PATCH", "/v1/company", _model(CompanyOut), json=body)


@route("GET", "/v1/company/cloud-tokens")
def cloud_tokens() -> Call[CloudTokensOut]:
    """The company's Cloud Token balance and ledger (admins)."""
    return Call("GET", "/v1/company/cloud-tokens", _model(CloudTokensOut))


@route("POST", "/v1/resources/preview")
def preview_resource(request: ProvisionRequest) -> Call[Specification]:
    """What provisioning `request` would create and cost, without creating it."""
    return Call("POST", "/v1/resources/preview", _model(Specification), json=_dump(request))


@route("POST", "/v1/resources")
def provision_resource(request: ProvisionRequest) -> Call[Provisioned]:
    """Provision a resource (the Cloud Tokens are booked at once); `invitation` is set when it was
    created for someone outside the company."""
    return Call("POST", "/v1/resources", _model(Provisioned), json=_dump(request))


@route("GET", "/v1/resources")
def list_resources(*, type: ResourceTypeName | None = None) -> Call[list[ResourceOut]]:
    """The resources the user sees (all of the company's, for an admin)."""
    return Call("GET", "/v1/resources", _list(ResourceOut), params=_params(type=type))


@route("GET", "/v1/resources/{resource_id}")
def get_resource(resource_id: str) -> Call[ResourceOut]:
    """One resource."""
    return Call("GET", _path("/v1/resources/{resource_id}", resource_id=resource_id), _model(ResourceOut))


@route("PATCH", "/v1/resources/{resource_id}")
def update_resource(
    resource_id: str,
    *,
    display_name: str | None = None,
    environment: Environment | None = None,
    default_model: str | None = None,
) -> Call[ResourceOut]:
    """Rename a resource, change its environment or default model."""
    body = _body(display_name=display_name, environment=environment, default_model=default_model)
    return Call(
        "PATCH", _path("/v1/resources/{resource_id}", resource_id=resource_id), _model(ResourceOut), json=body
    )


@route("GET", "/v1/resources/{resource_id}/settings")
def resource_settings(resource_id: str) -> Call[ResourceSettings]:
    """A resource's settings page: endpoints, models, linked KBs, refill date."""
    return Call(
        "GET",
        _path("/v1/resources/{resource_id}/settings", resource_id=resource_id),
        _model(ResourceSettings),
    )


@route("POST", "/v1/resources/{resource_id}/deprovision")
def deprovision_resource(resource_id: str) -> Call[ResourceOut]:
    """Deprovision at the end of the bundle month."""
    return Call(
        "POST", _path("/v1/resources/{resource_id}/deprovision", resource_id=resource_id), _model(ResourceOut)
    )


@route("DELETE", "/v1/resources/{resource_id}/deprovision")
def cancel_deprovision(resource_id: str) -> Call[ResourceOut]:
    """Cancel a scheduled deprovisioning until it takes effect (company admins)."""
    return Call(
        "DELETE",
        _path("/v1/resources/{resource_id}/deprovision", resource_id=resource_id),
        _model(ResourceOut),
    )


@route("PUT", "/v1/resources/{resource_id}/models")
def change_models(
    resource_id: str, models: Sequence[str], *, default_model: str | None = None
) -> Call[ResourceOut]:
    """Change the models enabled on a resource (company admins; same region; an embeddings model only
    while no knowledge base depends on it)."""
    body = _body(models=list(models), default_model=default_model)
    return Call(
        "PUT",
        _path("/v1/resources/{resource_id}/models", resource_id=resource_id),
        _model(ResourceOut),
        json=body,
    )


@route("PUT", "/v1/resources/{resource_id}/capacity")
def change_capacity(
    resource_id: str, *, plan: PlanName | None = None, cloud_tokens: int | None = None
) -> Call[ResourceOut]:
    """Change a resource's plan or Cloud Tokens (an increase at once, a decrease next bundle month)."""
    body = _dump(CapacityChange(plan=plan, cloud_tokens=cloud_tokens))
    return Call(
        "PUT",
        _path("/v1/resources/{resource_id}/capacity", resource_id=resource_id),
        _model(ResourceOut),
        json=_body(**body),
    )


@route("DELETE", "/v1/resources/{resource_id}/capacity/scheduled")
def cancel_scheduled_capacity(resource_id: str) -> Call[ResourceOut]:
    """Cancel a capacity decrease waiting for the next bundle month."""
    return Call(
        "DELETE",
        _path("/v1/resources/{resource_id}/capacity/scheduled", resource_id=resource_id),
        _model(ResourceOut),
    )


@route("GET", "/v1/resources/{resource_id}/consumption")
def consumption(resource_id: str) -> Call[ConsumptionSummary]:
    """Where the resource stands in its bundle month."""
    return Call(
        "GET",
        _path("/v1/resources/{resource_id}/consumption", resource_id=resource_id),
        _model(ConsumptionSummary),
    )


@route("GET", "/v1/resources/{resource_id}/consumption/daily")
def daily_consumption(resource_id: str, *, range: ConsumptionRange | None = None) -> Call[ConsumptionSeries]:
    """Consumption per day over a range (W, BM, MTD, 6M)."""
    return Call(
        "GET",
        _path("/v1/resources/{resource_id}/consumption/daily", resource_id=resource_id),
        _model(ConsumptionSeries),
        params=_params(range=range),
    )


@route("GET", "/v1/resources/{resource_id}/consumption/export.csv")
def export_consumption_csv(resource_id: str, *, range: ConsumptionRange | None = None) -> Call[str]:
    """The daily consumption as CSV text."""
    return Call(
        "GET",
        _path("/v1/resources/{resource_id}/consumption/export.csv", resource_id=resource_id),
        _text,
        params=_params(range=range),
    )


@route("POST", "/v1/resources/{resource_id}/keys")
def create_key(resource_id: str, *, description: str = "") -> Call[KeyCreated]:
    """A new API key of the resource; its `secret` is in this answer only."""
    return Call(
        "POST",
        _path("/v1/resources/{resource_id}/keys", resource_id=resource_id),
        _model(KeyCreated),
        json={"description": description},
    )


@route("GET", "/v1/resources/{resource_id}/keys")
def list_keys(resource_id: str) -> Call[list[KeyOut]]:
    """The resource's API keys (no secrets)."""
    return Call("GET", _path("/v1/resources/{resource_id}/keys", resource_id=resource_id), _list(KeyOut))


@route("DELETE", "/v1/resources/{resource_id}/keys/{key_id}")
def revoke_key(resource_id: str, key_id: str) -> Call[KeyOut]:
    """Revoke a key (a KB key's paired embeddings key too)."""
    return Call(
        "DELETE",
        _path("/v1/resources/{resource_id}/keys/{key_id}", resource_id=resource_id, key_id=key_id),
        _model(KeyOut),
    )


@route("GET", "/v1/resources/{resource_id}/activity")
def activity(
    resource_id: str, *, offset: int | None = None, limit: int | None = None
) -> Call[Page[ActivityOut]]:
    """The resource's activity log, newest first."""
    return Call(
        "GET",
        _path("/v1/resources/{resource_id}/activity", resource_id=resource_id),
        _model(Page[ActivityOut]),
        params=_params(offset=offset, limit=limit),
    )


@route("GET", "/v1/resources/{resource_id}/members")
def list_members(resource_id: str) -> Call[list[MemberOut]]:
    """The resource's team."""
    return Call(
        "GET", _path("/v1/resources/{resource_id}/members", resource_id=resource_id), _list(MemberOut)
    )


@route("POST", "/v1/resources/{resource_id}/members")
def add_member(resource_id: str, email: str) -> Call[list[MemberOut]]:
    """Add a user of the company to the resource's team; answers the team."""
    return Call(
        "POST",
        _path("/v1/resources/{resource_id}/members", resource_id=resource_id),
        _list(MemberOut),
        json={"email": email},
    )


@route("DELETE", "/v1/resources/{resource_id}/members/{user_id}")
def remove_member(resource_id: str, user_id: str) -> Call[None]:
    """Remove a user from the resource's team."""
    return Call(
        "DELETE",
        _path("/v1/resources/{resource_id}/members/{user_id}", resource_id=resource_id, user_id=user_id),
        _none,
    )


@route("POST", "/v1/resources/{resource_id}/invitations")
def invite(resource_id: str, email: str) -> Call[InvitationCreated]:
    """Invite someone (inside or, if the company allows it, outside the company) to the team."""
    return Call(
        "POST",
        _path("/v1/resources/{resource_id}/invitations", resource_id=resource_id),
        _model(InvitationCreated),
        json={"email": email},
    )


@route("GET", "/v1/resources/{resource_id}/invitations")
def pending_invitations(resource_id: str) -> Call[list[InvitationOut]]:
    """The resource's invitations not yet answered."""
    return Call(
        "GET", _path("/v1/resources/{resource_id}/invitations", resource_id=resource_id), _list(InvitationOut)
    )


@route("DELETE", "/v1/resources/{resource_id}/invitations/{invitation_id}")
def withdraw_invitation(resource_id: str, invitation_id: str) -> Call[InvitationOut]:
    """Withdraw a pending invitation."""
    path = _path(
        "/v1/resources/{resource_id}/invitations/{invitation_id}",
        resource_id=resource_id,
        invitation_id=invitation_id,
    )
    return Call("DELETE", path, _model(InvitationOut))


@route("GET", "/v1/invitations")
def my_invitations() -> Call[list[InvitationOut]]:
    """Invitations addressed to the user."""
    return Call("GET", "/v1/invitations", _list(InvitationOut))


@route("POST", "/v1/invitations/accept")
def accept_invitation_link(token: str) -> Call[InvitationOut]:
    """Accept an invitation by the token of its link."""
    return Call("POST", "/v1/invitations/accept", _model(InvitationOut), json={"token": token})


@route("POST", "/v1/invitations/{invitation_id}/accept")
def accept_invitation(invitation_id: str) -> Call[InvitationOut]:
    """Accept an invitation addressed to the user."""
    return Call(
        "POST",
        _path("/v1/invitations/{invitation_id}/accept", invitation_id=invitation_id),
        _model(InvitationOut),
    )


@route("POST", "/v1/invitations/{invitation_id}/decline")
def decline_invitation(invitation_id: str) -> Call[InvitationOut]:
    """Decline an invitation addressed to the user."""
    return Call(
        "POST",
        _path("/v1/invitations/{invitation_id}/decline", invitation_id=invitation_id),
        _model(InvitationOut),
    )
