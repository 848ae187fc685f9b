"""Running the processes: the API (uvicorn), a Celery worker (with beat in the embedded default),
and `serve`, which runs both and stops both cleanly on Ctrl-C / SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import structlog
import uvicorn

from kb_service.cli._common import operator_container
from kb_service.clock import SystemClock
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.embedders.factory import warm_up
from kb_service.migrations import upgrade
from kb_service.observability import configure_logging
from kb_service.queue.broker import queue_name
from kb_service.services import unit_of_work

log = structlog.get_logger(__name__)

WORKER_STOP_TIMEOUT_S = 30.0


def serve(settings: Settings, *, host: str, port: int, with_worker: bool) -> int:
    # Lazy: `worker` and `beat` import this module too, and replace themselves with Celery at once.
    from kb_service.api import create_app

    configure_logging(settings)
    container = Container.build(settings)
    upgrade(container.engine)
    # The first query would otherwise wait seconds for the model to load.
    threading.Thread(target=_warm_up, args=(container,), daemon=True, name="warm-up").start()
    supervisor = _WorkerSupervisor(settings) if with_worker else None
    if supervisor is not None:
        supervisor.start()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(container=container), host=host, port=port, log_config=None, access_log=False
        )
    )
    # uvicorn captures SIGINT/SIGTERM while it runs and re-raises the signal when it returns; with
    # the default SIGTERM action that would end this process before the worker is stopped.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server.run()
    except KeyboardInterrupt:  # Ctrl-C, re-raised by uvicorn after its graceful shutdown
        pass
    finally:
        if supervisor is not None:
            supervisor.stop()
        container.close()
        log.info("serve.stopped")
    return 0


def _warm_up(container: Container) -> None:
    """Load the bundled model, the text provider's SDK and every KB's vectors in the background, so
    the first calls do not wait for them (`import anthropic` takes ~3 s here; a million chunks take
    tens of seconds to load into the embedded store)."""
    warm_up(container.embedders, container.settings)
    if container.settings.text.provider != "none":
        try:
            container.text_provider  # noqa: B018 - built once per process, on first use
        except Exception:  # best effort; the first text call reports the real error (a 503 or 502)
            log.warning("serve.warm_up.text_provider_failed", exc_info=True)
    with unit_of_work(container, SystemClock()) as services:
        kbs = [
            (kb.id, kb.embeddings_resource.dimension)
            for kb in services.resources.knowledge_bases()
            if kb.embeddings_resource is not None and kb.embeddings_resource.dimension
        ]
    for kb_id, dimension in kbs:
        probe = np.full(dimension, 1.0 / np.sqrt(dimension), dtype=np.float32)
        try:
            container.store.search(kb_id, probe, k=1)
        except Exception:  # warming is best effort; the first real search reports real errors
            log.warning("serve.warm_up.failed", kb_id=kb_id, exc_info=True)


def worker_command(settings: Settings, *, beat: bool, concurrency: int | None) -> list[str]:
    workers = concurrency or settings.worker.concurrency
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "worker",
        "--loglevel",
        settings.log_level,
        "--queues",
        queue_name(settings),
        "--hostname",
        f"kb-worker-{os.getpid()}@%h",
        "--concurrency",
        str(workers),
        # One process per task slot; `solo` keeps a single worker in one process (and one model copy).
        "--pool",
        "solo" if workers == 1 else "prefork",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        command += ["--beat", "--schedule", str(settings.resolved_data_dir / "celerybeat-schedule")]
    return command


def run_worker(settings: Settings, *, beat: bool, concurrency: int | None) -> int:
    settings.ensure_dirs()
    with operator_container(settings):
        pass  # the schema is current before the first task runs
    command = worker_command(settings, beat=beat, concurrency=concurrency)
    os.execv(command[0], command)  # the worker replaces this process: signals reach Celery directly
    return 0  # pragma: no cover


def run_beat(settings: Settings) -> int:
    settings.ensure_dirs()
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "beat",
        "--loglevel",
        settings.log_level,
        "--schedule",
        str(settings.resolved_data_dir / "celerybeat-schedule"),
    ]
    os.execv(command[0], command)
    return 0  # pragma: no cover


class _WorkerSupervisor:
    """Keeps one worker (with its embedded beat) running beside the API; restarts it if it dies.

    The worker runs in a process group of its own, and that group is what is stopped and restarted:
    a SIGKILLed worker leaves its beat (and pool) children behind, still scheduling, so the group is
    killed before a new worker starts — there is only ever one beat — and again when serve stops."""

    def __init__(self, settings: Settings) -> None:
        self._command = worker_command(settings, beat=True, concurrency=None)
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # spawning and stopping do not interleave
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        with self._lock:
            self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        # A new process group, so Ctrl-C in the terminal reaches the worker only through us.
        self._process = subprocess.Popen(self._command, start_new_session=True)
        log.info("serve.worker.started", pid=self._process.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            process = self._process
            if process is not None and process.poll() is not None and not self._stopping.is_set():
                log.warning("serve.worker.exited", code=process.returncode)
                _kill_group(process.pid)  # its orphaned beat and pool processes go with it
                time.sleep(2.0)
                with self._lock:
                    if not self._stopping.is_set():
                        self._spawn()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # Celery's warm shutdown: finish the current task
            try:
                process.wait(WORKER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _kill_group(process.pid)
                process.wait()
        _kill_group(process.pid)  # whatever the worker left behind (a beat it did not stop)
        log.info("serve.worker.stopped", code=process.returncode)


def _kill_group(group: int) -> None:
    """SIGKILL every process left in a worker's process group (its id is the worker's pid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is empty already
        os.killpg(group, signal.SIGKILL)
