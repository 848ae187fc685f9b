"""Resource teams: internal members added and removed by the team, external users invited (if the
company admin enabled it) who accept or decline; invitations expire after two weeks."""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy.orm import Session

from kb_service.activity.service import ActivityService
from kb_service.clock import Clock
from kb_service.companies.service import CompanyService
from kb_service.errors import Conflict, Forbidden, InvalidInput, NotFound
from kb_service.teams.access import Access, Permission
from kb_service.teams.models import Invitation, InvitationStatus, TeamMember
from kb_service.teams.repository import TeamRepository
from kb_service.users.models import User
from kb_service.users.repository import UserRepository
from kb_service.users.service import Actor

log = structlog.get_logger(__name__)

INVITATION_LIFETIME = timedelta(days=14)


class InvitationExpired(Conflict):
    code = "invitation_expired"


class TeamService:
    def __init__(self, session: Session, clock: Clock) -> None:
        self._teams = TeamRepository(session)
        self._users = UserRepository(session)
        self._access = Access(session)
        self._companies = CompanyService(session, clock)
        self._activity = ActivityService(session, clock)
        self._clock = clock

    def members(self, actor: Actor, resource_id: str) -> list[tuple[TeamMember, User]]:
        resource = self._access.resource(actor, resource_id, Permission.VIEW)
        return self._teams.members(resource.id)

    def add_member(self, actor: Actor, resource_id: str, email: str) -> TeamMember:
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_TEAM)
        user = self._users.get_by_email(email)
        if user is None or user.company_id != resource.company_id:
            raise NotFound(f"No user {email} in this company; invite external users instead.")
        if self._teams.membership(resource.id, user.id) is not None:
            raise Conflict(f"{email} is already a member.")
        member = self._teams.add_member(
            TeamMember(resource_id=resource.id, user_id=user.id, added_at=self._clock.now())
        )
        self._activity.record(resource.id, actor.email, "member.added", email=user.email)
        return member

    def remove_member(self, actor: Actor, resource_id: str, user_id: str) -> None:
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_TEAM)
        member = self._teams.membership(resource.id, user_id)
        user = self._users.get(user_id)
        if member is None or user is None:
            raise NotFound(f"User {user_id} is not a member of this resource.")
        self._teams.remove_member(member)
        self._activity.record(resource.id, actor.email, "member.removed", email=user.email)

    # --- invitations ----------------------------------------------------------------------------

    def invite(self, actor: Actor, resource_id: str, email: str) -> Invitation:
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_TEAM)
        assert resource.company_id is not None
        if not self._companies.get(resource.company_id).external_invitations_enabled:
            raise Forbidden(
                "External invitations are not enabled for this company; a company admin can enable them."
            )
        email = email.strip().lower()
        existing = self._users.get_by_email(email)
        if existing is not None and existing.company_id == resource.company_id:
            raise InvalidInput(f"{email} is in this company; add them as a member instead.")
        if self._teams.pending_invitations(resource_id=resource.id, email=email):
            raise Conflict(f"{email} already has a pending invitation.")
        now = self._clock.now()
        invitation = self._teams.add_invitation(
            Invitation(
                resource_id=resource.id,
                email=email,
                invited_by=actor.user_id,
                created_at=now,
                expires_at=now + INVITATION_LIFETIME,
            )
        )
        self._activity.record(resource.id, actor.email, "invitation.sent", email=email)
        return invitation

    def pending(self, actor: Actor, resource_id: str) -> list[Invitation]:
        resource = self._access.resource(actor, resource_id, Permission.VIEW)
        return [i for i in self._teams.pending_invitations(resource_id=resource.id) if not self._expire(i)]

    def withdraw(self, actor: Actor, resource_id: str, invitation_id: str) -> Invitation:
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_TEAM)
        invitation = self._teams.invitation(invitation_id)
        if invitation is None or invitation.resource_id != resource.id:
            raise NotFound(f"Invitation {invitation_id} not found.")
        self._answer(invitation, InvitationStatus.WITHDRAWN)
        self._activity.record(resource.id, actor.email, "invitation.withdrawn", email=invitation.email)
        return invitation

    def mine(self, actor: Actor) -> list[Invitation]:
        return [i for i in self._teams.pending_invitations(email=actor.email) if not self._expire(i)]

    def respond(self, actor: Actor, invitation_id: str, accept: bool) -> Invitation:
        """The invitee accepts (and joins as an external member) or declines."""
        invitation = self._teams.invitation(invitation_id)
        if invitation is None or invitation.email != actor.email.lower():
            raise NotFound(f"Invitation {invitation_id} not found.")
        self._answer(invitation, InvitationStatus.ACCEPTED if accept else InvitationStatus.DECLINED)
        if accept and self._teams.membership(invitation.resource_id, actor.user_id) is None:
            self._teams.add_member(
                TeamMember(
                    resource_id=invitation.resource_id,
                    user_id=actor.user_id,
                    external=True,
                    added_at=self._clock.now(),
                )
            )
        action = "invitation.accepted" if accept else "invitation.declined"
        self._activity.record(invitation.resource_id, actor.email, action, email=invitation.email)
        return invitation

    def _answer(self, invitation: Invitation, status: InvitationStatus) -> None:
        if self._expire(invitation):
            raise InvitationExpired("This invitation has expired; ask for a new one.")
        if invitation.status != InvitationStatus.PENDING:
            raise Conflict(f"This invitation is already {invitation.status}.")
        invitation.status = status
        invitation.answered_at = self._clock.now()

    def _expire(self, invitation: Invitation) -> bool:
        """Expire on read too, so nothing waits for the periodic task to refuse an old invitation."""
        if invitation.status == InvitationStatus.PENDING and invitation.expires_at <= self._clock.now():
            invitation.status = InvitationStatus.EXPIRED
        return invitation.status == InvitationStatus.EXPIRED
