"""API keys: `kb_<key id>_<secret>` (the format and hashing are `kb_service.auth.bearer`'s), each bound
to one resource; a knowledge-base key comes with a paired key for its embeddings resource.

Every entry point — `/v1`, the portal, the CLI, deprovisioning — creates and revokes keys through this
one service, so the pairing rule (revoking a KB key revokes its embeddings key) and the activity log
hold on every path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kb_service.activity.service import ActivityService
from kb_service.auth import bearer
from kb_service.auth.access import Access, Permission
from kb_service.auth.principals import Actor, Principal
from kb_service.clock import Clock
from kb_service.errors import Conflict, NotFound, Unauthorized
from kb_service.keys.cache import KeyCache
from kb_service.keys.models import ApiKey
from kb_service.keys.repository import KeyRepository
from kb_service.resources.models import Resource, ResourceStatus, ResourceType
from kb_service.resources.repository import ResourceRepository

KEY_PREFIX = "kb"
# How the activity log names changes made by an operator on the command line.
OPERATOR = "operator (kb-service CLI)"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str
    paired: IssuedKey | None = None


@dataclass(frozen=True, slots=True)
class KeyWithPair:
    """A key of a resource with what it is paired with: for a KB key its embeddings key, for an
    embeddings key created with a KB key the KB it serves (named only if the viewer may see it)."""

    key: ApiKey
    paired_key_id: str | None = None
    serves_knowledge_base: str | None = None
    kb_visible: bool = False


class KeyService:
    def __init__(
        self,
        keys: KeyRepository,
        resources: ResourceRepository,
        access: Access,
        activity: ActivityService,
        clock: Clock,
        cache: KeyCache | None = None,
    ) -> None:
        self._keys = keys
        self._resources = resources
        self._access = access
        self._activity = activity
        self._clock = clock
        # Verified keys of this process (`keys.cache`); None verifies every request in the database.
        self._cache = cache

    # --- as a user (the portal and /v1): scoped by the permission matrix ------------------------

    def create_for(self, actor: Actor, resource_id: str, description: str) -> IssuedKey:
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_KEYS)
        return self._create(resource, description, actor.email)

    def list_for(self, actor: Actor, resource_id: str) -> list[ApiKey]:
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_KEYS)
        return self._keys.list_for_resource(resource.id)

    def revoke_for(self, actor: Actor, resource_id: str, key_id: str) -> ApiKey:
        """Revoke the key; a KB key takes the embeddings key created with it along."""
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_KEYS)
        return self._revoke(self._key_of(key_id, resource.id), actor.email)

    def with_pairs(self, actor: Actor, resource_id: str) -> list[KeyWithPair]:
        """The resource's keys with their pairing spelled out, in one query per linked resource."""
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_KEYS)
        keys = self._keys.list_for_resource(resource.id)
        if resource.type == ResourceType.KNOWLEDGE_BASE and resource.embeddings_resource_id:
            partner = {
                k.paired_with_key_id: k.id
                for k in self._keys.list_for_resource(resource.embeddings_resource_id)
                if k.paired_with_key_id
            }
            return [KeyWithPair(k, paired_key_id=partner.get(k.id)) for k in keys]
        if resource.type == ResourceType.EMBEDDINGS and any(k.paired_with_key_id for k in keys):
            kb_of_key: dict[str, tuple[str, bool]] = {}
            for kb in self._resources.linked_knowledge_bases(resource.id):
                visible = self._access.role(actor, kb) is not None
                for kb_key in self._keys.list_for_resource(kb.id):
                    kb_of_key[kb_key.id] = (kb.display_name, visible)
            rows = []
            for k in keys:
                name, visible = kb_of_key.get(k.paired_with_key_id or "", (None, False))
                rows.append(
                    KeyWithPair(
                        k,
                        paired_key_id=k.paired_with_key_id,
                        serves_knowledge_base=name if visible else None,
                        kb_visible=visible,
                    )
                )
            return rows
        return [KeyWithPair(k) for k in keys]

    # --- as the operator (CLI) and for apps -------------------------------------------------------

    def create(self, resource_id: str, description: str = "") -> IssuedKey:
        """A key made by the operator; logged like a user's."""
        resource = self._resources.get(resource_id)
        if resource is None:
            raise NotFound(f"Resource {resource_id} not found.")
        return self._create(resource, description, OPERATOR)

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id (the operator); its pair goes with it, as on every other path."""
        return self._revoke(self._key_of(key_id, None), OPERATOR)

    def list(self, resource_id: str) -> list[ApiKey]:
        return self._keys.list_for_resource(resource_id)

    def authenticate(self, presented: str) -> Principal:
        """The key's principal: from the cache when it can answer (`cached_principal`), else
        verified in the database (its last use recorded, at most once a minute) and cached."""
        principal = self.cached_principal(presented)
        if principal is not None:
            return principal
        generation = self._cache.generation if self._cache is not None else 0
        key = bearer.verify(
            KEY_PREFIX, presented, self._keys.get, "API key", self._clock.now(), touch=self._keys.touch
        )
        if self._cache is not None:
            self._cache.store(key.id, key.resource_id, key.secret_hash, key.last_used_at, generation)
        return Principal(key.id, key.resource_id)

    def cached_principal(self, presented: str) -> Principal | None:
        """The principal if a recent verification answers for this key and secret with no write due
        (`last_used_at` is recorded once a minute); None sends the caller to `authenticate`. No I/O:
        the API calls it on the event loop."""
        if self._cache is None:
            return None
        parts = bearer.split(KEY_PREFIX, presented)
        if parts is None:
            raise Unauthorized("Malformed API key.")
        cached = self._cache.fresh(parts[0])
        if cached is None or not bearer.matches(cached.secret_hash, parts[1]):
            return None
        if bearer.touch_due(cached.last_used_at, self._clock.now()):
            return None
        return Principal(cached.key_id, cached.resource_id)

    def revoke_all(self, resource_id: str) -> None:
        """Every key of a resource that is being deprovisioned."""
        keys = self._keys.list_for_resource(resource_id)
        for key in keys:
            key.revoked_at = key.revoked_at or self._clock.now()
        self._forget(key.id for key in keys)

    # --- the rules, once ----------------------------------------------------------------------

    def _create(self, resource: Resource, description: str, actor: str) -> IssuedKey:
        if resource.status == ResourceStatus.DEPROVISIONED:
            raise Conflict("A deprovisioned resource takes no new keys.")
        issued = self._issue(resource.id, description, paired_with=None)
        self._activity.record(resource.id, actor, "key.created", key_id=issued.key.id)
        if resource.type != ResourceType.KNOWLEDGE_BASE or not resource.embeddings_resource_id:
            return issued
        paired = self._issue(
            resource.embeddings_resource_id,
            f"Created with knowledge-base key {issued.key.id}",
            paired_with=issued.key.id,
        )
        self._activity.record(
            paired.key.resource_id,
            actor,
            "key.created",
            key_id=paired.key.id,
            paired_with_key_id=issued.key.id,
        )
        return IssuedKey(issued.key, issued.secret, paired)

    def _issue(self, resource_id: str, description: str, paired_with: str | None) -> IssuedKey:
        new = bearer.issue(KEY_PREFIX)
        key = self._keys.add(
            ApiKey(
                id=new.id,
                resource_id=resource_id,
                description=description,
                secret_hash=new.secret_hash,
                paired_with_key_id=paired_with,
                created_at=self._clock.now(),
            )
        )
        return IssuedKey(key, new.presented)

    def _key_of(self, key_id: str, resource_id: str | None) -> ApiKey:
        key = self._keys.get(key_id)
        if key is None or (resource_id is not None and key.resource_id != resource_id):
            raise NotFound(f"Key {key_id} not found.")
        return key

    def _revoke(self, key: ApiKey, actor: str) -> ApiKey:
        now = self._clock.now()
        if key.revoked_at is None:
            key.revoked_at = now
        self._activity.record(key.resource_id, actor, "key.revoked", key_id=key.id)
        pairs = self._keys.paired_with(key.id)
        for paired in pairs:
            if paired.revoked_at is None:
                paired.revoked_at = now
                self._activity.record(paired.resource_id, actor, "key.revoked", key_id=paired.id)
        self._forget([key.id, *(p.id for p in pairs)])
        return key

    def _forget(self, key_ids: Iterable[str]) -> None:
        """Revoked keys stop answering from this process's cache at once (before the commit: a
        rolled-back revocation only costs the next request a database verification)."""
        if self._cache is not None:
            self._cache.invalidate(key_ids)
