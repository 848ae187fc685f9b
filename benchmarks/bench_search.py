"""Filtered top-k search on the embedded vector store: write throughput, cold load, latency, recall, memory.

Run from the repository root:
    python -m benchmarks.bench_search                                   # 100k chunks x 384 dims
    python -m benchmarks.bench_search --chunks 1000000 --reuse /var/tmp/bench-1m
        (builds the data once into that folder; later runs with the same --reuse skip the build)

The data is built by a child process, so the figures of the measuring process — which opens the
store cold, as the API does after a restart — are not inflated by the build. Vectors are random unit
vectors; metadata key "tier" is "gold" for about --selectivity of the chunks and the query filter is
tier = gold. Recall@k compares every result list with a brute-force numpy top-k over the same
filtered vectors, regenerated from the seed after the memory figures are taken.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import structlog

from kb_service.vectorstores.base import Chunk, ChunkWrite, Eq
from kb_service.vectorstores.embedded import EmbeddedVectorStore

KB_ID = "bench"
MARKER = "bench.json"
FILTER = Eq("metadata.tier", "gold")


@dataclass(frozen=True)
class Batch:
    start: int
    vectors: npt.NDArray[np.float32]
    gold: npt.NDArray[np.bool_]
    region: npt.NDArray[np.int64]


def batches(args: argparse.Namespace) -> Iterator[Batch]:
    """The data set, batch by batch; each batch is seeded on its own, so it can be regenerated."""
    for number, start in enumerate(range(0, args.chunks, args.batch)):
        count = min(args.batch, args.chunks - start)
        rng = np.random.default_rng([args.seed, number])
        yield Batch(
            start=start,
            vectors=rng.standard_normal((count, args.dim), dtype=np.float32),
            gold=rng.random(count) < args.selectivity,
            region=rng.integers(0, 8, count),
        )


def chunk_writes(batch: Batch, text: str) -> list[ChunkWrite]:
    writes = []
    for offset, vector in enumerate(batch.vectors):
        i = batch.start + offset
        tier = "gold" if batch.gold[offset] else ("silver" if i % 2 else "bronze")
        chunk = Chunk(
            chunk_id=f"chunk-{i:08d}",
            collection=f"collection-{i % 4}",
            text=text,
            source_id=f"source-{i // 40:06d}",
            document_id=f"source-{i // 40:06d}",
            page=(i % 40) // 4 + 1,
            position=i % 40,
            human_readable_id=f"Document {i // 40} part {i % 40}",
            metadata={
                "tier": tier,
                "region": f"region-{batch.region[offset]}",
                "year": str(2015 + i % 10),
                "updated": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
            },
        )
        writes.append(ChunkWrite(chunk=chunk, vector=vector))
    return writes


def parameters(args: argparse.Namespace) -> dict[str, object]:
    return {
        key: getattr(args, key) for key in ("chunks", "dim", "selectivity", "batch", "seed", "text_chars")
    }


def build(args: argparse.Namespace, root: Path) -> None:
    store = EmbeddedVectorStore(root)
    store.drop_index(KB_ID)
    store.create_index(KB_ID, args.dim)
    text = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 40)[: args.text_chars]
    started, written = time.perf_counter(), 0
    for batch in batches(args):
        store.write(KB_ID, chunk_writes(batch, text))
        written += len(batch.vectors)
        if written % (args.batch * 20) == 0 or written == args.chunks:
            elapsed = time.perf_counter() - started
            print(f"  written {written:>9,} chunks  {written / elapsed:>8,.0f} chunks/s", flush=True)
    elapsed = time.perf_counter() - started
    store.close()
    (root / MARKER).write_text(json.dumps(parameters(args)))
    size = sum(path.stat().st_size for path in root.glob(f"{KB_ID}.sqlite3*"))
    print(f"build: {args.chunks:,} chunks in {elapsed:.1f} s = {args.chunks / elapsed:,.0f} chunks/s")
    print(f"       batches of {args.batch}, {args.text_chars} text chars; files {size / 1e9:.2f} GB")


def is_built(args: argparse.Namespace, root: Path) -> bool:
    marker = root / MARKER
    return marker.exists() and json.loads(marker.read_text()) == parameters(args)


def memory_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    status = Path("/proc/self/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    try:
        import psutil

        current = psutil.Process().memory_info().rss / 2**20
    except ImportError:
        current = float("nan")
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(call: Callable[[], object], runs: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Wall-clock and CPU milliseconds per call. On a busy machine wall time includes waiting for a
    core; the calling thread's CPU time is what the call itself costs."""
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.thread_time()
        call()
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return np.array(wall), np.array(cpu)


