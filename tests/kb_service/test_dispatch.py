"""Messages leave only after the rows they refer to are committed."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.queue.outbox import RecordingDispatcher, send_after_commit


def test_message_is_sent_after_commit_and_dropped_on_rollback(container: Container) -> None:
    dispatcher = RecordingDispatcher()
    with session_scope(container.sessions) as session:
        session.execute(text("SELECT 1"))
        send_after_commit(session, dispatcher, "task.a", "1")
        assert dispatcher.sent == []
    assert dispatcher.sent == [("task.a", ("1",))]

    def failing_unit_of_work() -> None:
        with session_scope(container.sessions) as session:
            send_after_commit(session, dispatcher, "task.b", "2")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        failing_unit_of_work()
    assert dispatcher.sent == [("task.a", ("1",))]


def test_a_broken_broker_does_not_fail_the_committed_request(container: Container) -> None:
    class Broken:
        def send(self, task_name: str, *args: str) -> None:
            raise ConnectionError("broker down")

    with session_scope(container.sessions) as session:
        send_after_commit(session, Broken(), "task.c", "3")
    # No exception: the row stays queued and the sweep re-sends it.
