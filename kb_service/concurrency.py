"""Coalescing concurrent calls to a resource that works best in batches.

`Coalescer.run(item)` runs one batch at a time. A caller that finds no batch running runs its own
item at once (a lone call waits for nothing). Callers that arrive while a batch runs queue up, FIFO;
when it ends, the first of them runs one batch for the queue (up to `limit` in total `size`, so
nobody starves) and hands each caller its own result. Used by the bundled embedder (one forward pass
for the queries that arrived together) and the embedded store (one scan for the searches of a KB
that arrived together).

`run_batch(items)` returns one result per item, in order; a result that is an exception is raised
to that caller only. An exception raised by `run_batch` itself goes to every caller of the batch.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False, slots=True)
class _Ticket(Generic[T, R]):
    item: T
    done: bool = False
    result: R | None = None
    error: BaseException | None = None


class Coalescer(Generic[T, R]):
    def __init__(
        self,
        run_batch: Callable[[list[T]], Sequence[R | BaseException]],
        *,
        limit: int,
        size: Callable[[T], int] = lambda _item: 1,
    ) -> None:
        self._run_batch = run_batch
        self._limit = limit
        self._size = size
        self._lock = threading.Condition()
        self._queue: deque[_Ticket[T, R]] = deque()
        self._busy = False

    @property
    def waiting(self) -> int:
        """Callers queued behind the running batch."""
        with self._lock:
            return len(self._queue)

    def run(self, item: T) -> R:
        ticket: _Ticket[T, R] = _Ticket(item)
        with self._lock:
            self._queue.append(ticket)
            while not ticket.done:
                if self._busy:
                    self._lock.wait()
                    continue
                self._busy = True
                taken = self._take()
                self._lock.release()
                try:
                    self._run(taken)
                finally:
                    self._lock.acquire()
                    self._busy = False
                    self._lock.notify_all()
        if ticket.error is not None:
            raise ticket.error
        return ticket.result  # type: ignore[return-value]  # done without an error: a result

    def _take(self) -> list[_Ticket[T, R]]:
        """The queue's head, then as many following tickets as fit in one batch."""
        taken = [self._queue.popleft()]
        total = self._size(taken[0].item)
        while self._queue and total + self._size(self._queue[0].item) <= self._limit:
            total += self._size(self._queue[0].item)
            taken.append(self._queue.popleft())
        return taken

    def _run(self, tickets: list[_Ticket[T, R]]) -> None:
        try:
            results = self._run_batch([ticket.item for ticket in tickets])
            if len(results) != len(tickets):
                raise RuntimeError(f"a batch of {len(tickets)} gave {len(results)} results")
        # Broad on purpose: whatever a batch raises is each of its callers' error, not the leader's.
        except BaseException as exc:
            for ticket in tickets:
                ticket.error, ticket.done = exc, True
            return
        for ticket, result in zip(tickets, results, strict=True):
            if isinstance(result, BaseException):
                ticket.error = result
            else:
                ticket.result = result
            ticket.done = True
