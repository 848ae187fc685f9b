"""The search request path: searches through HTTP vs the query embedding alone and the store alone.

Run from the repository root:
    python -m benchmarks.bench_api                          # 20k chunks, 300 searches per level
    python -m benchmarks.bench_api --chunks 5000 --searches 100   # short

One KB of `--chunks` chunks of the bundled embedder's dimension is written straight into the
embedded store (unit vectors, no embedding: building it takes seconds), with a key, an embeddings
resource and its allocation as the control plane makes them (SQLite state in a temp folder). Then,
in this one run:
- the embedder alone: `embed([query], "search_query")` of the bundled model in this process, one at
  a time (p50) and from `max(--concurrency)` threads (queries/s) — before and after the HTTP runs,
  so a change in the machine's load shows;
- the store alone: `store.search(kb, vector, k=10)` with the same queries' vectors (p50);
- `POST /v1/knowledge-bases/{kb}/search` through the API (uvicorn on the app factory in its own
  process, so it shares no GIL with this client) at concurrency 1, 4 and 16: req/s, p50, p99.

Per-request overhead = API p50 at concurrency 1 − (embedder p50 + store p50): what the request path
itself costs (key check, capacity check, metering write and commit, validation, serialisation, the
thread-pool hops). Targets: overhead ≤ 3 ms; API req/s at 16 ≥ 0.8× what the embedder alone
sustains on the same cores. Also printed: the ceiling of that ratio with no HTTP and no database —
cores / (cores + store p50 × embedder q/s), since the embedder alone already fills every core and
each search adds its scan. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from benchmarks.bench_gateway import _free_port, _pct, _wait, cpu_seconds
from benchmarks.corpus import make_chunks

MODEL = "all-minilm-l6-v2"
LEVELS = (1, 4, 16)


def provision(chunks: int, seed: int) -> tuple[str, str]:
    """(KB id, its key's secret): a company, an admin, an embeddings resource and a KB as the control
    plane makes them, and `chunks` chunks written straight into the store."""
    from kb_service.auth.principals import actor_of
    from kb_service.clock import SystemClock
    from kb_service.config import Settings
    from kb_service.container import Container
    from kb_service.migrations import upgrade
    from kb_service.queue.outbox import RecordingDispatcher
    from kb_service.services import unit_of_work
    from kb_service.vectorstores.base import Chunk, ChunkWrite
    from schemas.resources import ProvisionRequest

    container = Container.build(Settings(), dispatcher=RecordingDispatcher())
    upgrade(container.engine)
    try:
        with unit_of_work(container, SystemClock()) as services:
            company = services.companies.create("Bench", cloud_tokens=10_000)
            admin = services.users.create(company.id, "admin@bench.example", name="admin", is_admin=True)
            common = {"environment": "Test", "region": "eu-central-1"}
            owner = {"name": "Bench", "email": "admin@bench.example"}
            embeddings = services.resources.provision(
                actor_of(admin),
                ProvisionRequest.model_validate(
                    {
                        "type": "embeddings",
                        "display_name": "Bench embeddings",
                        "models": [MODEL],
                        "plan": None,
                        "cloud_tokens": 5_000,
                        "created_for": owner,
                        **common,
                    }
                ),
            ).resource
            kb = services.resources.provision(
                actor_of(admin),
                ProvisionRequest.model_validate(
                    {
                        "type": "knowledge_base",
                        "display_name": "Bench KB",
                        "plan": "Standard",
                        "embeddings_resource_id": embeddings.id,
                        "created_for": owner,
                        **common,
                    }
                ),
            ).resource
            secret = services.keys.create(kb.id, "bench").secret
            kb_id, dimension = kb.id, embeddings.dimension or 384
        rng = np.random.default_rng(seed)
        texts = make_chunks(200, words=60, seed=seed)
        for start in range(0, chunks, 2_000):
            count = min(2_000, chunks - start)
            vectors = rng.standard_normal((count, dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            container.store.write(
                kb_id,
                [
                    ChunkWrite(
                        Chunk(
                            chunk_id=f"c{start + i:07d}",
                            collection="default",
                            text=texts[(start + i) % len(texts)],
                            source_id=f"s{(start + i) // 50:05d}",
                            position=(start + i) % 50,
                        ),
                        vectors[i],
                    )
                    for i in range(count)
                ],
            )
        return kb_id, secret
    finally:
        container.close()


def embedder_alone(queries: list[str], concurrency: int) -> tuple[float, float, list[Any]]:
    """(p50 ms one at a time, queries/s from `concurrency` threads, the vectors) of the bundled model."""
    from kb_service.config import Settings
    from kb_service.embedders.factory import EmbedderRegistry

    embedder = EmbedderRegistry(Settings()).get(MODEL)
    embedder.embed(queries[:4], "search_query")  # load and warm up
    vectors, latencies = [], []
    for query in queries:
        started = time.perf_counter()
        vectors.append(embedder.embed([query], "search_query").vectors[0])
        latencies.append(time.perf_counter() - started)

    def one(query: str) -> None:
        embedder.embed([query], "search_query")

    wall = _threads(one, queries, concurrency)
    return _pct(latencies, 0.5), len(queries) / wall, vectors


def store_alone(kb_id: str, vectors: list[Any]) -> float:
    """p50 ms of a top-10 search of the store with the queries' vectors (after loading the KB)."""
    from kb_service.config import Settings
    from kb_service.vectorstores.factory import build_vector_store

    store = build_vector_store(Settings())
    try:
        store.search(kb_id, vectors[0], k=10)
        latencies = []
        for vector in vectors:
            started = time.perf_counter()
            store.search(kb_id, vector, k=10)
            latencies.append(time.perf_counter() - started)
        return _pct(latencies, 0.5)
    finally:
        store.close()


def _threads(call: Callable[[str], None], items: list[str], concurrency: int) -> float:
    """Wall seconds to run `call` on every item from `concurrency` threads."""
    lock = threading.Lock()
    pending = list(items)

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                item = pending.pop()
            call(item)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def http_searches(url: str, key: str, queries: list[str], concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()
    headers = {"Authorization": f"Bearer {key}"}

    def search(query: str) -> None:
        client: httpx.Client | None = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=60.0)
            client.post(url, json={"query": "warm up"}, headers=headers)  # connect, not timed
        started = time.perf_counter()
        response = client.post(url, json={"query": query, "max_results": 10}, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        with lock:
            latencies.append(elapsed)

    wall = _threads(search, queries, concurrency)
    return {
        "rps": round(len(queries) / wall, 1),
        "p50_ms": round(_pct(latencies, 0.5), 3),
        "p99_ms": round(_pct(latencies, 0.99), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--searches", type=int, default=300, help="searches per concurrency level")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    env = {"KB_DATA_DIR": str(data_dir), "KB_LOG_LEVEL": "WARNING"}
    os.environ.update(env)
    queries = [q[:120] for q in make_chunks(args.searches, words=12, seed=args.seed + 1)]
    server: subprocess.Popen[bytes] | None = None
    try:
        started = time.perf_counter()
        kb_id, key = provision(args.chunks, args.seed)
        build_s = time.perf_counter() - started
        cpu_before = time.process_time()
        embed_p50, embed_rps_before, vectors = embedder_alone(queries, max(LEVELS))
        # CPU of one query embedding (the serial pass, the threaded pass, the warm-up).
        embed_cpu_ms = (time.process_time() - cpu_before) / (2 * len(queries) + 4) * 1000
        store_p50 = store_alone(kb_id, vectors)

        port = _free_port()
        command = [sys.executable, "-m", "uvicorn", "kb_service.api:create_app", "--factory"]
        command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
        server = subprocess.Popen(command, env={**os.environ, **env})
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/health")
        url = f"{base}/v1/knowledge-bases/{kb_id}/search"
        http_searches(url, key, queries[:20], 1)  # the server loads the model and the KB
        api: dict[str, dict[str, float]] = {}
        for level in LEVELS:
            cpu_before = cpu_seconds(server.pid)
            api[f"c{level}"] = http_searches(url, key, queries, level)
            cpu_ms = (cpu_seconds(server.pid) - cpu_before) / (len(queries) + level) * 1000
            api[f"c{level}"]["server_cpu_ms_per_search"] = round(cpu_ms, 3)
        server.terminate()
        server.wait(10)
        server = None
        _, embed_rps_after, _ = embedder_alone(queries, max(LEVELS))
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        shutil.rmtree(data_dir, ignore_errors=True)

    embed_rps = statistics.fmean([embed_rps_before, embed_rps_after])
    overhead = api["c1"]["p50_ms"] - embed_p50 - store_p50
    top = f"c{max(LEVELS)}"
    ratio = api[top]["rps"] / embed_rps
    # The most the ratio can be on these cores with no HTTP and no database at all: the embedder
    # alone keeps every core busy (cores / embed_rps of core time per query), and each search also
    # scans the store on one core (its serial p50).
    cores = len(os.sched_getaffinity(0))
    ceiling = cores / (cores + store_p50 / 1000 * embed_rps)
    print(f"KB: {args.chunks} chunks written in {build_s:.1f} s; {args.searches} searches per level")
    print(f"embedder alone: p50 {embed_p50:.2f} ms, {embed_rps_before:.1f} / {embed_rps_after:.1f} q/s")
    print(f"store alone:    p50 {store_p50:.2f} ms (top 10)")
    print(f"{'level':6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'server CPU ms/search':>21}")
    for name, f in api.items():
        cpu = f["server_cpu_ms_per_search"]
        print(f"{name:6} {f['rps']:8.1f} {f['p50_ms']:8.2f} {f['p99_ms']:8.2f} {cpu:21.2f}")
    print(f"embedder CPU per query (this process, incl. model load share): {embed_cpu_ms:.2f} ms")
    print(f"overhead per request at c=1: {overhead:.2f} ms (target <= 3)")
    print(f"throughput at {top} / embedder alone: {ratio:.2f} (target >= 0.8)")
    print(f"  ceiling of that ratio from embedding + store scan alone on {cores} cores: {ceiling:.2f}")
    print(
        json.dumps(
            {
                "benchmark": "api",
                "chunks": args.chunks,
                "searches_per_level": args.searches,
                "embedder_p50_ms": round(embed_p50, 3),
                "embedder_rps": round(embed_rps, 1),
                "store_p50_ms": round(store_p50, 3),
                "embedder_cpu_ms_per_query": round(embed_cpu_ms, 3),
                "api": api,
                "overhead_p50_ms": round(overhead, 3),
                "throughput_ratio": round(ratio, 3),
                "throughput_ratio_ceiling": round(ceiling, 3),
                "meets_overhead_target": overhead <= 3.0,
                "meets_throughput_target": ratio >= 0.8,
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
