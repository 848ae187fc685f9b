"""Server-sent events from a sync stream, so that a stream the client cuts is metered at once and
closed as soon as it can be, rather than whenever the garbage collector gets to it."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator

import anyio.to_thread
from fastapi.responses import StreamingResponse


def sse_response(lines: Iterator[str], on_cancel: Callable[[], None]) -> StreamingResponse:
    """`on_cancel` runs (in a thread) when the client goes away before the end: it meters the stream."""
    return StreamingResponse(
        _pumped(_Pump(lines), on_cancel),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


class _Pump:
    """A sync stream pulled from the thread pool one line at a time, closed exactly once.

    `close` waits (on the lock) for a pull in flight — a generator cannot be closed while it runs —
    so after a disconnect it is called from a thread of its own."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._lock = threading.Lock()
        self._closed = False

    def pull(self) -> str | None:
        with self._lock:
            return None if self._closed else next(self._lines, None)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                close = getattr(self._lines, "close", None)
                if close is not None:
                    close()


async def _pumped(pump: _Pump, on_cancel: Callable[[], None]) -> AsyncIterator[str]:
    finished = False
    try:
        # abandon_on_cancel: a disconnect must not wait for a pull that waits on the provider.
        while (line := await anyio.to_thread.run_sync(pump.pull, abandon_on_cancel=True)) is not None:
            yield line
        finished = True
    finally:
        if finished:
            pump.close()
        else:  # a disconnect, maybe with a pull waiting on the provider: never block the event loop

            def cut() -> None:
                on_cancel()
                pump.close()

            threading.Thread(target=cut, name="gateway-stream-cut", daemon=True).start()
