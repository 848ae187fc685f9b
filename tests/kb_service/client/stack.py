"""A live stack for the client and CLI tests: the app under uvicorn on a free port and a real
`kb-service worker` process, on the embedded default (SQLite state and broker, embedded store) in a
data folder of the test's own; the KB, its key and a company admin made with the real CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from kb_service.cli import main
from kb_service.container import Container
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.migrations import upgrade
from tests.conftest import PDF_DIR
from tests.kb_service.portal.live import LiveServer
from tests.workers.conftest import Mode, _base_env

PDFS = PDF_DIR  # ../shared/pdfs beside the checkout, or KB_TEST_PDF_DIR


@dataclass
class Stack:
    url: str
    data_dir: Path
    kb_id: str
    embeddings_id: str
    key: str
    admin_token: str
    company_id: str
    mode: Mode
    container: Container


def cli_json(*argv: str) -> object:
    """Run a command in-process and read its JSON answer (the last JSON document on stdout)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    assert code == 0, out.getvalue()
    return json.loads(out.getvalue())


@dataclass
class Service:
    url: str
    mode: Mode
    container: Container


@contextmanager
def running_service(data_dir: Path, logs: Path, embedders: EmbedderRegistry) -> Iterator[Service]:
    """What `kb-service serve` runs, on `data_dir`: the API (here in a thread) and a real worker."""
    logs.mkdir(parents=True, exist_ok=True)
    mode = Mode("embedded", _base_env(data_dir), data_dir, logs)
    container = Container.build(mode.settings(), embedders=embedders)
    upgrade(container.engine)
    try:
        mode.start_worker(beat=False)
        with LiveServer(container) as server:
            yield Service(server.url, mode, container)
    finally:
        mode.stop_all()
        container.close()


@contextmanager
def cli_environment(root: Path, data_dir: Path) -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        # `--data-dir` sets KB_DATA_DIR for the process (as it must, for a worker it starts); undone after.
        patch.setenv("KB_DATA_DIR", str(data_dir))
        for name in ("KB_URL", "KB_API_KEY", "KB_KB_ID"):
            patch.delenv(name, raising=False)
        patch.setenv("KB_CLI_CONFIG", str(root / "config.toml"))
        yield patch


@contextmanager
def live_stack(root: Path, embedders: EmbedderRegistry) -> Iterator[Stack]:
    data_dir = root / "data"
    with cli_environment(root, data_dir):
        created = cli_json("kb", "create", "--name", "Support", "--data-dir", str(data_dir))
        assert isinstance(created, dict)
        key = cli_json(
            "key", "create", "--resource", created["knowledge_base_id"], "--data-dir", str(data_dir)
        )
        assert isinstance(key, dict)
        admin = cli_json(
            "user", "create", "--email", "ada@local.example", "--company", "Local", "--admin",
            "--data-dir", str(data_dir),
        )  # fmt: skip
        assert isinstance(admin, dict)
        with running_service(data_dir, root / "logs", embedders) as service:
            yield Stack(
                url=service.url,
                data_dir=data_dir,
                kb_id=created["knowledge_base_id"],
                embeddings_id=created["embeddings_resource_id"],
                key=key["secret"],
                admin_token=admin["token"],
                company_id=admin["company_id"],
                mode=service.mode,
                container=service.container,
            )
