"""FastAPI dependencies of the app's core, as Annotated aliases: the container, the unit of work, the
clock and — once — the composition root (`ServicesDep`). Authentication is `kb_service.auth.deps`.

FastAPI runs every plain `def` dependency in the thread pool — one hop each, and a sync generator two
— which cost more than the rest of a cheap request put together (docs/request-path.md). The ones here
do no I/O, so they are `async def` and run on the event loop: a session is only an object until its
first query (which runs in the endpoint's thread), and `UnitOfWorkRoute` commits it in that thread
too, so a sync endpoint with its unit of work is one hop.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from kb_service.clock import Clock, SystemClock
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.errors import InvalidInput
from kb_service.services import Services


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


# The request's session, for `UnitOfWorkRoute` to end it in the endpoint's own thread.
_request_session: ContextVar[Session | None] = ContextVar("kb_request_session", default=None)


async def get_session(container: ContainerDep) -> AsyncIterator[Session]:
    """The request's unit of work (`db.session_scope`'s rules): commits when the endpoint returns,
    rolls back if it raises. scope="function": the commit happens before the response is sent.
    Under `UnitOfWorkRoute` a sync endpoint's thread has already ended it: nothing is left here."""
    session = container.sessions()
    token = _request_session.set(session)
    try:
        yield session
    except BaseException:
        await _finish(session, commit=False)
        raise
    finally:
        _request_session.reset(token)
    await _finish(session, commit=True)


async def _finish(session: Session, *, commit: bool) -> None:
    if not session.in_transaction():
        session.close()  # never used: no connection was taken, nothing to commit
        return
    await run_in_threadpool(_end, session, commit=commit)


def _end(session: Session, *, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


class UnitOfWorkRoute(APIRoute):
    """Every router's route class. FastAPI runs a sync endpoint in the thread pool, then validates
    its response in the thread pool again, and the session's commit is one more hop: three hand-offs
    between the event loop and a thread, each dearer than the commit itself. Here a sync endpoint
    becomes one hop that runs it and then ends the request's unit of work (commit, or rollback if it
    raised) in the same thread; its response is validated on the loop (no I/O). Generator endpoints
    (streams) are left to FastAPI."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not (
            inspect.iscoroutinefunction(endpoint)
            or inspect.isgeneratorfunction(endpoint)
            or inspect.isasyncgenfunction(endpoint)
        ):
            endpoint = _in_one_hop(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _in_one_hop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)  # FastAPI reads the parameters through __wrapped__
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(_call_and_end, endpoint, args, kwargs)

    return run


def _call_and_end(endpoint: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    session = _request_session.get()
    try:
        result = endpoint(*args, **kwargs)
    except BaseException:
        if session is not None and session.in_transaction():
            _end(session, commit=False)
        raise
    if session is not None and session.in_transaction():
        _end(session, commit=True)
    return result


async def get_settings(container: ContainerDep) -> Settings:
    return container.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]

_SYSTEM_CLOCK = SystemClock()


async def get_clock(request: Request) -> Clock:
    """The app's clock; tests put a movable one on `app.state.clock`."""
    clock: Clock | None = getattr(request.app.state, "clock", None)
    return clock or _SYSTEM_CLOCK


ClockDep = Annotated[Clock, Depends(get_clock)]


async def get_services(session: SessionDep, container: ContainerDep, clock: ClockDep) -> Services:
    return Services(session, container, clock)


ServicesDep = Annotated[Services, Depends(get_services)]


async def single_form_parts(request: Request) -> None:
    """Each field of a multipart form sent once: two `file` (or `collection`) parts are a 422, where
    the last one used to win silently. Reads the form FastAPI already parsed (Starlette caches it)."""
    form = await request.form()
    for name in dict.fromkeys(form.keys()):
        count = len(form.getlist(name))
        if count > 1:
            raise InvalidInput(
                f"The form field `{name}` was sent {count} times; send it once.", details={"field": name}
            )


SingleFormPartsDep = Annotated[None, Depends(single_form_parts)]
