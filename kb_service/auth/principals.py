"""Who is calling: a user with a personal access token or a portal session (`Actor`), or an app with
a resource's API key (`Principal`)."""

from __future__ import annotations

from dataclasses import dataclass

from kb_service.users.models import User


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated user of a control-plane request or a portal page."""

    user_id: str
    email: str
    company_id: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class Principal:
    """An API key and the one resource it reaches."""

    key_id: str
    resource_id: str

    @property
    def activity_actor(self) -> str:
        """How the activity log names this caller."""
        return f"key:{self.key_id}"


def actor_of(user: User) -> Actor:
    return Actor(user.id, user.email, user.company_id, user.is_admin)
