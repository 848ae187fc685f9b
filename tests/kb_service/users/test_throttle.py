"""Sign-in throttling on both databases: limits per email and per address, the window, clearing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.services import Services
from kb_service.users.models import SignInFailure
from kb_service.users.throttle import Refusal, email_key
from tests.factories.controlplane import MovableClock

EMAIL = "Ada@Acme.example"


@pytest.fixture
def moving() -> MovableClock:
    return MovableClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


def fail(container: Container, clock: MovableClock, email: str = EMAIL, ip: str = "10.0.0.1") -> None:
    """One failure in its own unit of work, as one request records it."""
    with session_scope(container.sessions) as session:
        Services(session, container, clock).sign_in.record_failure(email, ip)


def check(
    container: Container, clock: MovableClock, email: str = EMAIL, ip: str = "10.0.0.1"
) -> Refusal | None:
    with session_scope(container.sessions) as session:
        return Services(session, container, clock).sign_in.refusal(email, ip)


def clear(container: Container, clock: MovableClock, email: str = EMAIL) -> int:
    with session_scope(container.sessions) as session:
        return Services(session, container, clock).sign_in.clear(email)


def rows(container: Container) -> int:
    with session_scope(container.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(SignInFailure)) or 0)


def test_defaults_are_five_per_email_and_twenty_per_address_in_fifteen_minutes(container: Container) -> None:
    portal = container.settings.portal
    assert (portal.sign_in_max_failures_per_email, portal.sign_in_max_failures_per_ip) == (5, 20)
    assert portal.sign_in_window_minutes == 15


def test_an_email_is_refused_after_five_failures_until_the_window_moves_on(
    container: Container, moving: MovableClock
) -> None:
    for i in range(4):
        fail(container, moving)
        moving.advance(minutes=1)
        assert check(container, moving) is None, f"refused after {i + 1} failures"
    fail(container, moving)  # the fifth, at 09:04
    refusal = check(container, moving)
    assert refusal is not None
    # The first failure (09:00) leaves the window at 09:15: 11 minutes from 09:04.
    assert refusal.minutes == 11
    assert refusal.message == "Too many sign-in attempts. Try again in 11 minutes."
    # The same email in another case and with spaces is the same key.
    assert check(container, moving, email="  ada@ACME.example ") is not None
    moving.advance(minutes=10, seconds=59)
    last_minute = check(container, moving)
    assert last_minute is not None
    assert last_minute.message == "Too many sign-in attempts. Try again in 1 minute."
    moving.advance(seconds=1)
    assert check(container, moving) is None


def test_an_address_is_refused_after_twenty_failures_across_emails(
    container: Container, moving: MovableClock
) -> None:
    for i in range(20):
        fail(container, moving, email=f"user{i}@acme.example", ip="203.0.113.9")
    assert check(container, moving, email="fresh@acme.example", ip="203.0.113.9") is not None
    assert check(container, moving, email="fresh@acme.example", ip="203.0.113.10") is None


def test_clear_forgets_only_that_emails_failures(container: Container, moving: MovableClock) -> None:
    for _ in range(5):
        fail(container, moving)
        fail(container, moving, email="other@acme.example")
    assert clear(container, moving) == 5
    assert check(container, moving) is None
    assert check(container, moving, email="other@acme.example") is not None
    with session_scope(container.sessions) as session:
        keys = set(session.scalars(select(SignInFailure.key)))
    # The address keeps its count: a success with one email does not reset the address limit.
    assert keys == {email_key("other@acme.example"), "ip:10.0.0.1"}


def test_old_rows_of_a_key_are_deleted_when_it_fails_again(
    container: Container, moving: MovableClock
) -> None:
    for _ in range(3):
        fail(container, moving)
    assert rows(container) == 6
    moving.advance(minutes=16)
    fail(container, moving)
    assert rows(container) == 2


def test_a_very_long_email_is_keyed_by_its_digest(container: Container, moving: MovableClock) -> None:
    long_email = "x" * 5000 + "@acme.example"
    for _ in range(5):
        fail(container, moving, email=long_email)
    assert check(container, moving, email=long_email) is not None
    assert len(email_key(long_email)) < 400
