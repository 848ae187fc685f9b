"""API keys as they read on the wire (the secret only in `created_out`, once)."""

from __future__ import annotations

from kb_service.keys.models import ApiKey
from kb_service.keys.service import IssuedKey
from schemas.keys import KeyCreated, KeyOut


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut(
        key_id=key.id,
        resource_id=key.resource_id,
        description=key.description,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
        paired_with_key_id=key.paired_with_key_id,
    )


def created_out(issued: IssuedKey) -> KeyCreated:
    return KeyCreated(
        **key_out(issued.key).model_dump(),
        secret=issued.secret,
        paired_key=created_out(issued.paired) if issued.paired is not None else None,
    )
