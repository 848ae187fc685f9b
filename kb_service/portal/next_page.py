"""Where sign-in sends the browser back to: the portal page it asked for, never another site.

A page that needs a session redirects to `/portal/sign-in?next=<its path and query>`; the sign-in
form carries `next` on, and a successful sign-in goes there only if `safe_next` accepts it: a local
path under `/portal/` (no scheme, no host, no `//` or backslash that a browser would read as another
host, no control characters), and not the sign-in page itself. Anything else lands on the resources
list, so a crafted link cannot turn sign-in into an open redirect.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from kb_service.portal.web import PREFIX

DEFAULT = f"{PREFIX}/resources"
MAX_NEXT = 2000


def safe_next(raw: str | None) -> str | None:
    """`raw` if it is a local portal page to return to after signing in, else None."""
    if not raw or len(raw) > MAX_NEXT:
        return None
    if "\\" in raw or any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        return None
    if not raw.startswith(f"{PREFIX}/") or raw.startswith("//"):
        return None
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not parts.path.startswith(f"{PREFIX}/"):
        return None
    if parts.path.rstrip("/") in (f"{PREFIX}/sign-in", f"{PREFIX}/sign-out", f"{PREFIX}/static"):
        return None
    if "/../" in parts.path or parts.path.endswith("/..") or f"{PREFIX}/static/" in parts.path:
        return None
    return raw


def after_sign_in(raw: str | None) -> str:
    return safe_next(raw) or DEFAULT
