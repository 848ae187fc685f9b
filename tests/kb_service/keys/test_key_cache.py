"""The key cache on the request path (kb_service.keys.cache): a verified key answers without a query
for a few seconds, a revocation through any entry point stops it at once, and `last_used_at` is
written at most once a minute."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from kb_service.keys.cache import KeyCache, key_cache_for
from kb_service.services import unit_of_work
from tests.factories.controlplane import ControlPlane


@contextmanager
def key_queries(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements that touch `api_keys` while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_keys" in statement:
            seen.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _kb_with_key(cp: ControlPlane) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    admin = cp.admin()
    embeddings = cp.embeddings(admin)
    kb = cp.knowledge_base(admin, embeddings["id"])
    key = cp.client.post(f"/v1/resources/{kb['id']}/keys", headers=admin.headers, json={}).json()
    return kb, key, admin.headers


def test_a_verified_key_answers_from_the_cache_and_a_revocation_stops_it_at_once(
    control_plane: ControlPlane,
) -> None:
    cp = control_plane
    kb, key, admin_headers = _kb_with_key(cp)
    headers = {"Authorization": f"Bearer {key['secret']}"}
    url = f"/v1/knowledge-bases/{kb['id']}/collections"
    paired = key["paired_key"]
    embeddings_headers = {"Authorization": f"Bearer {paired['secret']}"}

    assert cp.client.get(url, headers=headers).status_code == 200  # verified in the database
    assert cp.client.get("/v1/models", headers=embeddings_headers).status_code == 200
    with key_queries(cp.container.engine) as seen:
        assert cp.client.get(url, headers=headers).status_code == 200
        assert cp.client.get("/v1/models", headers=embeddings_headers).status_code == 200
    assert seen == []  # both answered by the cache
    wrong = {"Authorization": f"Bearer kb_{key['key_id']}_not-the-secret"}
    assert cp.client.get(url, headers=wrong).status_code == 401  # the secret is still compared

    revoked = cp.client.delete(f"/v1/resources/{kb['id']}/keys/{key['key_id']}", headers=admin_headers)
    assert revoked.status_code == 200
    cache = key_cache_for(cp.container.sessions)
    assert cache.fresh(key["key_id"]) is None and cache.fresh(paired["key_id"]) is None
    assert cp.client.get(url, headers=headers).status_code == 401
    assert cp.client.get("/v1/models", headers=embeddings_headers).status_code == 401  # its pair too


def test_an_operator_revocation_and_a_deprovisioning_stop_cached_keys_at_once(
    control_plane: ControlPlane,
) -> None:
    cp = control_plane
    admin = cp.admin()
    first, second = cp.embeddings(admin), cp.embeddings(admin)
    keys = [
        cp.client.post(f"/v1/resources/{r['id']}/keys", headers=admin.headers, json={}).json()
        for r in (first, second)
    ]
    calls = [{"Authorization": f"Bearer {k['secret']}"} for k in keys]
    assert [cp.client.get("/v1/models", headers=h).status_code for h in calls] == [200, 200]

    with unit_of_work(cp.container, cp.clock) as services:
        services.keys.revoke(keys[0]["key_id"])  # the CLI's path
        services.keys.revoke_all(second["id"])  # deprovisioning's path
    assert [cp.client.get("/v1/models", headers=h).status_code for h in calls] == [401, 401]


def test_last_used_at_is_written_at_most_once_a_minute(control_plane: ControlPlane) -> None:
    cp = control_plane
    kb, key, admin_headers = _kb_with_key(cp)
    headers = {"Authorization": f"Bearer {key['secret']}"}
    url = f"/v1/knowledge-bases/{kb['id']}/collections"

    def last_used() -> str:
        listed = cp.client.get(f"/v1/resources/{kb['id']}/keys", headers=admin_headers).json()
        value: str = next(k["last_used_at"] for k in listed if k["key_id"] == key["key_id"])
        return value

    with key_queries(cp.container.engine) as seen:
        assert cp.client.get(url, headers=headers).status_code == 200
    assert "UPDATE" in seen  # the first use is recorded
    first = last_used()

    cp.clock.advance(seconds=40)
    key_cache_for(cp.container.sessions).invalidate([key["key_id"]])  # as if the cache entry lapsed
    with key_queries(cp.container.engine) as seen:
        for _ in range(3):
            assert cp.client.get(url, headers=headers).status_code == 200
    assert "UPDATE" not in seen and last_used() == first  # within the minute: no write

    cp.clock.advance(seconds=30)  # a minute on: due again, even for a key the cache still holds
    with key_queries(cp.container.engine) as seen:
        assert cp.client.get(url, headers=headers).status_code == 200
    assert seen.count("UPDATE") == 1 and last_used() > first


def test_an_entry_lapses_after_its_ttl_and_a_racing_revocation_is_not_cached() -> None:
    now = [100.0]
    cache = KeyCache(ttl_s=5.0, monotonic=lambda: now[0])
    cache.store("k1", "r1", "hash", None, cache.generation)
    assert cache.fresh("k1") is not None
    now[0] += 5.0
    assert cache.fresh("k1") is None

    generation = cache.generation  # a verification starts reading the database...
    cache.invalidate(["k1"])  # ...a revocation happens meanwhile...
    cache.store("k1", "r1", "hash", None, generation)  # ...so what it read is not cached
    assert cache.fresh("k1") is None


def test_the_cache_is_bounded() -> None:
    cache = KeyCache(max_entries=2)
    for key_id in ("a", "b", "c"):
        cache.store(key_id, "r", "hash", None, cache.generation)
    assert len(cache) == 2 and cache.fresh("a") is None and cache.fresh("c") is not None
