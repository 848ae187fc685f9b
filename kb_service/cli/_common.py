"""What every command shares: the container it opens, the unit of work it runs in, how it answers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeAlias

from kb_service.auth.principals import Actor, actor_of
from kb_service.clock import SystemClock
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.errors import NotFound
from kb_service.migrations import upgrade
from kb_service.queue.outbox import RecordingDispatcher
from kb_service.services import Services, unit_of_work

Handler = Callable[[Settings, argparse.Namespace], int]


@contextmanager
def operator_container(settings: Settings) -> Iterator[Container]:
    """A container with migrations applied and no broker (CLI commands send no tasks)."""
    container = Container.build(settings, dispatcher=RecordingDispatcher())
    try:
        upgrade(container.engine)
        yield container
    finally:
        container.close()


@contextmanager
def operator_services(settings: Settings) -> Iterator[Services]:
    """One command, one unit of work: committed when the command succeeds, rolled back if it raises."""
    with operator_container(settings) as container, unit_of_work(container, SystemClock()) as services:
        yield services


def acting(services: Services, email: str) -> Actor:
    """The user a control-plane command runs as (`--as`): their rights apply, not the operator's."""
    user = services.users.by_email(email)
    if user is None:
        raise NotFound(f"No user {email}.")
    return actor_of(user)


def read_password() -> str:
    # Only the first line: `echo secret | kb-service ...` must not make the newline part of it.
    return sys.stdin.readline().rstrip("\r\n")


def emit(value: object) -> None:
    """The command's answer, as JSON on stdout (logs go to stderr)."""
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


# What `add_subparsers()` returns; each command module adds its commands to it. (A string: the class
# is generic only to the type checker.)
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
