"""Time as a collaborator: services ask a `Clock`, so tests can move it (bundle months, expiries)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def today(clock: Clock) -> date:
    return clock.now().date()


class FunctionClock:
    """A `Clock` over a plain `() -> datetime` (the ingestion pipeline's clock)."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now()