def describe(name: str, timings: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]) -> str:
    wall, cpu = timings
    p50, p95, p99 = np.percentile(wall, [50, 95, 99])
    return (
        f"{name:<26} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  p99 {p99:7.2f} ms"
        f"  | CPU p50 {np.median(cpu):6.2f} ms  (n={wall.size})"
    )


def brute_force(args: argparse.Namespace, queries: npt.NDArray[np.float32]) -> list[set[str]]:
    """Exact top-k ids per query over the filtered chunks, straight from the regenerated vectors."""
    ids: list[str] = []
    vectors = []
    for batch in batches(args):
        rows = np.flatnonzero(batch.gold)
        ids.extend(f"chunk-{batch.start + row:08d}" for row in rows)
        vectors.append(batch.vectors[rows])
    matrix = np.concatenate(vectors).astype(np.float64)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    scores = (queries.astype(np.float64) / np.linalg.norm(queries, axis=1, keepdims=True)) @ matrix.T
    top = np.argpartition(-scores, args.k - 1, axis=1)[:, : args.k]
    return [{ids[column] for column in row} for row in top]


def measure(args: argparse.Namespace, root: Path) -> None:
    raw_mb = args.chunks * args.dim * 4 / 2**20
    rss_start, _ = memory_mb()
    queries = np.random.default_rng([args.seed, 10**6]).standard_normal(
        (args.queries, args.dim), dtype=np.float32
    )

    started, started_cpu = time.perf_counter(), time.process_time()
    store = EmbeddedVectorStore(root)
    store.search(KB_ID, queries[0], k=args.k, where=FILTER)
    cold, cold_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    matching = store.count(KB_ID, FILTER)
    print(f"cold open + index load + first query: {cold:.2f} s (CPU {cold_cpu:.2f} s)")
    print(f"filter tier = gold matches {matching:,} of {args.chunks:,} chunks")

    results: list[list[str]] = []

    def search(query: npt.NDArray[np.float32]) -> None:
        results.append([hit.chunk.chunk_id for hit in store.search(KB_ID, query, k=args.k, where=FILTER)])

    filtered = iter(queries)
    print(describe(f"filtered top-{args.k} search", timed(lambda: search(next(filtered)), args.queries)))
    plain = iter(queries[: min(50, args.queries)])
    print(
        describe(
            f"unfiltered top-{args.k} search",
            timed(lambda: store.search(KB_ID, next(plain), k=args.k), min(50, args.queries)),
        )
    )
    print(describe("count(filter)", timed(lambda: store.count(KB_ID, FILTER), 20)))
    print(
        describe(
            "list_chunks(filter) page", timed(lambda: store.list_chunks(KB_ID, where=FILTER, offset=500), 10)
        )
    )

    current, peak = memory_mb()
    print(
        f"memory: RSS {current:,.0f} MB now, {peak:,.0f} MB peak; raw vectors {raw_mb:,.0f} MB "
        f"-> {current / raw_mb:.2f}x now, {peak / raw_mb:.2f}x peak (process started at {rss_start:,.0f} MB)"
    )
    store.close()

    truth = brute_force(args, queries)
    print(f"load average now {os.getloadavg()[0]:.1f}")
    recall = np.mean([len(truth[i] & set(found)) / args.k for i, found in enumerate(results)])
    short = sum(len(found) < args.k for found in results)
    print(f"recall@{args.k} vs brute force: {recall:.4f}   (queries returning fewer than k: {short})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--selectivity", type=float, default=0.10, help="share of chunks the filter passes")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("-k", "--k", type=int, default=10)
    parser.add_argument("--batch", type=int, default=2000, help="chunks per write (default 2000)")
    parser.add_argument("--text-chars", type=int, default=1500, help="text stored per chunk (default 1500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", type=Path, help="data folder kept between runs (built when missing)")
    parser.add_argument("--build-only", action="store_true", help="build the data into --reuse and stop")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.build_only and args.reuse is None:
        parser.error("--build-only needs --reuse")

    root = args.reuse or Path(tempfile.mkdtemp(prefix="bench-search-"))
    try:
        if args.build_only:
            build(args, root)
            return
        print(f"{args.chunks:,} chunks x {args.dim} dims, filter passes {args.selectivity:.0%}")
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other processes skew timings)")
        if is_built(args, root):
            print(f"reusing the data in {root}")
        else:
            # A child process builds, so this process's memory figures cover only opening and searching.
            command = [sys.executable, "-m", "benchmarks.bench_search", "--build-only", "--reuse", str(root)]
            command += [f"--{key.replace('_', '-')}={value}" for key, value in parameters(args).items()]
            subprocess.run(command, check=True)
        measure(args, root)
    finally:
        if args.reuse is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
