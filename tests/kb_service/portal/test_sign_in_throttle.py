"""Portal sign-in throttling: 429 before any password work, per email and per address, lifted by time."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb_service.users import service as user_service
from kb_service.users.passwords import verify_password
from tests.factories.controlplane import ControlPlane
from tests.kb_service.portal.conftest import PASSWORD, sign_in, with_password

THROTTLED = "Too many sign-in attempts. Try again in"


def _status(response: object) -> int:
    code: int = response.status_code  # type: ignore[attr-defined]
    return code


def _text(response: object) -> str:
    text: str = response.text  # type: ignore[attr-defined]
    return text


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts password verifications (the hashing work a refused attempt must not cause)."""
    calls: list[int] = []

    def counting(*args: Any) -> bool:
        calls.append(1)
        return verify_password(*args)

    monkeypatch.setattr(user_service, "verify_password", counting)
    return calls


def test_five_failures_refuse_even_the_right_password_until_the_window_passes(
    client: TestClient, control_plane: ControlPlane, password_checks: list[int]
) -> None:
    admin = with_password(control_plane, control_plane.admin())
    for _ in range(5):
        assert _status(sign_in(client, admin.email, "not the password")) == 401
    checks = len(password_checks)
    refused = sign_in(client, admin.email, PASSWORD)
    assert _status(refused) == 429
    assert "Too many sign-in attempts. Try again in 15 minutes." in _text(refused)
    assert refused.headers["retry-after"] == "900"
    assert len(password_checks) == checks, "a refused attempt must not verify the password"
    assert client.get("/portal/resources", follow_redirects=False).status_code == 303
    # Another spelling of the same address is the same account.
    assert _status(sign_in(client, admin.email.upper(), PASSWORD)) == 429

    control_plane.clock.advance(minutes=14)
    assert "Try again in 1 minute." in _text(sign_in(client, admin.email, PASSWORD))
    control_plane.clock.advance(minutes=1, seconds=1)
    assert _status(sign_in(client, admin.email, PASSWORD)) == 303
    assert client.get("/portal/resources", follow_redirects=False).status_code == 200


def test_a_success_clears_the_emails_failures(client: TestClient, control_plane: ControlPlane) -> None:
    admin = with_password(control_plane, control_plane.admin())
    for _ in range(4):
        assert _status(sign_in(client, admin.email, "not the password")) == 401
    assert _status(sign_in(client, admin.email)) == 303
    for _ in range(4):
        assert _status(sign_in(client, admin.email, "not the password")) == 401
    # Four new failures after the success: still allowed.
    assert _status(sign_in(client, admin.email)) == 303


def test_the_refusal_is_the_same_for_an_unknown_email(
    client: TestClient, control_plane: ControlPlane
) -> None:
    admin = with_password(control_plane, control_plane.admin())
    for email in (admin.email, "nobody@acme.example"):
        for _ in range(5):
            sign_in(client, email, "not the password")
    known = sign_in(client, admin.email, PASSWORD)
    unknown = sign_in(client, "nobody@acme.example", PASSWORD)
    assert _status(known) == _status(unknown) == 429
    assert known.headers["retry-after"] == unknown.headers["retry-after"]

    def alert(response: object) -> str:
        return _text(response).split('role="alert">', 1)[1].split("<", 1)[0]

    assert alert(known) == alert(unknown) == "Too many sign-in attempts. Try again in 15 minutes."


def test_one_address_is_refused_after_twenty_failures_across_emails(
    client: TestClient, control_plane: ControlPlane
) -> None:
    admin = with_password(control_plane, control_plane.admin())
    for i in range(20):
        assert _status(sign_in(client, f"guess{i}@acme.example", "not the password")) == 401
    refused = sign_in(client, admin.email, PASSWORD)
    assert _status(refused) == 429
    assert THROTTLED in _text(refused)
    control_plane.clock.advance(minutes=16)
    assert _status(sign_in(client, admin.email, PASSWORD)) == 303


def test_nothing_of_the_attempt_is_logged(
    client: TestClient, control_plane: ControlPlane, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = with_password(control_plane, control_plane.admin())
    for _ in range(6):
        sign_in(client, admin.email, "secret-guess-123")
    sign_in(client, admin.email, PASSWORD)
    control_plane.clock.advance(minutes=16)
    for _ in range(2):
        sign_in(client, admin.email, "secret-guess-123")
    sign_in(client, admin.email, PASSWORD)
    logged = capsys.readouterr()
    everything = logged.out + logged.err
    assert "user.sign_in.throttled" in everything
    for secret in ("secret-guess-123", PASSWORD, admin.email):
        assert secret not in everything
