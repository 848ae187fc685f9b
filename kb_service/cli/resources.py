"""Resource commands: `kb` and `key` as the operator, `resource` as a user (`--as`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kb_service.cli._common import Commands, acting, emit, operator_services
from kb_service.config import Settings
from kb_service.errors import InvalidInput
from kb_service.keys.service import IssuedKey
from kb_service.resources.presenters import resource_out
from kb_service.resources.service import ResourceView
from schemas.resources import CapacityChange, ProvisionRequest


def add_commands(sub: Commands, common: argparse.ArgumentParser) -> None:
    _kb_commands(sub, common)
    _key_commands(sub, common)
    _resource_commands(sub, common)


def _kb_commands(sub: Commands, common: argparse.ArgumentParser) -> None:
    kb = sub.add_parser("kb", parents=[common], help="Knowledge bases.")
    kb_sub = kb.add_subparsers(required=True, metavar="ACTION")
    kb_create = kb_sub.add_parser("create", parents=[common], help="Create a KB and its embeddings resource.")
    kb_create.add_argument("--name", required=True)
    kb_create.add_argument("--embedding-model", default=None, help="Model id (default: the local model).")
    kb_create.add_argument(
        "--embeddings-resource", default=None, help="Link to an existing embeddings resource."
    )
    kb_create.set_defaults(handler=_kb_create)
    kb_sub.add_parser("list", parents=[common], help="List KBs.").set_defaults(handler=_kb_list)


def _key_commands(sub: Commands, common: argparse.ArgumentParser) -> None:
    key = sub.add_parser("key", parents=[common], help="API keys.")
    key_sub = key.add_subparsers(required=True, metavar="ACTION")
    key_create = key_sub.add_parser(
        "create", parents=[common], help="Create a key (the secret is shown once)."
    )
    key_create.add_argument("--resource", required=True, help="Resource id the key reaches.")
    key_create.add_argument("--description", default="")
    key_create.set_defaults(handler=_key_create)
    key_list = key_sub.add_parser("list", parents=[common], help="List a resource's keys.")
    key_list.add_argument("--resource", required=True)
    key_list.set_defaults(handler=_key_list)
    key_revoke = key_sub.add_parser(
        "revoke", parents=[common], help="Revoke a key (a KB key's paired embeddings key too)."
    )
    key_revoke.add_argument("key_id")
    key_revoke.set_defaults(handler=_key_revoke)


def _resource_commands(sub: Commands, common: argparse.ArgumentParser) -> None:
    # Resource operations run as a user (the operator has the database; the user's rights apply).
    resource = sub.add_parser("resource", parents=[common], help="Control-plane resources, as a user.")
    resource_sub = resource.add_subparsers(required=True, metavar="ACTION")
    as_user = argparse.ArgumentParser(add_help=False)
    as_user.add_argument("--as", dest="as_email", required=True, help="Email of the acting user.")
    provision = resource_sub.add_parser(
        "provision", parents=[common, as_user], help="Provision from a JSON request (see POST /v1/resources)."
    )
    provision.add_argument("--request", required=True, help="JSON file, or - for stdin.")
    provision.add_argument("--preview", action="store_true", help="Only show the specification.")
    provision.set_defaults(handler=_resource_provision)
    listing = resource_sub.add_parser("list", parents=[common, as_user], help="The overview list.")
    listing.add_argument("--type", choices=["text_generation", "embeddings", "knowledge_base"])
    listing.set_defaults(handler=_resource_list)
    deprovision = resource_sub.add_parser(
        "deprovision", parents=[common, as_user], help="Deprovision at the end of the bundle month."
    )
    deprovision.add_argument("resource_id")
    deprovision.set_defaults(handler=_resource_deprovision)
    capacity = resource_sub.add_parser("capacity", parents=[common, as_user], help="Change capacity.")
    capacity.add_argument("resource_id")
    size = capacity.add_mutually_exclusive_group(required=True)
    size.add_argument("--plan", choices=["S", "M", "L"])
    size.add_argument("--cloud-tokens", type=int)
    capacity.set_defaults(handler=_resource_capacity)


# --- knowledge bases and keys, as the operator ----------------------------------------------------


def _kb_create(settings: Settings, args: argparse.Namespace) -> int:
    with operator_services(settings) as services:
        handle = services.resources.create_knowledge_base(
            args.name,
            model_id=args.embedding_model or settings.default_embedding_model,
            embeddings_resource_id=args.embeddings_resource,
        )
        emit(
            {
                "knowledge_base_id": handle.knowledge_base.id,
                "embeddings_resource_id": handle.embeddings.id,
                "model_id": handle.embeddings.model_id,
                "dimension": handle.embeddings.dimension,
            }
        )
    return 0


def _kb_list(settings: Settings, _args: argparse.Namespace) -> int:
    with operator_services(settings) as services:
        emit(
            [
                {
                    "knowledge_base_id": kb.id,
                    "name": kb.display_name,
                    "embeddings_resource_id": kb.embeddings_resource_id,
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


def _key_create(settings: Settings, args: argparse.Namespace) -> int:
    with operator_services(settings) as services:
        emit(_issued_json(services.keys.create(args.resource, args.description)))
    return 0


def _key_list(settings: Settings, args: argparse.Namespace) -> int:
    with operator_services(settings) as services:
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
                for k in services.keys.list(args.resource)
            ]
        )
    return 0


def _key_revoke(settings: Settings, args: argparse.Namespace) -> int:
    with operator_services(settings) as services:
        key = services.keys.revoke(args.key_id)
        emit({"key_id": key.id, "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None})
    return 0


# --- control-plane resources, as a user ---------------------------------------------------------


def _resource_json(view: ResourceView) -> dict[str, Any]:
    out: dict[str, Any] = resource_out(view).model_dump(mode="json")
    return out


def _provision_request(source: str) -> ProvisionRequest:
    raw = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
    try:
        return ProvisionRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidInput(f"Invalid provisioning request: {exc.errors()[0]['msg']}.") from None


def _resource_provision(settings: Settings, args: argparse.Namespace) -> int:
    request = _provision_request(args.request)
    with operator_services(settings) as services:
        actor = acting(services, args.as_email)
        if args.preview:
            emit(services.resources.preview(actor, request).model_dump(mode="json"))
        else:
            emit(_resource_json(services.resources.provision(actor, request)))
    return 0


def _resource_list(settings: Settings, args: argparse.Namespace) -> int:
    with operator_services(settings) as services:
        views = services.resources.list(acting(services, args.as_email), args.type)
        emit([_resource_json(v) for v in views])
    return 0


def _resource_deprovision(settings: Settings, args: argparse.Namespace) -> int:
    with operator_services(settings) as services:
        emit(
            _resource_json(services.resources.deprovision(acting(services, args.as_email), args.resource_id))
        )
    return 0


def _resource_capacity(settings: Settings, args: argparse.Namespace) -> int:
    change = CapacityChange(plan=args.plan, cloud_tokens=args.cloud_tokens)
    with operator_services(settings) as services:
        resource = services.capacity.change(acting(services, args.as_email), args.resource_id, change)
        emit(_resource_json(services.resources.view(resource)))
    return 0
