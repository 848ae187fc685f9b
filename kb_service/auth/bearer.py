"""Bearer secrets — API keys (`kb_…`) and personal access tokens (`pat_…`) — in one format:
`<prefix>_<id>_<secret>`. The id is the public lookup handle; the secret is 256 random bits of which
only a SHA-256 is stored. A slow password hash adds nothing for a secret of that entropy, and the
lookup by id keeps verification O(1)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from kb_service.errors import Unauthorized

# Recording every use would turn every authenticated read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class NewSecret:
    id: str
    secret_hash: str
    # The whole bearer string, shown once.
    presented: str


def issue(prefix: str) -> NewSecret:
    handle = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewSecret(handle, hash_secret(secret), f"{prefix}_{handle}_{secret}")


def split(prefix: str, presented: str) -> tuple[str, str] | None:
    """(id, secret) of a bearer string with this prefix, or None when it is malformed."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix:
        return None
    return parts[1], parts[2]


def matches(secret_hash: str, secret: str) -> bool:
    return hmac.compare_digest(secret_hash, hash_secret(secret))


class StoredSecret(Protocol):
    secret_hash: str
    revoked_at: datetime | None
    last_used_at: datetime | None


S = TypeVar("S", bound=StoredSecret)


def verify(
    prefix: str,
    presented: str,
    lookup: Callable[[str], S | None],
    what: str,
    now: datetime,
    *,
    touch: Callable[[S, datetime], None] | None = None,
) -> S:
    """The stored record a bearer string stands for, its last use recorded (at most once a
    `LAST_USED_RESOLUTION`; by `touch` when given, else on the record); Unauthorized naming `what`
    ("API key", "personal access token") when it is malformed, unknown, wrong or revoked."""
    parts = split(prefix, presented)
    if parts is None:
        raise Unauthorized(f"Malformed {what}.")
    record = lookup(parts[0])
    if record is None or not matches(record.secret_hash, parts[1]):
        raise Unauthorized(f"Invalid {what}.")
    if record.revoked_at is not None:
        raise Unauthorized(f"This {what} has been revoked.")
    if touch_due(record.last_used_at, now):
        if touch is not None:
            touch(record, now)
        else:
            record.last_used_at = now
    return record


def touch_due(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether `last_used_at` should be moved to `now`."""
    return last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
