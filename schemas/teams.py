from __future__ import annotations

from datetime import datetime

from pydantic import Field

from schemas._base import Schema
from schemas.resources import EMAIL_PATTERN


class MemberAdd(Schema):
    email: str = Field(pattern=EMAIL_PATTERN, max_length=320)


class MemberOut(Schema):
    user_id: str
    email: str
    name: str
    external: bool
    added_at: datetime


class InvitationCreate(Schema):
    email: str = Field(pattern=EMAIL_PATTERN, max_length=320)


class InvitationOut(Schema):
    id: str
    resource_id: str
    email: str
    status: str
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None


class InvitationCreated(InvitationOut):
    # The invitation link (relative to this service), in this response only: send it to the invitee.
    accept_url: str


class InvitationLink(Schema):
    # The `token` of an invitation link.
    token: str = Field(min_length=1, max_length=200)
