"""`kb-service serve` runs the API and a worker together and stops both on SIGTERM / Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(line) for line in result.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers; it is gone for our purposes.
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_api_and_worker_together(tmp_path: Path, stop_signal: signal.Signals) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "KB_LOG_JSON": "false", "KB_QUEUE_PREFIX": f"serve{port}"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kb_service.cli",
                "serve",
                "--data-dir",
                str(tmp_path / "data"),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                    if response.status == 200 and "ready." in log.read_text(errors="replace"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            assert process.poll() is None, log.read_text(errors="replace")
            time.sleep(0.5)
        workers = _children(process.pid)
        assert workers, "serve started no worker"

        process.send_signal(stop_signal)
        assert process.wait(90) == 0, log.read_text(errors="replace")
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers), "the worker outlived serve"
        assert (tmp_path / "data" / "state.sqlite3").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _celery(schedule: Path) -> list[psutil.Process]:
    """The live processes of serve's worker command for this data folder (the worker, its beat)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if str(schedule) in proc.cmdline() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _beats(schedule: Path, serve: int) -> list[psutil.Process]:
    """Beat processes: the worker runs one pool-less (`solo`) process beside its embedded beat, so
    each of them that serve did not start itself is a beat — an orphaned one included."""
    beats = []
    for proc in _celery(schedule):
        try:
            if proc.ppid() != serve:
                beats.append(proc)
        except psutil.NoSuchProcess:
            continue
    return beats


def _wait_for(condition: Callable[[], bool], seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}\n{log.read_text(errors='replace')}"
        time.sleep(0.5)


def test_a_killed_worker_is_restarted_with_exactly_one_beat(tmp_path: Path) -> None:
    """SIGKILL the worker: serve restarts it and its beat together (never a second, orphaned beat),
    and stopping serve leaves no beat behind."""
    port = _free_port()
    log = tmp_path / "serve.log"
    schedule = tmp_path / "data" / "celerybeat-schedule"
    env = {**os.environ, "KB_LOG_JSON": "false", "KB_QUEUE_PREFIX": f"serve{port}"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "kb_service.cli", "serve"),
                *("--data-dir", str(tmp_path / "data"), "--port", str(port)),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_for(lambda: len(_beats(schedule, process.pid)) == 1, 120, "no beat started", log)
        (worker,) = _children(process.pid)
        os.kill(worker, signal.SIGKILL)
        _wait_for(
            lambda: bool(_children(process.pid)) and _children(process.pid) != [worker],
            60,
            "the worker was not restarted",
            log,
        )
        (restarted,) = _children(process.pid)
        _wait_for(
            lambda: restarted in [p.ppid() for p in _beats(schedule, process.pid)],
            90,
            "the restarted worker runs no beat",
            log,
        )
        time.sleep(3)  # an orphaned beat of the killed worker would still be here
        beats = _beats(schedule, process.pid)
        assert len(beats) == 1, [(p.pid, p.ppid()) for p in beats]

        process.send_signal(signal.SIGTERM)
        assert process.wait(90) == 0, log.read_text(errors="replace")
        _wait_for(lambda: not _celery(schedule), 30, "a beat outlived serve", log)
    finally:
        if process.poll() is None:
            process.terminate()  # serve stops its worker
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for leftover in _celery(schedule):
            leftover.kill()
