"""The model gateway's overhead: chat calls through the gateway vs the same calls straight to the provider.

Run from the repository root:
    python -m benchmarks.bench_gateway                      # 300 calls at c=1, 800 at c=16
    python -m benchmarks.bench_gateway --calls 100 --concurrent-calls 300   # short

Three processes, so that neither server shares a GIL with the client: a loopback fake of the Anthropic
Messages API (HTTP/1.1 keep-alive, a fixed answer and usage), the gateway (uvicorn on the app
factory, SQLite state in a temp folder, `KB_TEXT__PROVIDER=anthropic` with `KB_TEXT__BASE_URL` at the
fake) and this client. The same JSON request goes to the fake's `/v1/messages` (direct) and to the
gateway's `/v1/chat/completions` with a text resource's key (which authenticates the key, checks the
resource's capacity, calls the fake through the anthropic SDK and meters the usage in SQLite).

Figures: latency per call at concurrency 1 (p50, p99) for both paths and the difference (the
gateway's added latency), the server process's CPU per call at concurrency 1 (after 20 warm-up calls;
a figure a loaded machine moves far less than latency), and throughput at concurrency 16 for both and
their ratio. Targets: p50
added ≤ 3 ms and ≥ 0.9x direct throughput at c=16. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ANSWER = json.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": [{"type": "text", "text": "A fixed answer from the fake provider."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 42, "output_tokens": 9},
    }
).encode()
MESSAGES = [{"role": "user", "content": "Say something short."}]
HAIKU = "anthropic.claude-haiku-4-5"


def serve_fake(port: int, latency_s: float = 0.0) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers and body wait out a delayed ACK (~40 ms)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            if latency_s:
                time.sleep(latency_s)  # the model's generation time: the caller waits, no CPU spent
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(ANSWER)))
            self.end_headers()
            self.wfile.write(ANSWER)

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _provision(env: dict[str, str]) -> str:
    """A company, an admin and a text resource with a large allocation; its API key."""
    os.environ.update(env)
    from kb_service.auth.principals import actor_of
    from kb_service.clock import SystemClock
    from kb_service.config import Settings
    from kb_service.container import Container
    from kb_service.migrations import upgrade
    from kb_service.queue.outbox import RecordingDispatcher
    from kb_service.services import unit_of_work
    from schemas.resources import ProvisionRequest

    container = Container.build(Settings(), dispatcher=RecordingDispatcher())
    upgrade(container.engine)
    try:
        with unit_of_work(container, SystemClock()) as services:
            company = services.companies.create("Bench", cloud_tokens=10_000)
            admin = services.users.create(company.id, "admin@bench.example", name="admin", is_admin=True)
            request = ProvisionRequest.model_validate(
                {
                    "type": "text_generation",
                    "display_name": "Bench",
                    "environment": "Test",
                    "region": "eu-central-1",
                    "models": [HAIKU],
                    "plan": None,
                    "cloud_tokens": 5_000,
                    "created_for": {"name": "Bench", "email": "admin@bench.example"},
                }
            )
            resource = services.resources.provision(actor_of(admin), request).resource
            return services.keys.create(resource.id, "bench").secret
    finally:
        container.close()


def _timed_calls(call: Callable[[httpx.Client], None], n: int, concurrency: int) -> tuple[list[float], float]:
    """(latencies in seconds, wall time) of n calls spread over `concurrency` threads."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]
    warm = threading.Barrier(concurrency + 1)

    def worker(count: int) -> None:
        with httpx.Client(timeout=30.0) as client:
            call(client)  # connect and warm up, not timed
            warm.wait()
            mine = []
            for _ in range(count):
                started = time.perf_counter()
                call(client)
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,)) for c in per_thread]
    for t in threads:
        t.start()
    warm.wait()  # every thread connected: the clock starts with all of them calling
    started = time.perf_counter()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc): a figure the machine's load
    barely moves, unlike wall-clock latency on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300, help="timed calls per path at concurrency 1")
    parser.add_argument("--concurrent-calls", type=int, default=800, help="calls per path at concurrency 16")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--provider-latency-ms",
        type=float,
        default=0.0,
        help="how long the fake provider takes to answer (0: at once, the CPU-bound worst case)",
    )
    parser.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.serve_fake, args.provider_latency_ms / 1000)
        return

    data_dir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    fake_port, gateway_port = _free_port(), _free_port()
    fake_url, gateway_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{gateway_port}"
    env = {
        "KB_DATA_DIR": str(data_dir),
        "KB_LOG_LEVEL": "WARNING",
        "KB_TEXT__PROVIDER": "anthropic",
        "KB_TEXT__API_KEY": "sk-bench",
        "KB_TEXT__BASE_URL": fake_url,
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        key = _provision(env)
        processes.append(
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "benchmarks.bench_gateway", "--serve-fake", str(fake_port)),
                    *("--provider-latency-ms", str(args.provider_latency_ms)),
                ]
            )
        )
        gateway_cmd = [sys.executable, "-m", "uvicorn", "kb_service.api:create_app", "--factory"]
        gateway_cmd += ["--port", str(gateway_port), "--log-level", "warning", "--no-access-log"]
        processes.append(subprocess.Popen(gateway_cmd, env={**os.environ, **env}))
        _wait(f"{fake_url}/")
        _wait(f"{gateway_url}/healthz")

        body: dict[str, Any] = {"model": HAIKU, "max_tokens": 64, "messages": MESSAGES}
        headers = {"Authorization": f"Bearer {key}"}

        def direct(client: httpx.Client) -> None:
            response = client.post(f"{fake_url}/v1/messages", json=body, headers={"x-api-key": "sk-bench"})
            assert response.status_code == 200

        def gateway(client: httpx.Client) -> None:
            response = client.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers)
            assert response.status_code == 200, response.text

        results: dict[str, Any] = {}
        server_pid = {"direct": processes[0].pid, "gateway": processes[1].pid}
        for name, call in (("direct", direct), ("gateway", gateway)):
            _timed_calls(call, 20, 1)  # the first call imports and builds the provider SDK client
            cpu_before = cpu_seconds(server_pid[name])
            latencies, _ = _timed_calls(call, args.calls, 1)
            # The server's own CPU per call at c=1 (the gateway's includes its SDK client).
            cpu_ms = (cpu_seconds(server_pid[name]) - cpu_before) / (args.calls + 1) * 1000
            concurrent, wall = _timed_calls(call, args.concurrent_calls, args.concurrency)
            results[name] = {
                "p50_ms": round(_pct(latencies, 0.5), 3),
                "p99_ms": round(_pct(latencies, 0.99), 3),
                "mean_ms": round(statistics.fmean(latencies) * 1000, 3),
                f"rps_c{args.concurrency}": round(args.concurrent_calls / wall, 1),
                f"p50_ms_c{args.concurrency}": round(_pct(concurrent, 0.5), 3),
                "server_cpu_ms_per_call": round(cpu_ms, 3),
            }
        rps = f"rps_c{args.concurrency}"
        added_p50 = results["gateway"]["p50_ms"] - results["direct"]["p50_ms"]
        added_p99 = results["gateway"]["p99_ms"] - results["direct"]["p99_ms"]
        ratio = results["gateway"][rps] / results["direct"][rps]
        print(f"{'path':8} {'p50 ms':>8} {'p99 ms':>8} {rps:>10} {'server CPU ms/call':>19}")
        for name, r in results.items():
            cpu = r["server_cpu_ms_per_call"]
            print(f"{name:8} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r[rps]:10.1f} {cpu:19.2f}")
        print(f"added p50 {added_p50:.2f} ms (target <= 3), p99 {added_p99:.2f} ms")
        print(f"throughput ratio at c={args.concurrency}: {ratio:.2f} (target >= 0.9)")
        summary = {
            "benchmark": "gateway",
            "calls_c1": args.calls,
            "calls_concurrent": args.concurrent_calls,
            "concurrency": args.concurrency,
            "provider_latency_ms": args.provider_latency_ms,
            "direct": results["direct"],
            "gateway": results["gateway"],
            "added_p50_ms": round(added_p50, 3),
            "added_p99_ms": round(added_p99, 3),
            "throughput_ratio": round(ratio, 3),
            "meets_p50_target": added_p50 <= 3.0,
            "meets_throughput_target": ratio >= 0.9,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
        }
        print(json.dumps(summary))
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
