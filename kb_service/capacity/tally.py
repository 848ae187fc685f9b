"""Running GU totals per resource and bundle month, so that the capacity check needs no `SUM` over
the month's usage events (which grows with every call: ~28 ms at 30k events on SQLite).

One tally per database per process (`usage_tally_for(sessions)`). A total is seeded from the ledger
(`SUM` and `MAX` of the bundle month's events) and then advanced by every usage event committed
through a session of that database in this process — whatever wrote it: metering, a worker step, an
operator command, a test — seen by the sessions' own flush and commit events; a rolled-back event is
never counted. A seed collects the events committed while its query runs, so a total never misses one
(it may count one twice, which only refuses early, until the next refresh).

Other processes (workers, other API replicas) write to the same ledger: a total is re-read from the
database once it is `REFRESH_S` old, and on every check once less than `NEAR_END_FRACTION` of the
allocation is left — near the end the check is exact across processes.

Concurrent calls cannot overshoot by more than one call: the check reserves a place for its call
until its usage is written (flushed before the commit: it counts at once, and is taken back if the
unit of work rolls back) or its unit of work ends (metering leaves its rows to the commit's flush),
and admits a call while others are in flight only if the total plus one largest-call-so-far for
each of them (and for itself) stays below the allocation; otherwise it
waits for them (at most `WAIT_S`). So near the end calls run one at a time, and the call that
crosses the allocation is the only one admitted past it. A call larger than any before (or, across
processes, one per process) is the bound's only slack. A stream's usage is written when it ends, in
a unit of work of its own: its place is freed when the request's unit of work ends.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from kb_service.metering.models import UsageEvent

log = structlog.get_logger(__name__)

REFRESH_S = 2.0
NEAR_END_FRACTION = 0.1
# The longest a call waits for calls in flight on its resource near the end of its allocation.
WAIT_S = 10.0
# A reservation whose unit of work never ended (a leak) stops counting after this long.
RESERVATION_S = 300.0
MAX_TALLIES = 50_000

_WROTE = "kb_capacity_wrote"

# (SUM, MAX) of the GU of a resource's events on days in [start, end).
Reader = Callable[[str, date, date], tuple[float, float]]
Period = tuple[date, date]


@dataclass(eq=False)
class _Tally:
    committed_gu: float
    largest_call_gu: float
    refreshed_at: float
    # Flushed by units of work that have not ended: counted at once, dropped if they roll back.
    provisional_gu: float = 0.0
    # Reservation token -> when it was taken (monotonic).
    in_flight: dict[int, float] = field(default_factory=dict)

    @property
    def used_gu(self) -> float:
        return self.committed_gu + self.provisional_gu


class UsageTally:
    def __init__(
        self,
        refresh_s: float = REFRESH_S,
        wait_s: float = WAIT_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._refresh_s = refresh_s
        self._wait_s = wait_s
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._tallies: dict[str, dict[Period, _Tally]] = {}
        # Seeds under way: resource -> collectors of the GU committed while they read.
        self._seeding: dict[str, list[tuple[Period, list[float]]]] = {}
        self._tokens = itertools.count()
        # Keys of this tally's notes in `session.info` (another tally may listen to the same sessions).
        self._pending = f"kb_capacity_pending_{id(self)}"
        self._reserved = f"kb_capacity_reserved_{id(self)}"
        self._committing = f"kb_capacity_committing_{id(self)}"

    # --- the check ------------------------------------------------------------------------------

    def admit(
        self, session: Session, resource_id: str, period: Period, allocation_gu: float, read: Reader
    ) -> float:
        """The GU used so far; when below the allocation, a place is reserved for the caller's call
        until `session`'s transaction ends. May wait for calls in flight (see the module doc)."""
        deadline: float | None = None
        while True:
            tally = self._current(resource_id, period, allocation_gu, read)
            with self._cond:
                now = self._monotonic()
                for token in [t for t, at in tally.in_flight.items() if now - at > RESERVATION_S]:
                    del tally.in_flight[token]
                if tally.used_gu >= allocation_gu:
                    return tally.used_gu
                busy = len(tally.in_flight)
                clear = busy == 0 or (
                    tally.largest_call_gu > 0
                    and tally.used_gu + (busy + 1) * tally.largest_call_gu < allocation_gu
                )
                deadline = deadline if deadline is not None else now + self._wait_s
                # A unit of work that has written may hold the database's write lock (SQLite)
                # that the calls in flight need to record their usage: it must not wait for them.
                if clear or now >= deadline or session.info.get(_WROTE):
                    if not clear:
                        log.warning("capacity.admitted_busy", resource_id=resource_id, in_flight=busy)
                    token = next(self._tokens)
                    tally.in_flight[token] = now
                    session.info.setdefault(self._reserved, []).append((resource_id, period, token))
                    return tally.used_gu
                self._cond.wait(deadline - now)

    def in_flight(self, resource_id: str) -> int:
        """Calls admitted on the resource whose usage is not yet written."""
        with self._cond:
            return sum(len(t.in_flight) for t in self._tallies.get(resource_id, {}).values())

    def _current(self, resource_id: str, period: Period, allocation_gu: float, read: Reader) -> _Tally:
        with self._cond:
            tally = self._tallies.get(resource_id, {}).get(period)
            if tally is not None and not self._stale(tally, allocation_gu):
                return tally
            collected: list[float] = []
            self._seeding.setdefault(resource_id, []).append((period, collected))
        try:
            total, largest = read(resource_id, period[0], period[1])
        finally:
            with self._cond:
                seeds = self._seeding[resource_id]
                del seeds[next(i for i, seed in enumerate(seeds) if seed[1] is collected)]
                if not seeds:
                    del self._seeding[resource_id]
        with self._cond:
            used = total + sum(collected)
            largest = max([largest, *collected])
            tally = self._tallies.get(resource_id, {}).get(period)
            if tally is None:
                if sum(len(p) for p in self._tallies.values()) >= MAX_TALLIES:
                    self._tallies = {r: p for r, p in self._tallies.items() if _busy(p)}
                tally = _Tally(used, largest, self._monotonic())
                self._tallies.setdefault(resource_id, {})[period] = tally
            else:
                tally.committed_gu, tally.refreshed_at = used, self._monotonic()
                tally.largest_call_gu = max(tally.largest_call_gu, largest)
            return tally

    def _stale(self, tally: _Tally, allocation_gu: float) -> bool:
        near_end = allocation_gu - tally.used_gu < NEAR_END_FRACTION * allocation_gu
        return near_end or self._monotonic() - tally.refreshed_at >= self._refresh_s

    # --- what the sessions of the database report ----------------------------------------------

    def listen(self, sessions: sessionmaker[Session]) -> None:
        event.listen(sessions, "before_commit", self._before_commit)
        event.listen(sessions, "after_flush", self._after_flush)
        event.listen(sessions, "after_commit", self._after_commit)
        event.listen(sessions, "after_transaction_end", self._after_transaction_end)

    def _before_commit(self, session: Session) -> None:
        session.info[self._committing] = True

    def _after_flush(self, session: Session, _context: Any) -> None:
        """Usage written by a unit of work counts at once (provisionally) and frees the place its
        call reserved, so waiting calls re-check without waiting for the commit — unless the flush
        is the commit's own (metering leaves its rows to it): then the place is freed, and waiting
        calls woken, when the transaction ends. Woken between the database's COMMIT and
        `_after_commit`, a call that re-reads the ledger would count the event twice (in the
        ledger's sum and as provisional) and be refused early."""
        if session.new or session.dirty or session.deleted:
            session.info[_WROTE] = True
        events = [obj for obj in session.new if isinstance(obj, UsageEvent)]
        if not events:
            return
        pending: list[_Pending] = session.info.setdefault(self._pending, [])
        reserved: list[tuple[str, Period, int]] = session.info.get(self._reserved, [])
        committing = bool(session.info.get(self._committing))
        with self._cond:
            for e in events:
                units = float(e.genai_units or 0.0)
                added = [t for t in self._matching(e.resource_id, e.day)]
                for tally in added:
                    tally.provisional_gu += units
                    tally.largest_call_gu = max(tally.largest_call_gu, units)
                pending.append(_Pending(e.resource_id, e.day, units, added))
                if committing:
                    continue
                mine = next((r for r in reserved if r[0] == e.resource_id), None)
                if mine is not None:
                    reserved.remove(mine)
                    self._release(mine)
            if not committing:
                self._cond.notify_all()

    def _after_commit(self, session: Session) -> None:
        pending: list[_Pending] | None = session.info.pop(self._pending, None)
        if not pending:
            return
        with self._cond:
            for p in pending:
                for tally in self._matching(p.resource_id, p.day):
                    if tally in p.added_to:
                        tally.provisional_gu -= p.units
                    tally.committed_gu += p.units
                for period, collected in self._seeding.get(p.resource_id, []):
                    if period[0] <= p.day < period[1]:
                        collected.append(p.units)
            self._cond.notify_all()

    def _after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is not None:
            return
        session.info.pop(_WROTE, None)
        session.info.pop(self._committing, None)
        pending: list[_Pending] | None = session.info.pop(self._pending, None)  # rolled back
        reserved: list[tuple[str, Period, int]] | None = session.info.pop(self._reserved, None)
        if not pending and not reserved:
            return
        with self._cond:
            for p in pending or []:
                for tally in p.added_to:
                    tally.provisional_gu -= p.units
            for r in reserved or []:
                self._release(r)
            self._cond.notify_all()

    def _matching(self, resource_id: str, day: date) -> list[_Tally]:
        periods = self._tallies.get(resource_id, {})
        return [t for period, t in periods.items() if period[0] <= day < period[1]]

    def _release(self, reservation: tuple[str, Period, int]) -> None:
        resource_id, period, token = reservation
        tally = self._tallies.get(resource_id, {}).get(period)
        if tally is not None:
            tally.in_flight.pop(token, None)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A usage event flushed by a unit of work that has not ended, and the totals it was added to."""

    resource_id: str
    day: date
    units: float
    added_to: list[_Tally]


def _busy(periods: dict[Period, _Tally]) -> bool:
    return any(t.in_flight for t in periods.values())


_TALLIES: weakref.WeakKeyDictionary[sessionmaker[Session], UsageTally] = weakref.WeakKeyDictionary()
_TALLIES_LOCK = threading.Lock()


def usage_tally_for(sessions: sessionmaker[Session]) -> UsageTally:
    """The tally of the database behind `sessions`, in this process, listening to its sessions."""
    with _TALLIES_LOCK:
        tally = _TALLIES.get(sessions)
        if tally is None:
            tally = _TALLIES[sessions] = UsageTally()
            tally.listen(sessions)
        return tally
