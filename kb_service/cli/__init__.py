"""`kb-service`: run the service and manage resources and keys from the command line.

Every command takes --data-dir (or KB_DATA_DIR), so several instances can live side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from kb_service.config import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.data_dir:
        # The environment carries the setting to child processes (the worker) too.
        os.environ["KB_DATA_DIR"] = args.data_dir
    settings = Settings()
    from kb_service.errors import KBError
    from kb_service.observability import configure_logging

    configure_logging(settings)  # logs go to stderr; stdout carries the JSON answer

    try:
        result: int = args.handler(settings, args)
    except KBError as exc:
        json.dump({"error": {"code": exc.code, "message": exc.message}}, sys.stderr)
        sys.stderr.write("\n")
        return 2
    return result


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="Folder holding all state (default: $KB_DATA_DIR or ./kb-data).")
    parser = argparse.ArgumentParser(prog="kb-service", description=__doc__, parents=[common])
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="Run the API and a worker together.")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-worker", action="store_true", help="Run the API only.")
    serve.set_defaults(handler=_serve)

    api = sub.add_parser("api", parents=[common], help="Run the API only.")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.set_defaults(handler=_api)

    worker = sub.add_parser("worker", parents=[common], help="Run a Celery worker.")
    worker.add_argument(
        "--beat", action="store_true", help="Also run the periodic scheduler (one per cluster)."
    )
    worker.add_argument("--concurrency", type=int, default=None)
    worker.set_defaults(handler=_worker)

    beat = sub.add_parser("beat", parents=[common], help="Run the periodic scheduler alone.")
    beat.set_defaults(handler=_beat)

    db = sub.add_parser("db", parents=[common], help="Database schema.")
    db_sub = db.add_subparsers(required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", parents=[common], help="Apply migrations.").set_defaults(handler=_db_upgrade)

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
    key_revoke = key_sub.add_parser("revoke", parents=[common], help="Revoke a key.")
    key_revoke.add_argument("key_id")
    key_revoke.set_defaults(handler=_key_revoke)
    _control_plane_commands(sub, common)
    return parser


def _control_plane_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    company = sub.add_parser("company", parents=[common], help="Companies and Cloud Tokens.")
    company_sub = company.add_subparsers(required=True, metavar="ACTION")
    company_create = company_sub.add_parser("create", parents=[common], help="Create a company.")
    company_create.add_argument("--name", required=True)
    company_create.add_argument("--cloud-tokens", type=int, default=0)
    company_create.add_argument("--price-list-year", type=int, default=None)
    company_create.add_argument("--enterprise-subscriptions", type=int, default=1)
    company_create.add_argument("--accounts", type=int, default=1)
    company_create.set_defaults(handler=_company_create)
    add_tokens = company_sub.add_parser("add-tokens", parents=[common], help="Record a token purchase.")
    add_tokens.add_argument("--company", required=True, help="Company id or name.")
    add_tokens.add_argument("--tokens", type=int, required=True)
    add_tokens.set_defaults(handler=_company_add_tokens)

    user = sub.add_parser("user", parents=[common], help="Users of the control plane.")
    user_sub = user.add_subparsers(required=True, metavar="ACTION")
    user_create = user_sub.add_parser(
        "create", parents=[common], help="Create a user and print a personal access token (shown once)."
    )
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--company", required=True, help="Company id or name; created if new.")
    user_create.add_argument("--name", default="")
    user_create.add_argument("--admin", action="store_true", help="A company admin.")
    user_create.add_argument(
        "--password-stdin", action="store_true", help="Read a portal password from stdin (first line)."
    )
    user_create.set_defaults(handler=_user_create)
    set_password = user_sub.add_parser(
        "set-password", parents=[common], help="Set a user's portal password, read from stdin (first line)."
    )
    set_password.add_argument("--email", required=True)
    set_password.set_defaults(handler=_user_set_password)

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


# --- process commands ---------------------------------------------------------------------------


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.serve import serve

    return serve(settings, host=args.host, port=args.port, with_worker=not args.no_worker)


def _api(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.serve import serve

    return serve(settings, host=args.host, port=args.port, with_worker=False)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.serve import run_worker

    return run_worker(settings, beat=args.beat, concurrency=args.concurrency)


def _beat(settings: Settings, _args: argparse.Namespace) -> int:
    from kb_service.serve import run_beat

    return run_beat(settings)


def _db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    with _container(settings) as container:
        _emit({"database": container.engine.url.render_as_string(hide_password=True), "status": "upgraded"})
    return 0


# --- resource commands --------------------------------------------------------------------------


def _kb_create(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.db import session_scope
    from kb_service.resources.service import ResourceService

    with _container(settings) as container, session_scope(container.sessions) as session:
        handle = ResourceService(session, container.store).create_knowledge_base(
            args.name,
            model_id=args.embedding_model or settings.default_embedding_model,
            embeddings_resource_id=args.embeddings_resource,
        )
        _emit(
            {
                "knowledge_base_id": handle.knowledge_base.id,
                "embeddings_resource_id": handle.embeddings.id,
                "model_id": handle.embeddings.model_id,
                "dimension": handle.embeddings.dimension,
            }
        )
    return 0


def _kb_list(settings: Settings, _args: argparse.Namespace) -> int:
    from kb_service.db import session_scope
    from kb_service.resources.models import ResourceType
    from kb_service.resources.repository import ResourceRepository

    with _container(settings) as container, session_scope(container.sessions) as session:
        kbs = ResourceRepository(session).list(ResourceType.KNOWLEDGE_BASE)
        _emit(
            [
                {
                    "knowledge_base_id": kb.id,
                    "name": kb.display_name,
                    "embeddings_resource_id": kb.embeddings_resource_id,
                }
                for kb in kbs
            ]
        )
    return 0


def _key_create(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.db import session_scope
    from kb_service.keys.service import IssuedKey, KeyService

    def render(issued: IssuedKey) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key_id": issued.key.id,
            "resource_id": issued.key.resource_id,
            "secret": issued.secret,
        }
        if issued.paired is not None:
            out["paired_key"] = render(issued.paired)
        return out

    with _container(settings) as container, session_scope(container.sessions) as session:
        _emit(render(KeyService(session).create(args.resource, args.description)))
    return 0


def _key_list(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.db import session_scope
    from kb_service.keys.service import KeyService

    with _container(settings) as container, session_scope(container.sessions) as session:
        _emit(
            [
                {
                    "key_id": k.id,
                    "description": k.description,
                    "created_at": k.created_at.isoformat(),
                    "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                    "revoked": k.revoked_at is not None,
                    "paired_with_key_id": k.paired_with_key_id,
                }
                for k in KeyService(session).list(args.resource)
            ]
        )
    return 0


def _key_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.db import session_scope
    from kb_service.keys.service import KeyService

    with _container(settings) as container, session_scope(container.sessions) as session:
        key = KeyService(session).revoke(args.key_id)
        _emit({"key_id": key.id, "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None})
    return 0


# --- control-plane commands ---------------------------------------------------------------------


def _company_create(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.clock import SystemClock
    from kb_service.companies.service import CompanyService
    from kb_service.db import session_scope

    with _container(settings) as container, session_scope(container.sessions) as session:
        companies = CompanyService(session, SystemClock())
        company = companies.create(
            args.name,
            price_list_year=args.price_list_year,
            enterprise_subscriptions=args.enterprise_subscriptions,
            accounts=args.accounts,
            cloud_tokens=args.cloud_tokens,
        )
        _emit({"company_id": company.id, "name": company.name, "cloud_tokens": args.cloud_tokens})
    return 0


def _company_add_tokens(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.clock import SystemClock
    from kb_service.companies.service import CompanyService
    from kb_service.db import session_scope
    from kb_service.errors import NotFound

    with _container(settings) as container, session_scope(container.sessions) as session:
        companies = CompanyService(session, SystemClock())
        company = companies.find(args.company)
        if company is None:
            raise NotFound(f"Company {args.company} not found.")
        balance = companies.add_tokens(company.id, args.tokens)
        _emit({"company_id": company.id, "total": balance.total, "available": balance.available})
    return 0


def _user_create(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.clock import SystemClock
    from kb_service.companies.service import CompanyService
    from kb_service.db import session_scope
    from kb_service.users.service import UserService

    clock = SystemClock()
    with _container(settings) as container, session_scope(container.sessions) as session:
        companies = CompanyService(session, clock)
        company = companies.find(args.company) or companies.create(args.company)
        users = UserService(session, clock)
        user = users.create(company.id, args.email, name=args.name, is_admin=args.admin)
        if args.password_stdin:
            users.set_password(user.id, _read_password())
        issued = users.issue_token(user.id, "created by kb-service user create")
        _emit(
            {
                "user_id": user.id,
                "email": user.email,
                "company_id": company.id,
                "is_admin": user.is_admin,
                "token_id": issued.token.id,
                "token": issued.secret,
            }
        )
    return 0


def _user_set_password(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.clock import SystemClock
    from kb_service.db import session_scope
    from kb_service.errors import NotFound
    from kb_service.users.service import UserService

    password = _read_password()
    with _container(settings) as container, session_scope(container.sessions) as session:
        users = UserService(session, SystemClock())
        user = users.by_email(args.email)
        if user is None:
            raise NotFound(f"No user {args.email}.")
        users.set_password(user.id, password)
        _emit({"user_id": user.id, "email": user.email, "password_set": True})
    return 0


def _read_password() -> str:
    # Only the first line: `echo secret | kb-service ...` must not make the newline part of it.
    return sys.stdin.readline().rstrip("\r\n")


def _acting(session: Any, email: str) -> Any:
    from kb_service.errors import NotFound
    from kb_service.users.repository import UserRepository
    from kb_service.users.service import actor_of

    user = UserRepository(session).get_by_email(email)
    if user is None:
        raise NotFound(f"No user {email}.")
    return actor_of(user)


def _resource_json(view: Any) -> dict[str, Any]:
    from kb_service.provisioning.router import resource_out

    out: dict[str, Any] = resource_out(view).model_dump(mode="json")
    return out


def _resource_provision(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from pydantic import ValidationError

    from kb_service.clock import SystemClock
    from kb_service.db import session_scope
    from kb_service.errors import InvalidInput
    from kb_service.provisioning.service import ProvisioningService
    from schemas.provisioning import ProvisionRequest

    raw = sys.stdin.read() if args.request == "-" else Path(args.request).read_text("utf-8")
    try:
        request = ProvisionRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidInput(f"Invalid provisioning request: {exc.errors()[0]['msg']}.") from None
    with _container(settings) as container, session_scope(container.sessions) as session:
        service = ProvisioningService(session, container.store, SystemClock())
        actor = _acting(session, args.as_email)
        if args.preview:
            _emit(service.preview(actor, request).model_dump(mode="json"))
        else:
            _emit(_resource_json(service.provision(actor, request)))
    return 0


def _resource_list(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.clock import SystemClock
    from kb_service.db import session_scope
    from kb_service.provisioning.service import ProvisioningService

    with _container(settings) as container, session_scope(container.sessions) as session:
        service = ProvisioningService(session, container.store, SystemClock())
        _emit([_resource_json(v) for v in service.list(_acting(session, args.as_email), args.type)])
    return 0


def _resource_deprovision(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.clock import SystemClock
    from kb_service.db import session_scope
    from kb_service.provisioning.service import ProvisioningService

    with _container(settings) as container, session_scope(container.sessions) as session:
        service = ProvisioningService(session, container.store, SystemClock())
        _emit(_resource_json(service.deprovision(_acting(session, args.as_email), args.resource_id)))
    return 0


def _resource_capacity(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.capacity.service import CapacityService
    from kb_service.clock import SystemClock
    from kb_service.db import session_scope
    from kb_service.provisioning.service import ProvisioningService
    from schemas.provisioning import CapacityChange

    clock = SystemClock()
    with _container(settings) as container, session_scope(container.sessions) as session:
        change = CapacityChange(plan=args.plan, cloud_tokens=args.cloud_tokens)
        resource = CapacityService(session, clock).change(
            _acting(session, args.as_email), args.resource_id, change
        )
        _emit(_resource_json(ProvisioningService(session, container.store, clock).view(resource)))
    return 0


# --- plumbing -----------------------------------------------------------------------------------


class _container:
    """A container with migrations applied and no broker (CLI commands send no tasks)."""

    def __init__(self, settings: Settings) -> None:
        from kb_service.container import Container
        from kb_service.dispatch import RecordingDispatcher
        from kb_service.migrations import upgrade

        self._value = Container.build(settings, dispatcher=RecordingDispatcher())
        upgrade(self._value.engine)

    def __enter__(self) -> Any:
        return self._value

    def __exit__(self, *exc: object) -> None:
        self._value.close()


def _emit(value: object) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    raise SystemExit(main())
