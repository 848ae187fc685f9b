"""`kb-service serve` runs the API and a worker together and stops both on SIGTERM / Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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
