"""Sending work to the Celery workers — only after the rows it refers to are committed.

Services send through an `Outbox` bound to their unit of work; the message leaves when that session
commits and is dropped if it rolls back, so a task never races the row it reads. If sending fails
after the commit (broker down), the row stays `queued` and the periodic sweep re-sends it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session

log = structlog.get_logger(__name__)

_OUTBOX = "kb_outbox"


class TaskDispatcher(Protocol):
    def send(self, task_name: str, *args: str) -> None: ...


@dataclass(frozen=True, slots=True)
class _Message:
    dispatcher: TaskDispatcher
    task_name: str
    args: tuple[str, ...]


def send_after_commit(session: Session, dispatcher: TaskDispatcher, task_name: str, *args: str) -> None:
    session.info.setdefault(_OUTBOX, []).append(_Message(dispatcher, task_name, args))


class Outbox:
    """Messages of one unit of work, sent when its session commits (dropped if it rolls back)."""

    def __init__(self, session: Session, dispatcher: TaskDispatcher) -> None:
        self._session = session
        self._dispatcher = dispatcher

    def send(self, task_name: str, *args: str) -> None:
        send_after_commit(self._session, self._dispatcher, task_name, *args)


@event.listens_for(Session, "after_commit")
def _flush_outbox(session: Session) -> None:
    messages: list[_Message] = session.info.pop(_OUTBOX, [])
    for message in messages:
        try:
            message.dispatcher.send(message.task_name, *message.args)
        except Exception:  # the sweep re-sends anything still queued; never fail a committed request
            log.exception("dispatch.send_failed", task=message.task_name, args=message.args)


@event.listens_for(Session, "after_rollback")
def _drop_outbox(session: Session) -> None:
    session.info.pop(_OUTBOX, None)


@dataclass
class RecordingDispatcher:
    """Keeps messages in memory; used where no broker runs (tests, `kb-service` CLI commands)."""

    sent: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def send(self, task_name: str, *args: str) -> None:
        self.sent.append((task_name, args))
