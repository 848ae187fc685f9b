"""Every portal page with a knowledge base of 1,000 documents: server time per page against 200 ms.

Run from the repository root:
    python -m benchmarks.bench_portal                     # 1,000 documents, 20 timed requests per page
    python -m benchmarks.bench_portal --documents 5000 --repeat 50

Builds a throw-away app on SQLite state in a temp folder (recorded task messages, so no worker): a
company admin with a password, an embeddings resource and a KB whose documents are written straight
through the ORM as indexed (realistic names, sizes, pages and chunk counts; nothing is embedded), a
few hundred activity entries, team members, API keys and a few months of usage events, so the
consumption pages have data. It signs in through the sign-in form, then finds every GET route under
/portal in `app.routes` — other pages are added by other people, so nothing is listed by hand —
fills {resource_id} with the KB and the embeddings resource (a route is timed for each id it
answers without a 404) and skips routes with other path parameters and the static files.

Each page is requested once to warm up, then --repeat times; the time is taken inside the process
around the app's handling of the request (an ASGI wrapper), so the test client's own work is not
counted. Figures: p50 / p95 / max in milliseconds per page with its status code, slowest first.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Route

from kb_service.activity.models import ActivityEntry
from kb_service.api import create_app
from kb_service.auth.principals import actor_of
from kb_service.clock import SystemClock
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.knowledge.models import Collection, Document, WorkStatus
from kb_service.metering.models import UsageEvent
from kb_service.migrations import upgrade
from kb_service.queue.outbox import RecordingDispatcher
from kb_service.services import Services
from schemas.resources import ProvisionRequest

TARGET_MS = 200.0
PASSWORD = "a benchmark passphrase"
ADMIN = "admin@bench.example"
COLLECTIONS = ["manuals", "tickets", "policies", "release-notes", "faq"]
TOPICS = ["printer", "vpn", "laptop", "onboarding", "billing", "password-reset", "backup", "email"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class TimedApp:
    """The app behind an ASGI wrapper that keeps how long each HTTP request took inside it."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self.last_ms = (time.perf_counter() - started) * 1000


@dataclass(frozen=True)
class Seeded:
    kb_id: str
    embeddings_id: str


def seed(container: Container, documents: int, activity: int, months: int, rng: random.Random) -> Seeded:
    clock = SystemClock()
    with session_scope(container.sessions) as session:
        services = Services(session, container, clock)
        company = services.companies.create("Bench Corp", cloud_tokens=10_000)
        users = services.users
        admin = users.create(company.id, ADMIN, name="Ada Admin", is_admin=True)
        users.set_password(admin.id, PASSWORD)
        actor = actor_of(admin)
        members = [users.create(company.id, f"member{i}@bench.example", name=f"Member {i}") for i in range(5)]
        provisioning = services.resources
        common = {
            "environment": "Production",
            "region": "eu-central-1",
            "created_for": {"name": "Ada Admin", "email": ADMIN},
        }
        embeddings = provisioning.provision(
            actor,
            ProvisionRequest.model_validate(
                {
                    "type": "embeddings",
                    "display_name": "Vectors",
                    "models": ["all-minilm-l6-v2"],
                    "cloud_tokens": 6,
                    **common,
                }
            ),
        ).resource
        kb = provisioning.provision(
            actor,
            ProvisionRequest.model_validate(
                {
                    "type": "knowledge_base",
                    "display_name": "Support knowledge",
                    "plan": "Standard",
                    "embeddings_resource_id": embeddings.id,
                    **common,
                }
            ),
        ).resource
        teams = services.teams
        for member in members:
            teams.add_member(actor, kb.id, member.email)
        keys = [services.keys.create(kb.id, f"bench key {i}").key.id for i in range(3)]
        users.issue_token(admin.id, "bench token")
        seeded = Seeded(kb.id, embeddings.id)

        now = datetime.now(UTC)
        collections = [
            Collection(kb_id=kb.id, name=name, is_default=name == "manuals") for name in COLLECTIONS
        ]
        session.add_all(collections)
        session.flush()
        rows = []
        for i in range(documents):
            pages = rng.randint(1, 40)
            chunks = pages * rng.randint(2, 6)
            at = now - timedelta(minutes=documents - i)
            rows.append(
                Document(
                    kb_id=kb.id,
                    collection_id=collections[i % len(collections)].id,
                    filename=f"{rng.choice(TOPICS)}-guide-{i:05d}.pdf",
                    kind="pdf",
                    content_type="application/pdf",
                    size_bytes=pages * rng.randint(20_000, 90_000),
                    sha256=f"{rng.getrandbits(256):064x}",
                    doc_metadata={"Category": rng.choice(["Bug", "How-to", "Policy"]), "Team": "Support"},
                    status=WorkStatus.INDEXED,
                    page_count=pages,
                    chunk_count=chunks,
                    chunks_embedded=chunks,
                    input_tokens=chunks * 380,
                    created_at=at,
                    started_at=at,
                    embedded_at=at,
                    finished_at=at,
                    parsed_at=at,
                )
            )
        session.add_all(rows)
        session.flush()
        actors = [f"user:{admin.id}", ADMIN, *(f"key:{k}" for k in keys)]
        session.add_all(
            ActivityEntry(
                resource_id=kb.id,
                occurred_at=now - timedelta(minutes=3 * (activity - i)),
                actor=rng.choice(actors),
                action="document.uploaded",
                detail={"document_id": rows[i % len(rows)].id, "filename": rows[i % len(rows)].filename}
                if rows
                else {},
            )
            for i in range(activity)
        )
        events = []
        for day_offset in range(months * 30, -1, -1):
            day = date.today() - timedelta(days=day_offset)
            for source in ("ingestion", "query", "gateway"):
                tokens = rng.randint(5_000, 400_000)
                events.append(
                    UsageEvent(
                        resource_id=embeddings.id,
                        occurred_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                        day=day,
                        model_id="all-minilm-l6-v2",
                        input_tokens=tokens,
                        api_calls=rng.randint(10, 900),
                        genai_units=tokens / 10_000,
                        source=source,
                        reference_id=kb.id,
                    )
                )
        session.add_all(events)
    return seeded


