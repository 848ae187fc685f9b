"""FastAPI dependencies of the app's core, as Annotated aliases: the container, the unit of work, the
clock and — once — the composition root (`ServicesDep`). Authentication is `kb_service.auth.deps`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from kb_service.clock import Clock, SystemClock
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.errors import InvalidInput
from kb_service.services import Services


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_session(container: ContainerDep) -> Iterator[Session]:
    # scope="function": the unit of work commits before the response is sent.
    with session_scope(container.sessions) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_settings(container: ContainerDep) -> Settings:
    return container.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]

_SYSTEM_CLOCK = SystemClock()


def get_clock(request: Request) -> Clock:
    """The app's clock; tests put a movable one on `app.state.clock`."""
    clock: Clock | None = getattr(request.app.state, "clock", None)
    return clock or _SYSTEM_CLOCK


ClockDep = Annotated[Clock, Depends(get_clock)]


def get_services(session: SessionDep, container: ContainerDep, clock: ClockDep) -> Services:
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
