"""Control-plane test helpers: a movable clock, companies, users with tokens, provisioning calls.

Test packages of the control plane import `control_plane` (and `clock`) into their conftest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.services import ScheduledWork, Services, unit_of_work


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def set(self, day: date, hour: int = 12) -> None:
        self._now = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)


@dataclass(frozen=True)
class TestUser:
    __test__ = False

    id: str
    email: str
    company_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class ControlPlane:
    """Builds companies and users through the services and calls the API as them."""

    def __init__(self, container: Container, client: TestClient, clock: MovableClock) -> None:
        self.container = container
        self.client = client
        self.clock = clock

    def company(self, name: str = "Acme", *, tokens: int = 1000, **subscription: Any) -> str:
        with session_scope(self.container.sessions) as session:
            company = Services(session, self.container, self.clock).companies.create(
                name, cloud_tokens=tokens, **subscription
            )
            return company.id

    def user(self, company_id: str, email: str, *, admin: bool = False) -> TestUser:
        with session_scope(self.container.sessions) as session:
            users = Services(session, self.container, self.clock).users
            user = users.create(company_id, email, name=email.split("@")[0], is_admin=admin)
            issued = users.issue_token(user.id, "tests")
            return TestUser(user.id, user.email, company_id, issued.secret)

    def admin(self, company: str = "Acme", *, tokens: int = 1000, **subscription: Any) -> TestUser:
        company_id = self.company(company, tokens=tokens, **subscription)
        return self.user(company_id, f"admin@{company.lower()}.example", admin=True)

    def apply_scheduled(self) -> ScheduledWork:
        """The beat's periodic control-plane work, now, at this test's clock."""
        with unit_of_work(self.container, self.clock) as services:
            return services.apply_scheduled()

    def colleague(self, user: TestUser) -> dict[str, str]:
        """`created_for` naming Dana Dev, a user of `user`'s company (made if she is not there yet): a
        resource created for someone outside the company needs an external invitation."""
        email = f"dana@{user.email.split('@', 1)[1]}"
        with session_scope(self.container.sessions) as session:
            users = Services(session, self.container, self.clock).users
            if users.by_email(email) is None:
                users.create(user.company_id, email, name="Dana Dev")
        return {"name": "Dana Dev", "email": email}

    def provision(self, user: TestUser, expect: int = 201, **fields: Any) -> dict[str, Any]:
        if "created_for" not in fields:
            fields["created_for"] = self.colleague(user)
        response = self.client.post("/v1/resources", headers=user.headers, json=request_body(**fields))
        assert response.status_code == expect, response.text
        body: dict[str, Any] = response.json()
        return body

    def embeddings(self, user: TestUser, **fields: Any) -> dict[str, Any]:
        defaults = {"type": "embeddings", "models": ["all-minilm-l6-v2"], "plan": None, "cloud_tokens": 6}
        fields = {**defaults, **fields}
        return self.provision(user, **fields)

    def knowledge_base(self, user: TestUser, embeddings_id: str, **fields: Any) -> dict[str, Any]:
        fields = {
            "type": "knowledge_base",
            "plan": "Standard",
            "embeddings_resource_id": embeddings_id,
            **fields,
        }
        return self.provision(user, **fields)


def request_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "text_generation",
        "display_name": "Assistant",
        "environment": "Test",
        "region": "eu-central-1",
        "models": ["anthropic.claude-haiku-4-5"],
        "plan": "S",
        "created_for": {"name": "Dana Dev", "email": "dana@acme.example"},
    }
    body.update(fields)
    if body["type"] == "knowledge_base":
        body.pop("models", None)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime(2026, 1, 15, 12, tzinfo=UTC))


@pytest.fixture
def control_plane(container: Container, client: TestClient, clock: MovableClock) -> ControlPlane:
    client.app.state.clock = clock  # type: ignore[attr-defined]
    return ControlPlane(container, client, clock)
