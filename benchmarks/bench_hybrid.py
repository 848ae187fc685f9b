"""Latency of the three search modes (vector, keyword, hybrid) on the embedded store.

Run from the repository root:
    python -m benchmarks.bench_hybrid                      # 100k chunks x 384 dims, 200 queries
    python -m benchmarks.bench_hybrid --chunks 20000 --reuse /var/tmp/bench-hybrid

Chunks are English-like text from `benchmarks.corpus` (120 words each) with random unit vectors;
metadata "tier" is "gold" for about 5 % of them. Each query is a random vector and three words taken
from one chunk. Every mode is timed without a filter and with tier = gold, warm (after one search
has loaded the index). The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import structlog

from benchmarks.corpus import make_chunks
from kb_service.vectorstores.base import Chunk, ChunkWrite, Eq, SearchMode, SearchQuery
from kb_service.vectorstores.embedded import EmbeddedVectorStore

KB_ID = "bench-hybrid"


def build(store: EmbeddedVectorStore, args: argparse.Namespace) -> float:
    store.create_index(KB_ID, args.dim)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    for start in range(0, args.chunks, args.batch):
        count = min(args.batch, args.chunks - start)
        texts = make_chunks(count, words=120, seed=args.seed + start)
        vectors = rng.standard_normal((count, args.dim), dtype=np.float32)
        gold = rng.random(count) < 0.05
        store.write(
            KB_ID,
            [
                ChunkWrite(
                    Chunk(
                        chunk_id=f"chunk-{start + i:08d}",
                        collection="default",
                        text=texts[i],
                        source_id=f"source-{(start + i) // 40:06d}",
                        metadata={"tier": "gold" if gold[i] else "silver"},
                        position=(start + i) % 40,
                    ),
                    vectors[i],
                )
                for i in range(count)
            ],
        )
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse", type=Path, help="build into this folder once; later runs reuse it")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    root = args.reuse or Path(tempfile.mkdtemp(prefix="bench-hybrid-"))
    marker = root / "bench-hybrid.json"
    store = EmbeddedVectorStore(root)
    build_s = None
    if not (marker.exists() and json.loads(marker.read_text()) == vars(args) | {"reuse": str(args.reuse)}):
        store.drop_index(KB_ID)
        build_s = round(build(store, args), 1)
        marker.write_text(json.dumps(vars(args) | {"reuse": str(args.reuse)}))
    rng = np.random.default_rng(args.seed + 1)
    sample = make_chunks(args.queries, words=40, seed=args.seed + 99)
    queries = [
        (rng.standard_normal(args.dim).astype(np.float32), " ".join(text.split()[i % 30 : i % 30 + 3]))
        for i, text in enumerate(sample)
    ]
    started = time.perf_counter()
    store.search_chunks(KB_ID, SearchQuery(k=1, vector=queries[0][0]))  # cold load
    load_s = round(time.perf_counter() - started, 2)
    results: dict[str, object] = {"chunks": args.chunks, "dim": args.dim, "k": args.k, "build_s": build_s,
                                  "cold_load_s": load_s}  # fmt: skip
    modes: tuple[SearchMode, ...] = ("vector", "keyword", "hybrid")
    for label, where in (("all", None), ("gold_5pct", Eq("metadata.tier", "gold"))):
        for mode in modes:
            samples = []
            for vector, text in queries:
                query = SearchQuery(
                    k=args.k,
                    vector=None if mode == "keyword" else vector,
                    text=None if mode == "vector" else text,
                    mode=mode,
                    where=where,
                )
                begun = time.perf_counter()
                hits = store.search_chunks(KB_ID, query)
                samples.append((time.perf_counter() - begun) * 1000)
                assert len(hits) == args.k, (mode, label, len(hits))
            results[f"{mode}_{label}"] = percentiles(samples)
            print(mode, label, results[f"{mode}_{label}"], flush=True)
    store.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
