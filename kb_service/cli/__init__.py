"""`kb-service`: run the service, administer a local instance, and work with a running one."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import httpx
import typer
from typer._click.core import Command, Context
from typer.core import TyperGroup

from kb_service.cli import accounts, evaluate, mcp, process, profile, remote, resources
from kb_service.cli._common import DATA_DIR_HELP, JSON_HELP, Runtime, begin, runtime
from kb_service.client.errors import KBServiceError
from kb_service.errors import KBError

__all__ = ["app", "check_args", "main"]

HELP = (
    "Run the service, administer a local instance, and work with a running one.\n\n"
    "Local administration (kb, key, company, user, resource, db) opens the data folder (--data-dir or "
    "$KB_DATA_DIR). The remote commands (ingest, search, collections, documents, eval run) reach a running "
    "service through the Python client: --url and --key, $KB_URL and $KB_API_KEY, or a --profile. "
    "--data-dir and --json are accepted before or after the command."
)

app = typer.Typer(
    name="kb-service",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    data_dir: Annotated[
        str | None, typer.Option("--data-dir", help=DATA_DIR_HELP, show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    if data_dir:
        # The environment carries the setting to child processes (the worker) too.
        os.environ["KB_DATA_DIR"] = data_dir
    runtime().json = as_json


for _module in (process, resources, accounts, evaluate, remote, profile, mcp):
    _module.register(app)

_GLOBAL_VALUE_OPTIONS = ("--data-dir",)
_GLOBAL_FLAGS = ("--json",)


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """The global options moved in front of the command, wherever they were given (`kb-service kb list
    --data-dir X` is `kb-service --data-dir X kb list`); nothing after `--` is touched."""
    front: list[str] = []
    rest: list[str] = []
    items = list(argv)
    index = 0
    while index < len(items):
        item = items[index]
        if item == "--":
            rest.extend(items[index:])
            break
        name = item.split("=", 1)[0]
        if name in _GLOBAL_VALUE_OPTIONS:
            if "=" in item:
                front.append(item)
            elif index + 1 < len(items):
                front.extend(items[index : index + 2])
                index += 1
            else:
                rest.append(item)  # click reports the missing value
        elif item in _GLOBAL_FLAGS:
            front.append(item)
        else:
            rest.append(item)
        index += 1
    return front + rest


def command() -> Command:
    return typer.main.get_command(app)


def main(argv: Sequence[str] | None = None, *, transport: httpx.BaseTransport | None = None) -> int:
    """Run one command; its exit code. Errors print our JSON error body on stderr and exit 2."""
    args = hoist_global_options(sys.argv[1:] if argv is None else argv)
    begin(Runtime(transport=transport))
    try:
        result = command().main(args=args, prog_name="kb-service", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("Aborted.\n")
        return 130
    except typer.TyperException as exc:  # usage errors: an unknown command or option, a bad value
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"Error: {exc}\n")
        return int(exc.exit_code)
    except KBError as exc:
        _error(exc.code, exc.message, exc.details)
        return 2
    except KBServiceError as exc:
        _error(exc.code, exc.message, exc.details, status=exc.status_code or None)
        return 2
    return result if isinstance(result, int) else 0


def check_args(argv: Sequence[str]) -> dict[str, Any]:
    """Parse a command line without running it (the compose file's commands are checked with this):
    the command's parameters, or a `typer.TyperException` (a usage error) on an unknown command or
    option."""
    args = hoist_global_options(argv)
    begin(Runtime())
    ctx: Context = command().make_context("kb-service", list(args), resilient_parsing=False)
    while isinstance(ctx.command, TyperGroup):
        remaining = [*ctx._protected_args, *ctx.args]
        if not remaining:
            break
        name, sub, sub_args = ctx.command.resolve_command(ctx, remaining)
        assert sub is not None and name is not None
        ctx = sub.make_context(name, sub_args, parent=ctx, resilient_parsing=False)
    return dict(ctx.params)


def _error(code: str, message: str, details: dict[str, object], *, status: int | None = None) -> None:
    body: dict[str, object] = {"code": code, "message": message}
    if details:
        body["details"] = details
    if status is not None:
        body["status"] = status
    json.dump({"error": body}, sys.stderr)
    sys.stderr.write("\n")
