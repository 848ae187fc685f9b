"""The coalescer behind the embedder's shared passes and the store's shared scans."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from kb_service.concurrency import Coalescer


class _Gated:
    """A batch runner that records each batch and holds the first one until released."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.batches: list[list[int]] = []

    def __call__(self, items: list[int]) -> Sequence[int | BaseException]:
        self.batches.append(items)
        self.started.set()
        self.gate.wait(10)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


def _callers(coalescer: Coalescer[int, int], items: list[int], runner: _Gated) -> dict[int, object]:
    """Run item 0 alone, queue the rest behind it, then release: each item's result or error."""
    outcomes: dict[int, object] = {}

    def call(i: int) -> None:
        try:
            outcomes[i] = coalescer.run(i)
        except ValueError as error:
            outcomes[i] = str(error)

    first = threading.Thread(target=call, args=(items[0],))
    first.start()
    assert runner.started.wait(10)
    rest = []
    for i in items[1:]:  # one by one, so the queue's order is known
        rest.append(threading.Thread(target=call, args=(i,)))
        rest[-1].start()
        while coalescer.waiting < len(rest):
            time.sleep(0.001)
    runner.gate.set()
    for thread in [first, *rest]:
        thread.join(10)
    return outcomes


def test_a_lone_call_runs_at_once_and_waiting_calls_share_batches_in_order() -> None:
    runner = _Gated()
    coalescer: Coalescer[int, int] = Coalescer(runner, limit=3)

    outcomes = _callers(coalescer, [0, 2, 4, 6, 8], runner)

    assert runner.batches == [[0], [2, 4, 6], [8]]  # FIFO, at most `limit` per batch
    assert outcomes == {0: 0, 2: 20, 4: 40, 6: 60, 8: 80}


def test_an_error_result_reaches_its_caller_only() -> None:
    runner = _Gated()
    outcomes = _callers(Coalescer(runner, limit=8), [0, 1, 2], runner)
    assert outcomes == {0: 0, 1: "odd 1", 2: 20}


def test_an_error_of_the_batch_reaches_every_caller_in_it_and_the_next_batch_runs() -> None:
    calls: list[list[int]] = []

    def failing(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            raise ValueError("the batch failed")
        return items

    coalescer: Coalescer[int, int] = Coalescer(failing, limit=4)
    with pytest.raises(ValueError, match="the batch failed"):
        coalescer.run(1)
    assert coalescer.run(2) == 2
    assert calls == [[1], [2]]


def test_sizes_count_against_the_limit() -> None:
    runner = _Gated()
    sized: Coalescer[int, int] = Coalescer(runner, limit=10, size=lambda i: i)
    outcomes = _callers(sized, [0, 4, 6, 2], runner)
    assert runner.batches == [[0], [4, 6], [2]]
    assert outcomes == {0: 0, 4: 40, 6: 60, 2: 20}
