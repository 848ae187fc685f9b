"""Resource teams: internal members added and removed by the team, external users invited (if the
company admin enabled it) who accept or decline; invitations expire after two weeks.

An invitation carries a link secret (256 random bits, shown once to the inviter, only its SHA-256
stored, as with API keys in `bearer`): whoever holds the link may answer it as the invited email,
signing in or, without an account yet, creating one in a company of their own.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import structlog

from kb_service.activity.service import ActivityService
from kb_service.auth import bearer
from kb_service.auth.access import Access, Permission
from kb_service.auth.principals import Actor, actor_of
from kb_service.clock import Clock
from kb_service.companies.service import CompanyService
from kb_service.errors import Conflict, Forbidden, InvalidInput, NotFound
from kb_service.resources.repository import ResourceRepository
from kb_service.teams.models import Invitation, InvitationStatus, TeamMember
from kb_service.teams.repository import TeamRepository
from kb_service.users.models import User
from kb_service.users.repository import UserRepository
from kb_service.users.service import UserService

log = structlog.get_logger(__name__)

INVITATION_LIFETIME = timedelta(days=14)


ACCEPT_PATH = "/portal/invitations/accept"


class InvitationExpired(Conflict):
    code = "invitation_expired"


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    invitation: Invitation
    # The link secret, in this object only: never stored, never logged.
    token: str

    @property
    def accept_url(self) -> str:
        return accept_url(self.token)


@dataclass(frozen=True, slots=True)
class InvitationView:
    """An invitation with what a person needs to judge it: which resource, invited by whom."""

    invitation: Invitation
    resource_name: str
    resource_type: str
    invited_by: str
    # Whether the invited email already has an account (the acceptance page asks to sign in).
    has_account: bool


@dataclass(frozen=True, slots=True)
class TeamOverview:
    members: list[tuple[TeamMember, User]]
    pending: list[InvitationView]
    external_invitations_enabled: bool
    # The actor is an admin of the resource's company (and may enable external invitations).
    company_admin: bool


def accept_url(token: str) -> str:
    """The acceptance page of an invitation link, relative to the service's origin."""
    return f"{ACCEPT_PATH}?token={quote(token, safe='')}"


