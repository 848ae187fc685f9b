"""Portal test helpers: users with passwords, sign-in through the form, CSRF tokens from pages."""

from __future__ import annotations

import re

import httpx2
from fastapi.testclient import TestClient

from kb_service.services import unit_of_work
from tests.factories.controlplane import ControlPlane, TestUser, clock, control_plane
from tests.kb_service.portal.live import browser, live_container, live_server, screenshots

__all__ = [
    "browser",
    "clock",
    "control_plane",
    "csrf_of",
    "live_container",
    "live_server",
    "screenshots",
    "sign_in",
    "with_password",
]

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def with_password(control_plane: ControlPlane, user: TestUser, password: str = PASSWORD) -> TestUser:
    with unit_of_work(control_plane.container, control_plane.clock) as services:
        services.users.set_password(user.id, password)
    return user


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> httpx2.Response:
    page = client.get("/portal/sign-in")
    return client.post(
        "/portal/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
