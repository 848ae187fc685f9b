"""Filtered top-k search on the embedded vector store against the memory-bandwidth limit, and restart time.

Run from the repository root (one run measures every size; the last line is JSON):
    python -m benchmarks.bench_search                                      # 100k and 1M x 384
    python -m benchmarks.bench_search --sizes 100000 --reuse /var/tmp/bench-search
        (builds each size once into <reuse>/<size>; later runs with the same --reuse skip the build)

Data: clustered synthetic unit vectors (documents of 40 chunks; each document sits near one of 256
cluster centres, each chunk near its document's centre), written in batches of whole documents in
id order, so the chunks of one collection are interleaved with the others as real ingestion leaves
them. Every document belongs to one of 10 collections (10 % each) and about 10 % of documents have
metadata tier = gold. The filters are `collection = collection-3` (10 % pass) and
`collection = collection-3 AND metadata.tier = gold` (1 % pass). Queries sit near a random document.

For each size, in separate processes (so no figure is inflated by another phase's memory):
  1. build: writes the chunks through `EmbeddedVectorStore.write`;
  2. cold: the first search without a snapshot — the index is rebuilt from SQLite rows and the
     snapshot is written (timed separately);
  3. measure: a fresh process opens the store, which maps the snapshot: open-to-first-answer is
     this restart. Then p50/p95 per filter and the plan that ran, recall@10 against a float64
     brute force, and the limit: a numpy scan (matrix-vector product + top-k) over one contiguous
     block holding exactly the matching rows, timed in the same process. RSS over raw vector bytes
     is taken after the searches; with --int8 a second store object with the int8 copy runs too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from kb_service.vectorstores.base import And, Chunk, ChunkWrite, Eq, Filter
from kb_service.vectorstores.embedded import EmbeddedVectorStore

KB_ID = "bench"
MARKER = "bench.json"
DOC_CHUNKS = 40
COLLECTIONS = 10
CLUSTERS = 256
FILTERS: dict[str, Filter] = {
    "10%": Eq("collection", "collection-3"),
    "1%": And((Eq("collection", "collection-3"), Eq("metadata.tier", "gold"))),
}
Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Batch:
    start: int
    vectors: Floats
    # Per chunk: the collection number and whether its document is gold.
    collection: npt.NDArray[np.int64]
    gold: npt.NDArray[np.bool_]


def _centres(args: argparse.Namespace) -> Floats:
    centres = np.random.default_rng([args.seed, 7]).standard_normal((CLUSTERS, args.dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return centres


def batches(args: argparse.Namespace) -> Iterator[Batch]:
    """The data set in batches of whole documents; each batch is seeded on its own, so it can be
    regenerated without the others."""
    centres = _centres(args)
    rows = max(DOC_CHUNKS, args.batch // DOC_CHUNKS * DOC_CHUNKS)
    for number, start in enumerate(range(0, args.chunks, rows)):
        count = min(rows, args.chunks - start)
        rng = np.random.default_rng([args.seed, number])
        docs = np.arange(start, start + count) // DOC_CHUNKS
        first_doc = start // DOC_CHUNKS
        doc_count = int(docs[-1]) - first_doc + 1
        cluster = rng.integers(0, CLUSTERS, doc_count)
        doc_centre = centres[cluster] + 0.5 * rng.standard_normal((doc_count, args.dim), dtype=np.float32) / (
            np.sqrt(args.dim, dtype=np.float32)
        )
        local = docs - first_doc
        vectors = doc_centre[local] + 0.6 * rng.standard_normal((count, args.dim), dtype=np.float32) / (
            np.sqrt(args.dim, dtype=np.float32)
        )
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        gold_doc = rng.random(doc_count) < 0.1
        yield Batch(start=start, vectors=vectors, collection=docs % COLLECTIONS, gold=gold_doc[local])


def chunk_writes(batch: Batch, text: str) -> list[ChunkWrite]:
    writes = []
    for offset, vector in enumerate(batch.vectors):
        i = batch.start + offset
        doc = i // DOC_CHUNKS
        chunk = Chunk(
            chunk_id=f"chunk-{i:08d}",
            collection=f"collection-{batch.collection[offset]}",
            text=text,
            source_id=f"doc-{doc:07d}",
            document_id=f"doc-{doc:07d}",
            page=(i % DOC_CHUNKS) // 4 + 1,
            position=i % DOC_CHUNKS,
            metadata={
                "tier": "gold" if batch.gold[offset] else ("silver" if doc % 2 else "bronze"),
                "region": f"region-{doc % 8}",
                "year": str(2015 + doc % 10),
            },
        )
        writes.append(ChunkWrite(chunk=chunk, vector=vector))
    return writes


def parameters(args: argparse.Namespace) -> dict[str, object]:
    return {key: getattr(args, key) for key in ("chunks", "dim", "batch", "seed", "text_chars")}


def build(args: argparse.Namespace, root: Path) -> None:
    store = EmbeddedVectorStore(root)
    store.drop_index(KB_ID)
    store.create_index(KB_ID, args.dim)
    text = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 40)[: args.text_chars]
    started, written = time.perf_counter(), 0
    for batch in batches(args):
        store.write(KB_ID, chunk_writes(batch, text))
        written += len(batch.vectors)
        if written % 200_000 == 0 or written == args.chunks:
            elapsed = time.perf_counter() - started
            print(f"  written {written:>9,} chunks  {written / elapsed:>8,.0f} chunks/s", flush=True)
    elapsed = time.perf_counter() - started
    store.close()
    (root / MARKER).write_text(json.dumps(parameters(args)))
    size = sum(path.stat().st_size for path in root.glob(f"{KB_ID}.sqlite3*"))
    print(
        f"build: {args.chunks:,} chunks in {elapsed:.1f} s = {args.chunks / elapsed:,.0f} chunks/s",
        flush=True,
    )
    print(
        f"       batches of {args.batch}, {args.text_chars} text chars; files {size / 1e9:.2f} GB", flush=True
    )


def is_built(args: argparse.Namespace, root: Path) -> bool:
    marker = root / MARKER
    return marker.exists() and json.loads(marker.read_text()) == parameters(args)


def rss_mb() -> float:
    fields = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024


def queries_of(args: argparse.Namespace) -> Floats:
    rng = np.random.default_rng([args.seed, 10**6])
    centres = _centres(args)
    picked = centres[rng.integers(0, CLUSTERS, args.queries)]
    queries = picked + 0.7 * rng.standard_normal(picked.shape, dtype=np.float32) / np.sqrt(args.dim)
    unit: Floats = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    return unit


def timed(call: Callable[[int], object], runs: int) -> npt.NDArray[np.float64]:
    wall = []
    for i in range(runs):
        started = time.perf_counter()
        call(i)
        wall.append((time.perf_counter() - started) * 1000)
    return np.array(wall)


def blas_kernel() -> str:
    try:
        from threadpoolctl import threadpool_info

        info = [entry for entry in threadpool_info() if entry.get("user_api") == "blas"]
        return ", ".join(f"{e.get('internal_api')} {e.get('version')} {e.get('architecture')}" for e in info)
    except ImportError:
        return "unknown (threadpoolctl missing)"


def cold(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """First search with no snapshot: rebuild from SQLite and write the snapshot."""
    for stale in root.glob(f"{KB_ID}.snapshot*"):
        stale.unlink()
    query = queries_of(args)[0]
    started = time.perf_counter()
    store = EmbeddedVectorStore(root, memory_budget_bytes=1 << 40, snapshot_min_rows=0)
    store.search(KB_ID, query, k=args.k, where=FILTERS["10%"])
    first = time.perf_counter() - started
    snapshot = root / f"{KB_ID}.snapshot"
    store.close()
    return {"cold_first_answer_s": round(first, 3), "snapshot_bytes": snapshot.stat().st_size}


def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    queries = queries_of(args)
    raw_bytes = args.chunks * args.dim * 4
    rss_start = rss_mb()
    started = time.perf_counter()
    store = EmbeddedVectorStore(root, memory_budget_bytes=1 << 40, snapshot_min_rows=0)
    store.count(KB_ID)  # maps the snapshot and checks its columns (not yet the vectors)
    opened = time.perf_counter() - started
    first = store.search(KB_ID, queries[0], k=args.k, where=FILTERS["10%"])  # + vector CRC + scan
    restart = time.perf_counter() - started
    figures: dict[str, Any] = {
        "restart_first_answer_s": round(restart, 3),
        "restart_open_s": round(opened, 3),
        "first_plan": _plan(first),
    }
    found: dict[str, list[list[str]]] = {}
    for name, where in FILTERS.items():
        results: list[list[str]] = []
        plans: list[dict[str, Any]] = []

        def search(
            i: int, where: Filter = where, results: list[list[str]] = results, plans: list[Any] = plans
        ) -> None:
            hits = store.search(KB_ID, queries[i], k=args.k, where=where)
            results.append([hit.chunk.chunk_id for hit in hits])
            plans.append(_plan(hits))

        wall = timed(search, args.queries)
        found[name] = results
        figures[name] = {
            "matching": store.count(KB_ID, where),
            "p50_ms": round(float(np.percentile(wall, 50)), 3),
            "p95_ms": round(float(np.percentile(wall, 95)), 3),
            "plan": plans[-1],
        }
    store.search(KB_ID, queries[0], k=args.k)  # unfiltered: every vector page is touched once
    figures["rss_over_raw"] = round((rss_mb() - rss_start) * 2**20 / raw_bytes, 3)
    if args.int8:
        q8 = EmbeddedVectorStore(root, memory_budget_bytes=1 << 40, snapshot_min_rows=0, int8=True)
        store.close()
        rss_before = rss_mb()
        q8.search(KB_ID, queries[0], k=args.k, where=FILTERS["10%"])  # writes the int8 copy if missing
        q8.close()
        q8 = EmbeddedVectorStore(root, memory_budget_bytes=1 << 40, snapshot_min_rows=0, int8=True)
        rss_before = rss_mb()
        for name, where in FILTERS.items():
            results8: list[list[str]] = []
            plans8: list[dict[str, Any]] = []

            def search8(
                i: int, where: Filter = where, results: list[list[str]] = results8, plans: list[Any] = plans8
            ) -> None:
                hits = q8.search(KB_ID, queries[i], k=args.k, where=where)
                results.append([hit.chunk.chunk_id for hit in hits])
                plans.append(_plan(hits))

            wall = timed(search8, args.queries)
            found[f"int8 {name}"] = results8
            figures[f"int8 {name}"] = {
                "p50_ms": round(float(np.percentile(wall, 50)), 3),
                "p95_ms": round(float(np.percentile(wall, 95)), 3),
                "plan": plans8[-1],
                "mean_rescored": round(float(np.mean([p.get("rescored") or 0 for p in plans8])), 1),
            }
        q8.search(KB_ID, queries[0], k=args.k)  # unfiltered: every int8 page is touched once
        figures["int8_rss_over_raw"] = round((rss_mb() - rss_before) * 2**20 / raw_bytes, 3)
        q8.close()
    else:
        store.close()
    _limits_and_recall(args, queries, found, figures)
    return figures


def _plan(hits: object) -> dict[str, Any]:
    plan = getattr(hits, "plan", None)
    if plan is None:
        return {}
    return {key: getattr(plan, key) for key in ("kind", "exact", "quantized", "scanned", "rescored")}


def _limits_and_recall(
    args: argparse.Namespace, queries: Floats, found: dict[str, list[list[str]]], figures: dict[str, Any]
) -> None:
    """The numpy limit per filter (a contiguous block of exactly the matching rows) and recall@k of
    every result list against a float64 brute force over the same rows."""
    step = max(16, 256 * 1024 // args.dim)
    for name in FILTERS:
        blocks: list[Floats] = []
        ids: list[int] = []
        for batch in batches(args):
            keep = batch.collection == 3
            if name == "1%":
                keep &= batch.gold
            rows = np.flatnonzero(keep)
            blocks.append(batch.vectors[rows])
            ids.extend(batch.start + rows)
        block = np.ascontiguousarray(np.concatenate(blocks))
        id_array = np.asarray(ids)

        def limit(i: int, block: Floats = block) -> None:
            scores = block @ queries[i]
            np.argpartition(scores, scores.size - args.k)[scores.size - args.k :]

        def stepped(i: int, block: Floats = block) -> None:
            # The same scan in single-threaded-size products: on a busy machine a threaded
            # matrix-vector product can be several times slower, and the limit is the faster one.
            scores = np.empty(block.shape[0], dtype=np.float32)
            for start in range(0, block.shape[0], step):
                scores[start : start + step] = block[start : start + step] @ queries[i]
            np.argpartition(scores, scores.size - args.k)[scores.size - args.k :]

        timed(limit, 5)
        one_call, in_steps = timed(limit, args.queries), timed(stepped, args.queries)
        wall = one_call if np.median(one_call) <= np.median(in_steps) else in_steps
        figures[name]["limit_one_call_p50_ms"] = round(float(np.percentile(one_call, 50)), 3)
        figures[name]["limit_in_steps_p50_ms"] = round(float(np.percentile(in_steps, 50)), 3)
        truth_scores = queries.astype(np.float64) @ block.astype(np.float64).T
        top = np.argpartition(-truth_scores, args.k - 1, axis=1)[:, : args.k]
        truth = [{f"chunk-{id_array[c]:08d}" for c in row} for row in top]
        limit_p50 = float(np.percentile(wall, 50))
        figures[name]["limit_p50_ms"] = round(limit_p50, 3)
        figures[name]["limit_p95_ms"] = round(float(np.percentile(wall, 95)), 3)
        for key in (name, f"int8 {name}"):
            if key in found:
                recall = np.mean([len(truth[i] & set(hits)) / args.k for i, hits in enumerate(found[key])])
                figures[key]["recall_at_k"] = round(float(recall), 4)
                figures[key]["ratio_to_limit"] = round(figures[key]["p50_ms"] / limit_p50, 2)
        del block, truth_scores


def child(args: argparse.Namespace, phase: str, root: Path, size: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.bench_search", f"--phase={phase}", f"--root={root}"]
    command += [f"--chunks={size}", f"--dim={args.dim}", f"--batch={args.batch}", f"--seed={args.seed}"]
    command += [f"--text-chars={args.text_chars}", f"--queries={args.queries}", f"--k={args.k}"]
    command += ["--int8"] if args.int8 else []
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    lines = output.strip().splitlines()
    for line in lines[:-1]:
        print(line, flush=True)
    result: dict[str, Any] = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated chunk counts")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("-k", "--k", type=int, default=10)
    parser.add_argument("--batch", type=int, default=20_000, help="chunks per write (whole documents)")
    parser.add_argument("--text-chars", type=int, default=120, help="text stored per chunk")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--int8", action="store_true", help="also measure the int8 copy with exact rescoring")
    parser.add_argument("--reuse", type=Path, help="data folder kept between runs (built when missing)")
    parser.add_argument("--phase", choices=("build", "cold", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--chunks", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.phase is not None:
        assert args.root is not None
        if args.phase == "build":
            build(args, args.root)
            print("{}")
        else:
            print(json.dumps(cold(args, args.root) if args.phase == "cold" else measure(args, args.root)))
        return

    base = args.reuse or Path(tempfile.mkdtemp(prefix="bench-search-"))
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; BLAS: {blas_kernel()}", flush=True)
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}", flush=True)
    report: dict[str, Any] = {"blas": blas_kernel(), "load_average": round(os.getloadavg()[0], 2)}
    try:
        for size in sizes:
            args.chunks = size
            root = base / str(size)
            root.mkdir(parents=True, exist_ok=True)
            print(f"\n== {size:,} chunks x {args.dim} dims", flush=True)
            if is_built(args, root):
                print(f"reusing the data in {root}", flush=True)
            else:
                child(args, "build", root, size)
            figures = child(args, "cold", root, size)
            figures |= child(args, "measure", root, size)
            _print(size, figures)
            report[str(size)] = figures
    finally:
        if args.reuse is None:
            shutil.rmtree(base, ignore_errors=True)
    report["load_average_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report))


def _print(size: int, figures: dict[str, Any]) -> None:
    print(f"cold first answer (rebuild from SQLite + write snapshot): {figures['cold_first_answer_s']:.2f} s")
    print(
        f"restart: open + first answer from the snapshot: {figures['restart_first_answer_s']:.3f} s"
        f" (of which mapping + column checks {figures['restart_open_s']:.3f} s; the rest is the"
        " vector CRC and the first scan)"
    )
    for name in FILTERS:
        for key in (name, f"int8 {name}"):
            if key not in figures:
                continue
            f = figures[key]
            print(
                f"{key:>9}: p50 {f['p50_ms']:7.3f} ms  p95 {f['p95_ms']:7.3f} ms  limit p50 "
                f"{figures[name]['limit_p50_ms']:6.3f} ms  ratio {f['ratio_to_limit']:5.2f}x  "
                f"recall@10 {f['recall_at_k']:.4f}  plan {f['plan']}"
            )
    print(f"RSS / raw vector bytes: {figures['rss_over_raw']:.3f}", flush=True)
    if "int8_rss_over_raw" in figures:
        print(f"RSS / raw vector bytes with the int8 copy: {figures['int8_rss_over_raw']:.3f}", flush=True)


if __name__ == "__main__":
    main()
