"""Browser-test support: the app under uvicorn on a free port, Debian's Chromium, screenshot folders.

The fixtures (`browser`, `live_container`, `live_server`, `screenshots`) reach the portal tests
through conftest.py. Playwright never downloads a browser here, it launches /usr/bin/chromium.
Screenshots go to `test-artifacts/screenshots/<test name>/` (or under `$KB_SCREENSHOT_DIR`), created
by the tests and ignored by git.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest
import uvicorn

from kb_service.api import create_app
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.migrations import upgrade
from kb_service.queue.outbox import RecordingDispatcher

REPO = Path(__file__).resolve().parents[3]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LiveServer:
    def __init__(self, container: Container) -> None:
        self.port = _free_port()
        config = uvicorn.Config(
            create_app(container=container),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws="none",
            http="h11",
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="portal-live-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self._thread.start()
        ready = threading.Event()
        # uvicorn sets `started` once it listens; poll on a condition, not a clock.
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the portal server did not start")
            ready.wait(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join()


@pytest.fixture
def live_container(tmp_path: Path, embedders: EmbedderRegistry) -> Iterator[Container]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'state.sqlite3'}",
        log_json=False,
        # A Cohere key, so the control center offers the Cohere models whose region rules the
        # browser tests walk (no browser test embeds with them: nothing reaches Cohere).
        cohere={"api_key": "browser-tests-offer-cohere-models"},
    )
    built = Container.build(settings, dispatcher=RecordingDispatcher(), embedders=embedders)
    upgrade(built.engine)
    yield built
    built.close()


@pytest.fixture
def live_server(live_container: Container) -> Iterator[LiveServer]:
    with LiveServer(live_container) as server:
        yield server


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (.ci/run does it)")
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def seed_company(container: Container) -> str:
    """A company admin with a password, an embeddings resource and a KB; the KB's id."""
    from kb_service.auth.principals import actor_of
    from kb_service.clock import SystemClock
    from kb_service.services import unit_of_work
    from schemas.resources import ProvisionRequest
    from tests.kb_service.portal.conftest import PASSWORD

    clock = SystemClock()
    with unit_of_work(container, clock) as services:
        company = services.companies.create("Acme", cloud_tokens=1000)
        users = services.users
        user = users.create(company.id, "admin@acme.example", name="Ada Admin", is_admin=True)
        users.set_password(user.id, PASSWORD)
        users.create(company.id, "dana@acme.example", name="Dana Dev")  # whom the resources are for
        actor = actor_of(user)
        provisioning = services.resources
        common = {"environment": "Test", "region": "eu-central-1"}
        created_for = {"name": "Dana Dev", "email": "dana@acme.example"}
        embeddings = provisioning.provision(
            actor,
            ProvisionRequest.model_validate(
                {
                    "type": "embeddings",
                    "display_name": "Vectors",
                    "models": ["all-minilm-l6-v2"],
                    "cloud_tokens": 6,
                    "created_for": created_for,
                    **common,
                }
            ),
        )
        kb = provisioning.provision(
            actor,
            ProvisionRequest.model_validate(
                {
                    "type": "knowledge_base",
                    "display_name": "Support tickets",
                    "plan": "Standard",
                    "embeddings_resource_id": embeddings.resource.id,
                    "created_for": created_for,
                    **common,
                }
            ),
        )
        return kb.resource.id


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Path:
    """A fresh folder for this test's screenshots."""
    root = Path(os.environ.get("KB_SCREENSHOT_DIR") or REPO / "test-artifacts" / "screenshots")
    folder: Path = root / str(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder
