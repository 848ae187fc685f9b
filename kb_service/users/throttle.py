"""Portal sign-in throttling: too many failures for one email or from one client address → refused.

Each failed sign-in is a `SignInFailure` row under "email:<normalised email>" and one under
"ip:<client address>". Before any password work the portal asks `retry_after`: while an email or an
address has reached its limit within the window, sign-in is refused with the same answer whether or
not the account exists. A success clears that email's failures; a key's rows older than the window
are deleted whenever a failure is recorded under it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from kb_service.auth.principals import Actor
from kb_service.clock import Clock
from kb_service.config import PortalSettings
from kb_service.errors import KBError
from kb_service.users.repository import UserRepository
from kb_service.users.service import UserService

log = structlog.get_logger(__name__)

# The key column holds 400 characters; a longer submitted "email" is keyed by its digest.
_MAX_KEY_VALUE = 320


def _key(kind: str, value: str) -> str:
    if len(value) > _MAX_KEY_VALUE:
        value = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return f"{kind}:{value}"


def email_key(email: str) -> str:
    return _key("email", email.strip().lower())


def ip_key(address: str | None) -> str:
    return _key("ip", address or "unknown")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Sign-in is refused until `until`."""

    until: datetime
    now: datetime

    @property
    def minutes(self) -> int:
        return max(1, math.ceil((self.until - self.now).total_seconds() / 60))

    @property
    def message(self) -> str:
        unit = "minute" if self.minutes == 1 else "minutes"
        return f"Too many sign-in attempts. Try again in {self.minutes} {unit}."


class TooManySignInAttempts(KBError):
    status_code = 429
    code = "too_many_sign_in_attempts"

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message, details={"retry_after_seconds": refusal.minutes * 60})
        self.retry_after_seconds = refusal.minutes * 60


class SignInThrottle:
    def __init__(
        self, users: UserService, repository: UserRepository, clock: Clock, settings: PortalSettings
    ) -> None:
        self._users = users
        self._repository = repository
        self._clock = clock
        self._window = timedelta(minutes=settings.sign_in_window_minutes)
        self._email_limit = settings.sign_in_max_failures_per_email
        self._ip_limit = settings.sign_in_max_failures_per_ip

    def refusal(self, email: str, address: str | None) -> Refusal | None:
        """Why sign-in must be refused now (the later of the two limits), or None."""
        now = self._clock.now()
        blocked = [
            until
            for key, limit in ((email_key(email), self._email_limit), (ip_key(address), self._ip_limit))
            if (until := self._blocked_until(key, limit, now)) is not None
        ]
        if not blocked:
            return None
        log.info("user.sign_in.throttled", limits_reached=len(blocked))
        return Refusal(max(blocked), now)

    def _blocked_until(self, key: str, limit: int, now: datetime) -> datetime | None:
        # With `limit` failures inside the window, the limit-th newest leaving it lifts the block.
        failed_at = self._repository.nth_newest_failure(key, now - self._window, limit)
        return None if failed_at is None else failed_at + self._window

    def record_failure(self, email: str, address: str | None) -> None:
        now = self._clock.now()
        self._repository.record_failures([email_key(email), ip_key(address)], now, now - self._window)

    def clear(self, email: str) -> int:
        """Forget the failures of this email (after a successful sign-in); how many there were."""
        return self._repository.clear_failures(email_key(email))

    def sign_in(self, email: str, password: str, address: str | None) -> Actor:
        """Every password sign-in goes through here (the sign-in page and the invitation page).

        TooManySignInAttempts before any password work while a limit is reached; a failure is
        recorded and re-raised; a success clears the email's failures.
        """
        refusal = self.refusal(email, address)
        if refusal is not None:
            raise TooManySignInAttempts(refusal)
        try:
            actor = self._users.sign_in(email, password)
        except KBError:
            self.record_failure(email, address)
            raise
        cleared = self.clear(email)
        if cleared:
            log.info("portal.sign_in.failures_cleared", user_id=actor.user_id, failures=cleared)
        return actor