def sign_in(client: TestClient) -> None:
    page = client.get("/portal/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None, "the sign-in page has no CSRF token"
    response = client.post(
        "/portal/sign-in",
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    if response.status_code != 303:
        raise SystemExit(f"sign-in failed: {response.status_code}")


def get_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """(path, methods) of every HTTP route, also inside included routers.

    FastAPI 0.165 keeps an included router as one entry (its routes under `original_router`);
    older versions copy the routes into the app. Both are walked here.
    """
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from get_routes(included.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif isinstance(route, APIRoute | Route):
            yield prefix + route.path, set(route.methods or ())


def pages(app: FastAPI, client: TestClient, seeded: Seeded) -> tuple[list[tuple[str, str]], list[str]]:
    """(label, url) of every GET page under /portal that can be filled in, and the skipped paths."""
    found: list[tuple[str, str]] = []
    skipped: list[str] = []
    ids = {"kb": seeded.kb_id, "embeddings": seeded.embeddings_id}
    for path, methods in get_routes(app.routes):
        if "GET" not in methods or not path.startswith("/portal"):
            continue
        params = set(re.findall(r"{(\w+)(?::\w+)?}", path))
        if not params:
            found.append((path, path))
        elif params == {"resource_id"}:
            answered = []
            for kind, resource_id in ids.items():
                url = path.replace("{resource_id}", resource_id)
                if client.get(url, follow_redirects=False).status_code != 404:
                    answered.append((path.replace("{resource_id}", f"{{{kind}}}"), url))
            found.extend(answered or [(path, path.replace("{resource_id}", seeded.kb_id))])
        else:
            skipped.append(path)
    return found, skipped


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(args: argparse.Namespace, root: Path) -> None:
    settings = Settings(
        data_dir=root / "data", database_url=f"sqlite:///{root / 'state.sqlite3'}", log_json=False
    )
    container = Container.build(
        settings, dispatcher=RecordingDispatcher(), embedders=EmbedderRegistry(settings)
    )
    try:
        upgrade(container.engine)
        started = time.perf_counter()
        seeded = seed(container, args.documents, args.activity, args.months, random.Random(args.seed))
        print(
            f"seeded {args.documents:,} documents, {args.activity:,} activity entries, "
            f"{args.months} months of usage in {time.perf_counter() - started:.1f} s"
        )
        app = create_app(container=container)
        timed = TimedApp(app)
        with TestClient(timed) as client:
            sign_in(client)
            found, skipped = pages(app, client, seeded)
            results = []
            for label, url in found:
                status = client.get(url, follow_redirects=False).status_code  # warm-up
                times = []
                for _ in range(args.repeat):
                    client.get(url, follow_redirects=False)
                    times.append(timed.last_ms)
                results.append((label, status, statistics.median(times), percentile(times, 0.95), max(times)))
        results.sort(key=lambda r: r[3], reverse=True)
        width = max(len(r[0]) for r in results)
        print(f"\n{'page':<{width}}  status   p50 ms   p95 ms   max ms")
        for label, status, p50, p95, worst in results:
            flag = "  > target" if p95 > TARGET_MS else ""
            print(f"{label:<{width}}  {status:>6}  {p50:7.1f}  {p95:7.1f}  {worst:7.1f}{flag}")
        if skipped:
            print(f"\nskipped (other path parameters): {', '.join(skipped)}")
        label, status, _, p95, _ = results[0]
        verdict = "within" if p95 <= TARGET_MS else "OVER"
        print(f"\nslowest page: {label} p95 {p95:.1f} ms — {verdict} the {TARGET_MS:.0f} ms target")
    finally:
        container.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--activity", type=int, default=300, help="activity entries of the KB (default 300)")
    parser.add_argument("--months", type=int, default=4, help="months of daily usage events (default 4)")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other processes skew timings)")
    root = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    try:
        measure(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
