"""Process commands: `serve`, `api`, `worker`, `beat` and `db upgrade`.

`kb_service.cli.serve` (uvicorn, the app, the embedders) is imported only by the commands that run
it, so the resource and account commands start without loading the web stack.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kb_service.cli._common import emit, operator_container, settings

Host = Annotated[str, typer.Option("--host", help="Interface to listen on.")]
Port = Annotated[int, typer.Option("--port", help="Port to listen on.")]


def register(app: typer.Typer) -> None:
    app.command("serve", help="Run the API and a worker together.")(serve)
    app.command("api", help="Run the API only.")(api)
    app.command("worker", help="Run a Celery worker.")(worker)
    app.command("beat", help="Run the periodic scheduler alone.")(beat)
    db = typer.Typer(help="Database schema.", no_args_is_help=True)
    db.command("upgrade", help="Apply migrations.")(db_upgrade)
    app.add_typer(db, name="db")


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Run the API only.")] = False,
) -> int:
    from kb_service.cli.serve import serve as run  # the web stack, only when it runs

    return run(settings(), host=host, port=port, with_worker=not no_worker)


def api(host: Host = "127.0.0.1", port: Port = 8000) -> int:
    from kb_service.cli.serve import serve as run

    return run(settings(), host=host, port=port, with_worker=False)


def worker(
    beat: Annotated[
        bool, typer.Option("--beat", help="Also run the periodic scheduler (one per cluster).")
    ] = False,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Task slots.")] = None,
) -> int:
    from kb_service.cli.serve import run_worker

    return run_worker(settings(), beat=beat, concurrency=concurrency)


def beat() -> int:
    from kb_service.cli.serve import run_beat

    return run_beat(settings())


def db_upgrade() -> int:
    with operator_container(settings()) as container:
        emit({"database": container.engine.url.render_as_string(hide_password=True), "status": "upgraded"})
    return 0
