"""Portal sessions: a signed, expiring cookie and a CSRF token bound to it.

The cookie holds `{user id, nonce, expiry, password fingerprint}` signed with HMAC-SHA256 under the
server secret, so the server keeps no session table. Every visitor (signed in or not) gets a nonce;
the CSRF token of a form is HMAC(secret, "csrf" + nonce), so a token lifted from one session is
useless in another, and a cross-site form post (which cannot read our pages) cannot produce it.
Signing in issues a new nonce against session fixation. The fingerprint (a MAC of the stored password
hash) makes a password change end every session signed in with the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from kb_service.config import Settings

COOKIE_NAME = "kb_portal"
SECRET_FILE = "portal_secret"


@dataclass(frozen=True, slots=True)
class PortalSession:
    user_id: str | None
    nonce: str
    expires_at: datetime
    password_fingerprint: str | None = None


def load_secret(settings: Settings) -> bytes:
    """The configured key, or one generated once and kept (owner-only) in the data dir."""
    if settings.portal.secret_key is not None:
        return settings.portal.secret_key.get_secret_value().encode()
    path: Path = settings.resolved_data_dir / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting together agree on the first file written.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text("utf-8").strip().encode()


class SessionCodec:
    def __init__(self, secret: bytes, lifetime: timedelta) -> None:
        self._secret = secret
        self.lifetime = lifetime

    def new(self, user_id: str | None, now: datetime, password_hash: str | None = None) -> PortalSession:
        fingerprint = self.fingerprint(password_hash) if password_hash else None
        return PortalSession(user_id, secrets.token_urlsafe(16), now + self.lifetime, fingerprint)

    def fingerprint(self, password_hash: str) -> str:
        return self._sign(f"password:{password_hash}")[:22]

    def still_valid_for(self, session: PortalSession, password_hash: str | None) -> bool:
        """False once the user's password changed (or was removed) after this session began."""
        if password_hash is None or session.password_fingerprint is None:
            return False
        return hmac.compare_digest(session.password_fingerprint, self.fingerprint(password_hash))

    def encode(self, session: PortalSession) -> str:
        payload = json.dumps(
            {
                "u": session.user_id,
                "n": session.nonce,
                "e": int(session.expires_at.timestamp()),
                "p": session.password_fingerprint,
            },
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def decode(self, raw: str | None, now: datetime) -> PortalSession | None:
        """The session in a cookie, or None when it is missing, tampered with or expired."""
        if not raw or "." not in raw:
            return None
        body, signature = raw.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            expires_at = datetime.fromtimestamp(int(data["e"]), tz=now.tzinfo)
            session = PortalSession(data["u"], str(data["n"]), expires_at, data.get("p"))
        except (ValueError, KeyError, TypeError):
            return None
        return session if expires_at > now else None

    def csrf_token(self, session: PortalSession) -> str:
        return self._sign(f"csrf:{session.nonce}")

    def csrf_valid(self, session: PortalSession | None, presented: str | None) -> bool:
        if session is None or not presented:
            return False
        return hmac.compare_digest(presented, self.csrf_token(session))

    def _sign(self, value: str) -> str:
        digest = hmac.new(self._secret, value.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
