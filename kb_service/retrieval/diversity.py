"""Diversity over a ranked candidate list: maximal marginal relevance and a per-source cap.

Pure functions over plain values (no store, no I/O), so they are unit-tested on constructed vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T")


def mmr_order(relevance: Sequence[float], vectors: npt.NDArray[np.float32], lambda_: float) -> list[int]:
    """Indices of the candidates in maximal-marginal-relevance order (Carbonell & Goldstein 1998).

    Each step picks the candidate maximising `lambda_ · rel − (1 − lambda_) · max cos(selected)`.
    `relevance` is min–max normalised to [0, 1] first, so the ranking score (a cosine, a BM25 score
    or an RRF score) is on the same scale as the cosine redundancy in every mode. `vectors` are unit
    rows (a zero row = unknown vector, redundant with nothing). Ties go to the earlier candidate,
    i.e. the better-ranked one, so the order is deterministic; `lambda_ = 1` keeps the input order.
    """
    n = len(relevance)
    if n == 0:
        return []
    rel = np.asarray(relevance, dtype=np.float64)
    spread = float(rel.max() - rel.min())
    rel = (rel - rel.min()) / spread if spread > 0 else np.ones(n)
    unit = np.asarray(vectors, dtype=np.float64).reshape(n, -1)
    similarity = unit @ unit.T
    redundancy = np.full(n, -np.inf)  # max cosine to anything selected; nothing selected yet
    chosen = np.zeros(n, dtype=bool)
    order: list[int] = []
    for _ in range(n):
        penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
        score = np.where(chosen, -np.inf, lambda_ * rel - (1.0 - lambda_) * penalty)
        pick = int(np.argmax(score))  # argmax returns the first maximum: the better-ranked one
        order.append(pick)
        chosen[pick] = True
        redundancy = np.maximum(redundancy, similarity[pick])
    return order


def cap_per_source(items: Sequence[T], cap: int, source: Callable[[T], Hashable]) -> list[T]:
    """`items` in order, keeping at most `cap` of each source (a document, an app object)."""
    seen: dict[Hashable, int] = {}
    kept = []
    for item in items:
        key = source(item)
        if seen.get(key, 0) < cap:
            seen[key] = seen.get(key, 0) + 1
            kept.append(item)
    return kept
