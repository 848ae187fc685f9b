"""Process commands: `serve`, `api`, `worker`, `beat` and `db upgrade`.

`kb_service.cli.serve` (uvicorn, the app, the embedders) is imported only by the commands that run
it, so the resource and account commands start without loading the web stack.
"""

from __future__ import annotations

import argparse

from kb_service.cli._common import Commands, emit, operator_container
from kb_service.config import Settings


def add_commands(sub: Commands, common: argparse.ArgumentParser) -> None:
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


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.cli.serve import serve  # the web stack, only when it runs

    return serve(settings, host=args.host, port=args.port, with_worker=not args.no_worker)


def _api(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.cli.serve import serve

    return serve(settings, host=args.host, port=args.port, with_worker=False)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from kb_service.cli.serve import run_worker

    return run_worker(settings, beat=args.beat, concurrency=args.concurrency)


def _beat(settings: Settings, _args: argparse.Namespace) -> int:
    from kb_service.cli.serve import run_beat

    return run_beat(settings)


def _db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    with operator_container(settings) as container:
        emit({"database": container.engine.url.render_as_string(hide_password=True), "status": "upgraded"})
    return 0
