"""Resource commands: `kb` and `key` as the operator, `resource` as a user (`--as`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from pydantic import ValidationError

from kb_service.cli._common import acting, emit, operator_services, settings
from kb_service.errors import InvalidInput
from schemas.resources import CapacityChange, ProvisionRequest

if TYPE_CHECKING:
    from kb_service.keys.service import IssuedKey
    from kb_service.resources.service import ResourceView

LOCAL_COMPANY = "Local"

ResourceRef = Annotated[str, typer.Option("--resource", help="Resource id the key reaches.")]
AsUser = Annotated[str, typer.Option("--as", help="Email of the acting user.")]
ResourceId = Annotated[str, typer.Argument(help="The resource's id.")]


def register(app: typer.Typer) -> None:
    kb = typer.Typer(help="Knowledge bases.", no_args_is_help=True)
    kb.command("create", help="Create a KB and its embeddings resource in a company (default: Local).")(
        kb_create
    )
    kb.command("list", help="List KBs.")(kb_list)
    app.add_typer(kb, name="kb")

    key = typer.Typer(help="API keys.", no_args_is_help=True)
    key.command("create", help="Create a key (the secret is shown once).")(key_create)
    key.command("list", help="List a resource's keys.")(key_list)
    key.command("revoke", help="Revoke a key (a KB key's paired embeddings key too).")(key_revoke)
    app.add_typer(key, name="key")

    # Resource operations run as a user (the operator has the database; the user's rights apply).
    resource = typer.Typer(help="Control-plane resources, as a user.", no_args_is_help=True)
    resource.command("provision", help="Provision from a JSON request (see POST /v1/resources).")(
        resource_provision
    )
    resource.command("list", help="The overview list.")(resource_list)
    resource.command("deprovision", help="Deprovision at the end of the bundle month.")(resource_deprovision)
    resource.command("cancel-deprovision", help="Cancel a scheduled deprovisioning before it takes effect.")(
        resource_cancel_deprovision
    )
    resource.command("capacity", help="Change capacity: --plan or --cloud-tokens.")(resource_capacity)
    app.add_typer(resource, name="resource")


# --- knowledge bases and keys, as the operator ----------------------------------------------------


def kb_create(
    name: Annotated[str, typer.Option("--name", help="The KB's display name.")],
    embedding_model: Annotated[
        str | None, typer.Option("--embedding-model", help="Model id (default: the local model).")
    ] = None,
    embeddings_resource: Annotated[
        str | None, typer.Option("--embeddings-resource", help="Link to an existing embeddings resource.")
    ] = None,
    company: Annotated[
        str,
        typer.Option(
            "--company",
            help="Company id or name the KB belongs to (created if new); its admins see it in the portal.",
        ),
    ] = LOCAL_COMPANY,
) -> int:
    config = settings()
    with operator_services(config) as services:
        handle = services.resources.create_local_knowledge_base(
            company,
            name,
            model_id=embedding_model or config.default_embedding_model,
            embeddings_resource_id=embeddings_resource,
        )
        assert handle.knowledge_base.company_id is not None
        owner = services.companies.get(handle.knowledge_base.company_id)
        emit(
            {
                "knowledge_base_id": handle.knowledge_base.id,
                "embeddings_resource_id": handle.embeddings.id,
                "model_id": handle.embeddings.model_id,
                "dimension": handle.embeddings.dimension,
                "company_id": owner.id,
                "company": owner.name,
            }
        )
    return 0


def kb_list() -> int:
    with operator_services(settings()) as services:
        emit(
            [
                {
                    "knowledge_base_id": kb.id,
                    "name": kb.display_name,
                    "embeddings_resource_id": kb.embeddings_resource_id,
                    "company_id": kb.company_id,
                }
                for kb in services.resources.knowledge_bases()
            ]
        )
    return 0


def _issued_json(issued: IssuedKey) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key_id": issued.key.id,
        "resource_id": issued.key.resource_id,
        "secret": issued.secret,
    }
    if issued.paired is not None:
        out["paired_key"] = _issued_json(issued.paired)
    return out


def key_create(
    resource: ResourceRef,
    description: Annotated[str, typer.Option("--description", help="What the key is for.")] = "",
) -> int:
    with operator_services(settings()) as services:
        emit(_issued_json(services.keys.create(resource, description)))
    return 0


def key_list(resource: Annotated[str, typer.Option("--resource", help="The resource's id.")]) -> int:
    with operator_services(settings()) as services:
        emit(
            [
                {
                    "key_id": k.id,
                    "description": k.description,
                    "created_at": k.created_at.isoformat(),
                    "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                    "revoked": k.revoked_at is not None,
                    "paired_with_key_id": k.paired_with_key_id,
                }
                for k in services.keys.list(resource)
            ]
        )
    return 0


def key_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> int:
    with operator_services(settings()) as services:
        key = services.keys.revoke(key_id)
        emit({"key_id": key.id, "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None})
    return 0


# --- control-plane resources, as a user ---------------------------------------------------------


def _resource_json(view: ResourceView) -> dict[str, Any]:
    from kb_service.resources.presenters import resource_out  # with the local stack (see _common)

    out: dict[str, Any] = resource_out(view).model_dump(mode="json")
    return out


def _provision_request(source: str) -> ProvisionRequest:
    raw = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
    try:
        return ProvisionRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidInput(f"Invalid provisioning request: {exc.errors()[0]['msg']}.") from None


def resource_provision(
    as_email: AsUser,
    request: Annotated[str, typer.Option("--request", help="JSON file, or - for stdin.")],
    preview: Annotated[bool, typer.Option("--preview", help="Only show the specification.")] = False,
) -> int:
    body = _provision_request(request)
    with operator_services(settings()) as services:
        actor = acting(services, as_email)
        if preview:
            emit(services.resources.preview(actor, body).model_dump(mode="json"))
        else:
            from kb_service.resources.presenters import provisioned_out  # with the local stack

            # With the invitation (and its one-time accept_url) when created for an outsider.
            emit(provisioned_out(services.resources.provision(actor, body)).model_dump(mode="json"))
    return 0


def resource_list(
    as_email: AsUser,
    type: Annotated[
        Literal["text_generation", "embeddings", "knowledge_base"] | None,
        typer.Option("--type", help="Only this type."),
    ] = None,
) -> int:
    with operator_services(settings()) as services:
        views = services.resources.list(acting(services, as_email), type)
        emit([_resource_json(v) for v in views])
    return 0


def resource_deprovision(resource_id: ResourceId, as_email: AsUser) -> int:
    with operator_services(settings()) as services:
        emit(_resource_json(services.resources.deprovision(acting(services, as_email), resource_id)))
    return 0


def resource_cancel_deprovision(resource_id: ResourceId, as_email: AsUser) -> int:
    with operator_services(settings()) as services:
        view = services.resources.cancel_deprovision(acting(services, as_email), resource_id)
        emit(_resource_json(view))
    return 0


def resource_capacity(
    resource_id: ResourceId,
    as_email: AsUser,
    plan: Annotated[Literal["S", "M", "L"] | None, typer.Option("--plan", help="A plan.")] = None,
    cloud_tokens: Annotated[int | None, typer.Option("--cloud-tokens")] = None,
) -> int:
    if (plan is None) == (cloud_tokens is None):
        raise typer.BadParameter("give exactly one of --plan and --cloud-tokens", param_hint="--plan")
    change = CapacityChange.model_validate({"plan": plan, "cloud_tokens": cloud_tokens})
    with operator_services(settings()) as services:
        resource = services.capacity.change(acting(services, as_email), resource_id, change)
        emit(_resource_json(services.resources.view(resource)))
    return 0
