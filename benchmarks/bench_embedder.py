"""Throughput of the bundled local embedder on this machine.

Run from the repository root:  python -m benchmarks.bench_embedder --chunks 256 --words 200

The model is loaded and warmed up first, so the figure is steady-state embedding speed, not
start-up. "tokens/s" counts the tokens the model processed (the metered figure: each chunk's
WordPiece tokens, [CLS]/[SEP] included, capped at the 256-token window).
"""

from __future__ import annotations

import argparse
import os
import time

from benchmarks.corpus import make_chunks
from kb_service.config import LocalEmbedderSettings
from kb_service.embedders.local import LocalEmbedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--chunks", type=int, default=256, help="chunks to embed (default 256)")
    parser.add_argument("--words", type=int, default=200, help="words per chunk (default 200)")
    parser.add_argument("--batch-size", type=int, default=LocalEmbedderSettings().batch_size)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    chunks = make_chunks(args.chunks, words=args.words, seed=args.seed)
    embedder = LocalEmbedder(settings=LocalEmbedderSettings(batch_size=args.batch_size))

    started = time.perf_counter()
    embedder.embed(make_chunks(args.batch_size, words=args.words, seed=args.seed + 1), "search_document")
    print(f"model load + warm-up: {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    result = embedder.embed(chunks, "search_document")
    elapsed = time.perf_counter() - started

    import torch

    print(
        f"{len(chunks)} chunks x {args.words} words, batch {args.batch_size}, "
        f"{torch.get_num_threads()} torch threads on {os.cpu_count()} CPUs"
    )
    print(f"metered input tokens: {result.input_tokens} ({result.input_tokens / len(chunks):.0f} per chunk)")
    print(f"elapsed: {elapsed:.2f} s")
    print(f"chunks/s: {len(chunks) / elapsed:.1f}")
    print(f"tokens/s: {result.input_tokens / elapsed:.0f}")


if __name__ == "__main__":
    main()
