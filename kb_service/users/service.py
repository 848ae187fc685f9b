"""Users and personal access tokens: `pat_<token id>_<secret>`. As with API keys, the secret is 256
random bits and only its SHA-256 is stored, so lookups stay O(1) by token id."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from kb_service.auth import bearer
from kb_service.auth.principals import Actor, actor_of
from kb_service.clock import Clock
from kb_service.errors import Conflict, InvalidInput, NotFound, Unauthorized
from kb_service.users.models import PersonalAccessToken, User
from kb_service.users.passwords import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    hash_password,
    needs_rehash,
    verify_password,
)
from kb_service.users.repository import UserRepository

log = structlog.get_logger(__name__)

TOKEN_PREFIX = "pat"
# One message for an unknown email and a wrong password: sign-in must not reveal who has an account.
SIGN_IN_FAILED = "Incorrect email or password."


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: PersonalAccessToken
    secret: str


class UserService:
    def __init__(self, users: UserRepository, clock: Clock) -> None:
        self._users = users
        self._clock = clock

    def create(self, company_id: str, email: str, *, name: str = "", is_admin: bool = False) -> User:
        email = email.strip()
        if "@" not in email or len(email) > 320:
            raise InvalidInput(f"{email!r} is not an email address.")
        if self._users.get_by_email(email) is not None:
            raise Conflict(f"A user with email {email} already exists.")
        user = self._users.add(User(company_id=company_id, email=email, name=name, is_admin=is_admin))
        log.info("user.created", user_id=user.id, company_id=company_id, admin=is_admin)
        return user

    def get(self, user_id: str) -> User:
        user = self._users.get(user_id)
        if user is None:
            raise NotFound(f"User {user_id} not found.")
        return user

    def by_email(self, email: str) -> User | None:
        return self._users.get_by_email(email)

    @staticmethod
    def check_password(password: str) -> None:
        """InvalidInput unless the password is acceptable (checked before anything is created)."""
        if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
            raise InvalidInput(
                f"A password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters.",
                details={"field": "password"},
            )

    def set_password(self, user_id: str, password: str) -> None:
        self.check_password(password)
        self.get(user_id).password_hash = hash_password(password)
        log.info("user.password.set", user_id=user_id)

    def sign_in(self, email: str, password: str) -> Actor:
        """The user with this email and password; `Unauthorized(SIGN_IN_FAILED)` otherwise."""
        user = self._users.get_by_email(email.strip())
        stored = user.password_hash if user is not None else None
        if user is None or not verify_password(stored, password):
            log.info("user.sign_in.failed")
            raise Unauthorized(SIGN_IN_FAILED)
        assert stored is not None  # verify_password refuses a missing hash
        if needs_rehash(stored):
            user.password_hash = hash_password(password)
        log.info("user.sign_in.succeeded", user_id=user.id)
        return actor_of(user)

    def issue_token(self, user_id: str, description: str = "") -> IssuedToken:
        new = bearer.issue(TOKEN_PREFIX)
        token = self._users.add_token(
            PersonalAccessToken(
                id=new.id,
                user_id=user_id,
                description=description,
                secret_hash=new.secret_hash,
                created_at=self._clock.now(),
            )
        )
        return IssuedToken(token, new.presented)

    def tokens(self, user_id: str) -> list[PersonalAccessToken]:
        return self._users.tokens_of(user_id)

    def revoke_token(self, user_id: str, token_id: str) -> PersonalAccessToken:
        token = self._users.get_token(token_id)
        if token is None or token.user_id != user_id:
            raise NotFound(f"Token {token_id} not found.")
        if token.revoked_at is None:
            token.revoked_at = self._clock.now()
        return token

    def authenticate(self, presented: str) -> Actor:
        token = bearer.verify(
            TOKEN_PREFIX, presented, self._users.get_token, "personal access token", self._clock.now()
        )
        user = self._users.get(token.user_id)
        assert user is not None  # the foreign key cascades
        return actor_of(user)
