"""`kb-service`: run the service and manage resources and keys from the command line.

Every command takes --data-dir (or KB_DATA_DIR), before or after the command, so several instances can
live side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from kb_service.cli import accounts, evaluate, process, resources
from kb_service.cli._common import Handler
from kb_service.config import Settings
from kb_service.errors import KBError
from kb_service.observability import configure_logging

__all__ = ["main"]

DATA_DIR_HELP = "Folder holding all state (default: $KB_DATA_DIR or ./kb-data)."


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.data_dir:
        # The environment carries the setting to child processes (the worker) too.
        os.environ["KB_DATA_DIR"] = args.data_dir
    settings = Settings()
    configure_logging(settings)  # logs go to stderr; stdout carries the JSON answer

    handler: Handler = args.handler
    try:
        return handler(settings, args)
    except KBError as exc:
        json.dump({"error": {"code": exc.code, "message": exc.message}}, sys.stderr)
        sys.stderr.write("\n")
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kb-service", description=__doc__)
    parser.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    # The commands accept --data-dir too, but without a default of their own: a sub-parser's default
    # would overwrite the value given before the command (`kb-service --data-dir X kb list`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS, help=DATA_DIR_HELP)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    process.add_commands(sub, common)
    resources.add_commands(sub, common)
    accounts.add_commands(sub, common)
    evaluate.add_commands(sub, common)
    return parser
