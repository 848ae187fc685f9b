"""API keys: `kb_<key id>_<secret>` (the format and hashing are kb_service.bearer's), each bound to
one resource; a knowledge-base key comes with a paired key for its embeddings resource."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from kb_service import bearer
from kb_service.activity.service import ActivityService
from kb_service.clock import Clock
from kb_service.db import utcnow
from kb_service.errors import Conflict, NotFound
from kb_service.keys.models import ApiKey
from kb_service.keys.repository import KeyRepository
from kb_service.resources.models import ResourceStatus, ResourceType
from kb_service.resources.repository import ResourceRepository
from kb_service.teams.access import Access, Permission
from kb_service.users.service import Actor

KEY_PREFIX = "kb"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str
    paired: IssuedKey | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key and the one resource it reaches."""

    key_id: str
    resource_id: str


class KeyService:
    def __init__(self, session: Session) -> None:
        self._keys = KeyRepository(session)
        self._resources = ResourceRepository(session)

    def create(self, resource_id: str, description: str = "") -> IssuedKey:
        """A key for the resource; for a knowledge base also one for its linked embeddings resource."""
        resource = self._resources.get(resource_id)
        if resource is None:
            raise NotFound(f"Resource {resource_id} not found.")
        issued = self._issue(resource_id, description, paired_with=None)
        if resource.type == ResourceType.KNOWLEDGE_BASE and resource.embeddings_resource_id:
            paired = self._issue(
                resource.embeddings_resource_id,
                f"Created with knowledge-base key {issued.key.id}",
                paired_with=issued.key.id,
            )
            return IssuedKey(issued.key, issued.secret, paired)
        return issued

    def _issue(self, resource_id: str, description: str, paired_with: str | None) -> IssuedKey:
        new = bearer.issue(KEY_PREFIX)
        key = self._keys.add(
            ApiKey(
                id=new.id,
                resource_id=resource_id,
                description=description,
                secret_hash=new.secret_hash,
                paired_with_key_id=paired_with,
            )
        )
        return IssuedKey(key, new.presented)

    def authenticate(self, presented: str, now: datetime | None = None) -> Principal:
        key = bearer.verify(KEY_PREFIX, presented, self._keys.get, "API key", now or utcnow())
        return Principal(key.id, key.resource_id)

    def revoke(self, key_id: str, resource_id: str | None = None, now: datetime | None = None) -> ApiKey:
        key = self._keys.get(key_id)
        if key is None or (resource_id is not None and key.resource_id != resource_id):
            raise NotFound(f"Key {key_id} not found.")
        if key.revoked_at is None:
            key.revoked_at = now or utcnow()
        return key

    def paired_with(self, key_id: str) -> list[ApiKey]:
        return self._keys.paired_with(key_id)

    def list(self, resource_id: str) -> list[ApiKey]:
        return self._keys.list_for_resource(resource_id)


class KeyManagement:
    """Keys as users manage them in the portal: scoped by the permission matrix, logged."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self._keys = KeyService(session)
        self._access = Access(session)
        self._activity = ActivityService(session, clock)
        self._clock = clock

    def create(self, actor: Actor, resource_id: str, description: str) -> IssuedKey:
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_KEYS)
        if resource.status == ResourceStatus.DEPROVISIONED:
            raise Conflict("A deprovisioned resource takes no new keys.")
        issued = self._keys.create(resource.id, description)
        self._activity.record(resource.id, actor.email, "key.created", key_id=issued.key.id)
        if issued.paired is not None:
            paired = issued.paired.key
            self._activity.record(
                paired.resource_id,
                actor.email,
                "key.created",
                key_id=paired.id,
                paired_with_key_id=issued.key.id,
            )
        return issued

    def list(self, actor: Actor, resource_id: str) -> list[ApiKey]:
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_KEYS)
        return self._keys.list(resource.id)

    def revoke(self, actor: Actor, resource_id: str, key_id: str) -> ApiKey:
        """Revoke the key; a KB key takes the embeddings key created with it along."""
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_KEYS)
        key = self._keys.revoke(key_id, resource.id, self._clock.now())
        self._activity.record(resource.id, actor.email, "key.revoked", key_id=key.id)
        for paired in self._keys.paired_with(key.id):
            if paired.revoked_at is None:
                self._keys.revoke(paired.id, paired.resource_id, self._clock.now())
                self._activity.record(paired.resource_id, actor.email, "key.revoked", key_id=paired.id)
        return key
