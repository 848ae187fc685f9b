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
    return parser


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
