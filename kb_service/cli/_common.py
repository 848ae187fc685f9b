"""What every command shares: the settings and the container it opens, the unit of work it runs in,
the connection a remote command makes, and how it answers (JSON, or rich tables for people)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from kb_service.config import Settings
from kb_service.errors import NotFound

if TYPE_CHECKING:
    from kb_service.auth.principals import Actor
    from kb_service.container import Container
    from kb_service.services import Services


@dataclass
class Runtime:
    """The state of one `kb-service` run ."""

    json: bool = False
    # Tests hand in an httpx transport (the app in-process); by default the remote commands use the network.
    transport: httpx.BaseTransport | None = None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from kb_service.observability import configure_logging

            self._settings = Settings()
            configure_logging(self._settings)  # logs go to stderr; stdout carries the answer
        return self._settings


_RUNTIME: ContextVar[Runtime | None] = ContextVar("kb_service_cli_runtime", default=None)


def runtime() -> Runtime:
    """The current run's state (a default one outside `main`, e.g. a command function called directly)."""
    current = _RUNTIME.get()
    if current is None:
        current = Runtime()
        _RUNTIME.set(current)
    return current


def begin(run: Runtime) -> None:
    _RUNTIME.set(run)


def settings() -> Settings:
    return runtime().settings


# --- local administration -------------------------------------------------------------------------
# The local stack (SQLAlchemy, the services, the vector store) is imported when a local command opens
# it, here and only here, so the remote commands (ingest, search...) start without loading it.


@contextmanager
def operator_container(settings: Settings) -> Iterator[Container]:
    """A container with migrations applied and no broker (CLI commands send no tasks)."""
    from kb_service.container import Container
    from kb_service.migrations import upgrade
    from kb_service.queue.outbox import RecordingDispatcher

    container = Container.build(settings, dispatcher=RecordingDispatcher())
    try:
        upgrade(container.engine)
        yield container
    finally:
        container.close()


@contextmanager
def operator_services(settings: Settings) -> Iterator[Services]:
    """One command, one unit of work: committed when the command succeeds, rolled back if it raises."""
    from kb_service.clock import SystemClock
    from kb_service.services import unit_of_work

    with operator_container(settings) as container, unit_of_work(container, SystemClock()) as services:
        yield services


def acting(services: Services, email: str) -> Actor:
    """The user a control-plane command runs as (`--as`): their rights apply, not the operator's."""
    from kb_service.auth.principals import actor_of

    user = services.users.by_email(email)
    if user is None:
        raise NotFound(f"No user {email}.")
    return actor_of(user)


def read_password() -> str:
    # Only the first line: `echo secret | kb-service ...` must not make the newline part of it.
    return sys.stdin.readline().rstrip("\r\n")


# --- answers ---------------------------------------------------------------------------------------


def emit(value: object) -> None:
    """The command's answer, as JSON on stdout (logs go to stderr)."""
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()


def console() -> Console:
    """Where human output goes (stdout, wide enough not to wrap ids when it is not a terminal)."""
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160, highlight=False)


def err_console() -> Console:
    return Console(file=sys.stderr, highlight=False)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    out = Table(title=title, title_justify="left", show_lines=False)
    for name in columns:
        out.add_column(name, overflow="fold")
    for row in rows:
        out.add_row(*("" if cell is None else str(cell) for cell in row))
    return out


def answer(value: object, human: Table | str | None = None) -> None:
    """JSON with `--json` (or when there is no human form), else the table or text for people."""
    if runtime().json or human is None:
        emit(value)
    else:
        console().print(human)


# --- options every command group reuses ------------------------------------------------------------

DATA_DIR_HELP = "Folder holding all state (default: $KB_DATA_DIR or ./kb-data); before or after the command."
JSON_HELP = "Print JSON for scripts instead of tables (before or after the command)."

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", help="The service's base URL (default: $KB_URL, the profile's, or http://127.0.0.1:8000)."
    ),
]
KeyOption = Annotated[
    str | None, typer.Option("--key", help="An API key (default: $KB_API_KEY or the profile's).")
]
ProfileOption = Annotated[
    str | None, typer.Option("--profile", help="A connection saved with `kb-service profile add`.")
]
KbOption = Annotated[
    str | None, typer.Option("--kb", help="Knowledge base id (default: the profile's).", show_default=False)
]
