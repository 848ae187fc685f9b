"""The bundled model on each runtime, in one run: torch vs ONNX Runtime fp32 vs ONNX Runtime int8.

Run from the repository root:

    python -m benchmarks.bench_embedder                          # 2,000 chunks, 300 queries
    python -m benchmarks.bench_embedder --chunks 200 --queries 60  # a short version

Every runtime embeds the same chunks (~200 words of English-like prose, the 256-token window
full) in the worker's batch size, and the same short queries one at a time, as the API does. Model
load (and for ONNX the one-time export into --cache-dir) happens before timing. Vectors are
compared with torch's: the figure is the largest cosine deviation, 1 - min cos, over chunks and
queries. The run ends with one JSON line of the figures. Targets (issue 14): ONNX fp32 >= 2x torch
chunks/s at cosine >= 0.999, query p50 <= 10 ms on a quiet machine.

Also printed: this machine's ceiling for the chunks — the model's FLOPs per chunk (from its
config: projections, feed-forward and attention at the chunks' measured token count) against the
rate numpy's BLAS reaches on all cores for a matrix product of the model's feed-forward shape,
measured in the same run — and whether the CPU has the int8 dot-product instructions (VNNI) that
int8 inference needs to beat fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from benchmarks.corpus import make_chunks
from kb_service.config import LocalEmbedderSettings
from kb_service.embedders.base import Embedder
from kb_service.embedders.local import LocalEmbedder, bundled_model_dir
from kb_service.embedders.onnx import OnnxEmbedder, available_cpus

Runtime = Literal["torch", "onnx-fp32", "onnx-int8"]
RUNTIMES: tuple[Runtime, ...] = ("torch", "onnx-fp32", "onnx-int8")


@dataclass(frozen=True)
class Figures:
    runtime: str
    load_s: float
    chunks_per_s: float
    tokens_per_s: float
    query_p50_ms: float
    query_p95_ms: float
    # 1 - min cosine to torch's vectors, over chunks and queries (0 for torch itself).
    max_cosine_deviation: float
    mean_cosine: float
    load_average_1m: float


def make_queries(n: int, seed: int) -> list[str]:
    """`n` short questions of 3 to 12 words, from the same vocabulary as the chunks."""
    rng = random.Random(seed)
    return [make_chunks(1, words=rng.randint(3, 12), seed=seed * 100_003 + i)[0] for i in range(n)]


def build(runtime: Runtime, args: argparse.Namespace, cache_dir: Path) -> Embedder:
    if runtime == "torch":
        return LocalEmbedder(settings=LocalEmbedderSettings(batch_size=args.batch_size, runtime="torch"))
    settings = LocalEmbedderSettings(
        batch_size=args.batch_size,
        quantize="int8" if runtime == "onnx-int8" else "none",
        threads=args.threads,
        profile=args.profile,
    )
    return OnnxEmbedder(settings=settings, cache_dir=cache_dir)


def measure(
    runtime: Runtime,
    embedder: Embedder,
    chunks: list[str],
    queries: list[str],
    args: argparse.Namespace,
) -> tuple[float, float, list[float], npt.NDArray[np.float32]]:
    """Seconds for the chunks, their metered tokens, per-query ms, and all vectors (chunks, queries)."""
    started = time.perf_counter()
    parts, tokens = [], 0
    for start in range(0, len(chunks), args.call_size):
        result = embedder.embed(chunks[start : start + args.call_size], "search_document")
        parts.append(result.vectors)
        tokens += result.input_tokens
    chunk_s = time.perf_counter() - started
    latencies = []
    for query in queries:
        started = time.perf_counter()
        parts.append(embedder.embed([query], "search_query").vectors)
        latencies.append((time.perf_counter() - started) * 1000)
    return chunk_s, tokens, latencies, np.vstack(parts)


def run(
    runtime: Runtime,
    args: argparse.Namespace,
    cache_dir: Path,
    chunks: list[str],
    queries: list[str],
    reference: npt.NDArray[np.float32] | None,
) -> tuple[Figures, npt.NDArray[np.float32]]:
    embedder = build(runtime, args, cache_dir)
    started = time.perf_counter()
    embedder.embed(make_chunks(args.batch_size, words=args.words, seed=args.seed + 1), "search_document")
    load_s = time.perf_counter() - started
    if isinstance(embedder, OnnxEmbedder) and embedder.runtime != runtime:
        raise SystemExit(f"{runtime} is not available (fell back to {embedder.runtime}): see the log")
    chunk_s, tokens, latencies, vectors = measure(runtime, embedder, chunks, queries, args)
    cos = np.sum(vectors * reference, axis=1) if reference is not None else np.ones(len(vectors))
    figures = Figures(
        runtime=runtime,
        load_s=round(load_s, 2),
        chunks_per_s=round(len(chunks) / chunk_s, 2),
        tokens_per_s=round(tokens / chunk_s, 1),
        query_p50_ms=round(float(np.percentile(latencies, 50)), 2),
        query_p95_ms=round(float(np.percentile(latencies, 95)), 2),
        max_cosine_deviation=float(f"{1.0 - float(cos.min()):.6f}"),
        mean_cosine=float(f"{float(cos.mean()):.6f}"),
        load_average_1m=round(os.getloadavg()[0], 2),
    )
    return figures, vectors


@dataclass(frozen=True)
class ModelShape:
    """The bundled model's sizes, from its config."""

    layers: int
    hidden: int
    inner: int  # the feed-forward layer's width

    @classmethod
    def bundled(cls) -> ModelShape:
        config = json.loads((bundled_model_dir() / "config.json").read_text())
        return cls(config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"])


def flops_per_token(shape: ModelShape, sequence: float) -> float:
    """Multiply-adds ×2 per token of one forward pass over `sequence` tokens: per layer the four
    attention projections, the feed-forward pair, and the attention's QKᵀ and AV products."""
    hidden, inner = shape.hidden, shape.inner
    per_layer = 2 * (4 * hidden * hidden + 2 * hidden * inner + 2 * sequence * hidden)
    return float(shape.layers * per_layer)


def gemm_gflops(shape: ModelShape, repeats: int = 7) -> float:
    """Best rate of numpy's BLAS, on all cores, for a (8192, hidden) @ (hidden, inner) product: the
    shape of the model's feed-forward layer over a batch of 32 full windows."""
    hidden, inner = shape.hidden, shape.inner
    rng = np.random.default_rng(0)
    left = rng.standard_normal((8192, hidden), dtype=np.float32)
    right = rng.standard_normal((hidden, inner), dtype=np.float32)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        left @ right
        best = min(best, time.perf_counter() - started)
    return float(2 * left.shape[0] * hidden * inner / best / 1e9)


def int8_dot_instructions() -> list[str]:
    """The CPU's int8 dot-product extensions (empty: int8 runs on the same units as fp32)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return []
    return sorted({f for f in flags if f in ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--chunks", type=int, default=2000, help="chunks to embed (default 2000)")
    parser.add_argument("--queries", type=int, default=300, help="queries, one at a time (default 300)")
    parser.add_argument("--words", type=int, default=200, help="words per chunk (default 200)")
    parser.add_argument("--batch-size", type=int, default=LocalEmbedderSettings().batch_size)
    parser.add_argument("--call-size", type=int, default=96, help="texts per embed() call (the worker's)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX intra-op threads (default: all)")
    parser.add_argument("--profile", choices=("latency", "throughput"), default="latency")
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep the ONNX export here (reuse)")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES), help="comma-separated subset")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    runtimes = [r for r in RUNTIMES if r in args.runtimes.split(",")]
    if runtimes[0] != "torch":
        parser.error("torch must run first: it is the reference for the cosine figures")

    chunks = make_chunks(args.chunks, words=args.words, seed=args.seed)
    queries = make_queries(args.queries, seed=args.seed + 7)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kb-bench-onnx-") as tmp:
        cache_dir = args.cache_dir or Path(tmp)
        results: list[Figures] = []
        reference = None
        for runtime in runtimes:
            figures, vectors = run(runtime, args, cache_dir, chunks, queries, reference)
            reference = vectors if reference is None else reference
            results.append(figures)
            print(
                f"{runtime:10} load {figures.load_s:6.1f} s  {figures.chunks_per_s:7.2f} chunks/s  "
                f"{figures.tokens_per_s:8.0f} tokens/s  query p50 {figures.query_p50_ms:6.2f} ms  "
                f"p95 {figures.query_p95_ms:6.2f} ms  max cos dev {figures.max_cosine_deviation:.6f}  "
                f"mean cos {figures.mean_cosine:.6f}  load {figures.load_average_1m}"
            )
    torch_rate = results[0].chunks_per_s
    shape = ModelShape.bundled()
    gflops = gemm_gflops(shape)
    tokens_per_chunk = results[0].tokens_per_s / torch_rate
    chunk_gflop = flops_per_token(shape, tokens_per_chunk) * tokens_per_chunk / 1e9
    ceiling = gflops / chunk_gflop
    vnni = int8_dot_instructions()
    print(
        f"ceiling: {chunk_gflop:.2f} GFLOP per chunk ({tokens_per_chunk:.0f} tokens); numpy's BLAS "
        f"does {gflops:.1f} GFLOPS at the feed-forward shape on {available_cpus()} cores: "
        f"{ceiling:.2f} chunks/s = {ceiling / torch_rate:.2f}x torch; int8 dot-product "
        f"instructions: {', '.join(vnni) or 'none'}"
    )
    summary = {
        "benchmark": "embedder",
        "chunks": args.chunks,
        "words": args.words,
        "queries": args.queries,
        "batch_size": args.batch_size,
        "cpus": available_cpus(),
        "threads": args.threads,
        "profile": args.profile,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "speedup_vs_torch": {f.runtime: round(f.chunks_per_s / torch_rate, 2) for f in results},
        "gemm_gflops": round(gflops, 1),
        "gflop_per_chunk": round(chunk_gflop, 3),
        "ceiling_chunks_per_s": round(ceiling, 2),
        "ceiling_vs_torch": round(ceiling / torch_rate, 2),
        "int8_dot_instructions": vnni,
        "runtimes": {f.runtime: asdict(f) for f in results},
    }
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
