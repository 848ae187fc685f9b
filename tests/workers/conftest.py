"""Real Celery workers for end-to-end tests, in two modes with the same assertions:

- embedded: SQLite state, SQLite broker, embedded vector store;
- distributed: PostgreSQL state, Redis broker, OpenSearch store (the loopback fake).

The API runs in the test process (TestClient) and sends real messages; workers are real
`kb-service worker` processes started with the same settings through the environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb_service.api import create_app
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.migrations import upgrade
from tests.conftest import REDIS_URL

TERMINAL = {"indexed", "failed"}


@dataclass
class Mode:
    name: str
    env: dict[str, str]
    data_dir: Path
    logs: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def settings(self) -> Settings:
        values: dict[str, Any] = {}
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            return Settings(**values)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def start_worker(self, *, beat: bool = True) -> subprocess.Popen[bytes]:
        index = len(self.workers)
        command = [sys.executable, "-m", "kb_service.cli", "worker"] + (["--beat"] if beat else [])
        with (self.logs / f"worker-{index}.log").open("ab") as log:
            process = subprocess.Popen(
                command,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(process)
        _wait_for_line(self.logs / f"worker-{index}.log", "ready.", process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def worker_log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-4000:] for p in sorted(self.logs.glob("worker-*.log"))
        )


def _wait_for_line(path: Path, needle: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and needle in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(
                f"worker exited with {process.returncode}:\n{path.read_text(errors='replace')}"
            )
        time.sleep(0.2)
    raise TimeoutError(f"worker not ready after {timeout}s:\n{path.read_text(errors='replace')}")


def _base_env(data_dir: Path) -> dict[str, str]:
    return {
        "KB_DATA_DIR": str(data_dir),
        "KB_QUEUE_PREFIX": f"t{uuid.uuid4().hex[:10]}",
        "KB_LOG_JSON": "false",
        # Short leases and sweeps so a killed worker's document is picked up within seconds.
        "KB_WORKER__LEASE_S": "4",
        "KB_WORKER__SWEEP_INTERVAL_S": "2",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


@pytest.fixture(params=["embedded", "distributed"])
def mode(
    request: pytest.FixtureRequest, tmp_path: Path, opensearch_url_factory: Callable[[], str]
) -> Iterator[Mode]:
    data_dir = tmp_path / "data"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = _base_env(data_dir)
    if request.param == "distributed":
        db_url = request.getfixturevalue("db_url_postgres")
        env |= {
            "KB_DATABASE_URL": db_url,
            "KB_BROKER_URL": REDIS_URL,
            "KB_VECTOR_STORE__KIND": "opensearch",
            "KB_VECTOR_STORE__HOSTS": f'["{opensearch_url_factory()}"]',
        }
    selected = Mode(request.param, env, data_dir, logs)
    yield selected
    selected.stop_all()


@pytest.fixture
def db_url_postgres(tmp_path: Path) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    from tests.conftest import POSTGRES_URL

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def live(mode: Mode, embedders: Any) -> Iterator[tuple[Container, TestClient]]:
    """The API of this mode, sending real messages to the mode's broker."""
    container = Container.build(mode.settings(), embedders=embedders)
    upgrade(container.engine)
    with TestClient(create_app(container=container)) as client:
        yield container, client
    container.close()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, mode: Mode) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}\n--- worker logs ---\n{mode.worker_log()}"
    )


@pytest.fixture
def opensearch_url_factory() -> Iterator[Callable[[], str]]:
    """Starts the loopback fake OpenSearch on demand (only the distributed mode needs one)."""
    from tests.fakes.opensearch import FakeOpenSearch

    servers: list[FakeOpenSearch] = []

    def start() -> str:
        server = FakeOpenSearch()
        server.__enter__()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.__exit__(None, None, None)