class TeamService:
    def __init__(
        self,
        teams: TeamRepository,
        users: UserRepository,
        resources: ResourceRepository,
        user_service: UserService,
        companies: CompanyService,
        access: Access,
        activity: ActivityService,
        clock: Clock,
    ) -> None:
        self._teams = teams
        self._users = users
        self._resources = resources
        self._user_service = user_service
        self._companies = companies
        self._access = access
        self._activity = activity
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

    def overview(self, actor: Actor, resource_id: str) -> TeamOverview:
        """The Team tab: members, pending invitations and whether external invitations are on."""
        resource = self._access.resource(actor, resource_id, Permission.VIEW)
        assert resource.company_id is not None
        company = self._companies.get(resource.company_id)
        pending = [i for i in self._teams.pending_invitations(resource_id=resource.id) if not self._expire(i)]
        return TeamOverview(
            members=self._teams.members(resource.id),
            pending=self.describe(pending),
            external_invitations_enabled=company.external_invitations_enabled,
            company_admin=actor.is_admin and actor.company_id == company.id,
        )

    def enable_external_invitations(self, actor: Actor, resource_id: str) -> None:
        """A company admin turns external invitations on from a resource's Team tab."""
        resource = self._access.resource(actor, resource_id, Permission.VIEW)
        if not (actor.is_admin and actor.company_id == resource.company_id):
            raise Forbidden("Only a company admin can enable external invitations.")
        self._companies.set_external_invitations(actor.company_id, True)
        log.info("company.external_invitations.enabled", company_id=actor.company_id)

    def pending_of_company(self, actor: Actor) -> list[InvitationView]:
        """The company's pending invitations on all its resources (company admins only)."""
        if not actor.is_admin:
            raise Forbidden("Only company admins change company settings.")
        pending = self._teams.pending_invitations_of_company(actor.company_id)
        return self.describe([i for i in pending if not self._expire(i)])

    def set_external_invitations(self, actor: Actor, enabled: bool) -> list[Invitation]:
        """A company admin switches external invitations on or off (`PATCH /v1/company`, the
        control center's company settings). Switching off withdraws every pending invitation of
        the company's resources, so no link sent earlier can still bring someone in: the invitee's
        link then reads "withdrawn". Each withdrawal is in its resource's activity log. Returns the
        invitations withdrawn; members who already joined stay."""
        company = self._companies.update_settings(actor, enabled)
        withdrawn: list[Invitation] = []
        if not enabled:
            for invitation in self._teams.pending_invitations_of_company(company.id):
                if self._expire(invitation):
                    continue
                invitation.status = InvitationStatus.WITHDRAWN
                invitation.answered_at = self._clock.now()
                self._activity.record(
                    invitation.resource_id,
                    actor.email,
                    "invitation.withdrawn",
                    email=invitation.email,
                    reason="external invitations switched off",
                )
                withdrawn.append(invitation)
        state = "enabled" if enabled else "disabled"
        log.info(
            "company.external_invitations.set", company_id=company.id, state=state, withdrawn=len(withdrawn)
        )
        return withdrawn

    def describe(self, invitations: list[Invitation]) -> list[InvitationView]:
        """Invitations with their resource and inviter, in three queries whatever the count."""
        resources = self._resources.get_many({i.resource_id for i in invitations})
        users = self._users.get_many({i.invited_by for i in invitations})
        known = self._users.existing_emails({i.email for i in invitations})
        views = []
        for invitation in invitations:
            resource = resources.get(invitation.resource_id)
            inviter = users.get(invitation.invited_by)
            views.append(
                InvitationView(
                    invitation=invitation,
                    resource_name=resource.display_name if resource else invitation.resource_id,
                    resource_type=resource.type if resource else "",
                    invited_by=(f"{inviter.name} ({inviter.email})" if inviter.name else inviter.email)
                    if inviter
                    else "a former team member",
                    has_account=invitation.email in known,
                )
            )
        return views

    # --- invitations ----------------------------------------------------------------------------

    def invite(self, actor: Actor, resource_id: str, email: str) -> IssuedInvitation:
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
        token = secrets.token_urlsafe(32)
        invitation = self._teams.add_invitation(
            Invitation(
                resource_id=resource.id,
                email=email,
                invited_by=actor.user_id,
                created_at=now,
                expires_at=now + INVITATION_LIFETIME,
                token_hash=bearer.hash_secret(token),
            )
        )
        self._activity.record(resource.id, actor.email, "invitation.sent", email=email)
        return IssuedInvitation(invitation, token)

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
        return self._respond(actor, invitation, accept)

    # --- invitation links -----------------------------------------------------------------------

    def by_link(self, token: str) -> Invitation:
        """The pending invitation of a link; NotFound for an unknown, used or withdrawn link and
        InvitationExpired for an expired one (nothing here tells whether the email has an account)."""
        invitation = self._by_token(token)
        if invitation is None:
            raise NotFound("This invitation link is not valid. Check that you copied all of it.")
        if self._expire(invitation):
            raise InvitationExpired("This invitation has expired; ask for a new one.")
        if invitation.status != InvitationStatus.PENDING:
            raise NotFound(
                _ANSWERED.get(InvitationStatus(invitation.status), "This invitation link is no longer valid.")
            )
        return invitation

    def respond_by_link(self, actor: Actor, token: str, accept: bool) -> Invitation:
        """The signed-in invitee answers through the link; the link is for its email only."""
        invitation = self.by_link(token)
        if invitation.email != actor.email.lower():
            raise Forbidden(
                f"This invitation is for {invitation.email}, but you are signed in as {actor.email}. "
                "Sign out and open the link again."
            )
        return self._respond(actor, invitation, accept)

    def join_with_new_account(self, token: str, name: str, password: str) -> tuple[Actor, Invitation]:
        """An invitee without an account: a user (not an admin) in a company of their own, named
        after their email, with no subscription and no Cloud Tokens, who accepts the invitation."""
        invitation = self.by_link(token)
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("Enter your name (up to 200 characters).", details={"field": "name"})
        UserService.check_password(password)
        if self._users.get_by_email(invitation.email) is not None:
            raise Conflict(f"An account for {invitation.email} already exists; sign in to accept.")
        company = self._companies.create(
            self._free_company_name(invitation.email), enterprise_subscriptions=0, accounts=0
        )
        user = self._user_service.create(company.id, invitation.email, name=name)
        self._user_service.set_password(user.id, password)
        actor = actor_of(user)
        log.info("user.joined_by_invitation", user_id=user.id, resource_id=invitation.resource_id)
        return actor, self._respond(actor, invitation, accept=True)

    def _respond(self, actor: Actor, invitation: Invitation, accept: bool) -> Invitation:
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

    def _by_token(self, token: str) -> Invitation | None:
        if not token or len(token) > 200:
            return None
        invitation = self._teams.invitation_by_token_hash(bearer.hash_secret(token))
        # Found by its hash already; compared again in constant time, as API keys are.
        if invitation is None or invitation.token_hash is None:
            return None
        return invitation if bearer.matches(invitation.token_hash, token) else None

    def _free_company_name(self, email: str) -> str:
        name, n = email, 1
        while self._companies.find(name) is not None:
            n += 1
            name = f"{email} ({n})"
        return name

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


_ANSWERED: dict[InvitationStatus, str] = {
    InvitationStatus.ACCEPTED: "This invitation has already been accepted; sign in to open the resource.",
    InvitationStatus.DECLINED: "This invitation was declined.",
    InvitationStatus.WITHDRAWN: "This invitation was withdrawn by the team.",
}
