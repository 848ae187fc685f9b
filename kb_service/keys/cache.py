"""Verified API keys, remembered for a few seconds so that a request authenticates without a query.

One cache per database per process (`key_cache_for(sessions)`), shared by every `KeyService` of the
process. An entry is what a successful verification read from the database — the key's secret hash,
its resource and its `last_used_at` — and answers for `TTL_S` seconds; a presented secret is still
compared with the stored hash on every request.

Revocation is honoured: revoking through `KeyService` (any entry point: `/v1`, the portal, the CLI,
deprovisioning) drops the entries of the key and its pair in this process at once, and a
verification that was reading the database while a revocation happened is not cached (the
generation check). Another process (the CLI, a second API replica) revokes in its own cache; here
the entry lapses within `TTL_S`, so a revoked key answers in another process for at most that long.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

# How long a verified key answers without the database; also the longest a key revoked by another
# process keeps answering here.
TTL_S = 5.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class CachedKey:
    key_id: str
    resource_id: str
    secret_hash: str
    last_used_at: datetime | None
    verified_at: float


class KeyCache:
    def __init__(
        self,
        ttl_s: float = TTL_S,
        max_entries: int = MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._entries: OrderedDict[str, CachedKey] = OrderedDict()
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """Read before a database verification and hand to `store`: an invalidation in between
        (a revocation racing the read) keeps the result out of the cache."""
        return self._generation

    def fresh(self, key_id: str) -> CachedKey | None:
        with self._lock:
            entry = self._entries.get(key_id)
            if entry is None:
                return None
            if self._monotonic() - entry.verified_at >= self._ttl_s:
                del self._entries[key_id]
                return None
            return entry

    def store(
        self,
        key_id: str,
        resource_id: str,
        secret_hash: str,
        last_used_at: datetime | None,
        generation: int,
    ) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._entries.pop(key_id, None)
            self._entries[key_id] = CachedKey(
                key_id, resource_id, secret_hash, last_used_at, self._monotonic()
            )
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, key_ids: Iterable[str]) -> None:
        with self._lock:
            self._generation += 1
            for key_id in key_ids:
                self._entries.pop(key_id, None)

    def __len__(self) -> int:
        return len(self._entries)


_CACHES: weakref.WeakKeyDictionary[sessionmaker[Session], KeyCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def key_cache_for(sessions: sessionmaker[Session]) -> KeyCache:
    """The cache of the database behind `sessions`, in this process."""
    with _CACHES_LOCK:
        cache = _CACHES.get(sessions)
        if cache is None:
            cache = _CACHES[sessions] = KeyCache()
        return cache
