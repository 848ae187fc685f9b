"""Ranking metrics at a cutoff k, as trec_eval defines them (pure functions).

A question's answer is reduced to the 1-based rank of each relevant item in the ranked list of
distinct items (None when it was not retrieved) and the item's graded relevance (`grade`; 0 means
judged not relevant). With that:

- nDCG@k (trec_eval `ndcg_cut.k`, Järvelin & Kekäläinen): DCG = Σ grade / log2(rank + 1) over the
  relevant items ranked ≤ k (linear gains), divided by the DCG of the ideal ranking (the grades
  sorted, best first, cut at k).
- recall@k (`recall.k`): relevant items (grade ≥ 1) ranked ≤ k / all relevant items.
- MRR@k (ranx `mrr@k`; trec_eval `recip_rank` on the run cut at k): 1 / the best rank of a relevant
  item when it is ≤ k, else 0.
- hit rate@k (`success.k`): 1 when any relevant item is ranked ≤ k, else 0.

A question without any relevant item (grade ≥ 1) scores 0 everywhere, as in trec_eval; the API
refuses such questions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

METRICS = ("ndcg", "recall", "mrr", "hit_rate")


@dataclass(frozen=True, slots=True)
class Judged:
    """A relevant item of a question: its grade and where the answer ranked it (None: not found)."""

    grade: int
    rank: int | None


@dataclass(frozen=True, slots=True)
class HitKeys:
    """What identifies a search hit for matching against a question's relevant items."""

    chunk_id: str
    document_id: str | None
    human_readable_id: str | None
    mx_object_id: str | None


@dataclass(frozen=True, slots=True)
class Relevant:
    """A relevant item: `field` is "document_id", "human_readable_id" or "mx_object_id"."""

    field: str
    value: str
    grade: int = 1


def _found(judged: Iterable[Judged], k: int) -> list[Judged]:
    return [j for j in judged if j.grade > 0 and j.rank is not None and j.rank <= k]


def ndcg(judged: Sequence[Judged], k: int) -> float:
    dcg = sum(j.grade / math.log2(j.rank + 1) for j in _found(judged, k) if j.rank is not None)
    ideal_grades = sorted((j.grade for j in judged if j.grade > 0), reverse=True)[:k]
    ideal = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(ideal_grades, 1))
    return dcg / ideal if ideal > 0 else 0.0


def recall(judged: Sequence[Judged], k: int) -> float:
    relevant = sum(1 for j in judged if j.grade > 0)
    return len(_found(judged, k)) / relevant if relevant else 0.0


def mrr(judged: Sequence[Judged], k: int) -> float:
    ranks = [j.rank for j in _found(judged, k) if j.rank is not None]
    return 1.0 / min(ranks) if ranks else 0.0


def hit_rate(judged: Sequence[Judged], k: int) -> float:
    return 1.0 if _found(judged, k) else 0.0


def scores(judged: Sequence[Judged], k: int) -> dict[str, float]:
    """Every metric of one question, keyed like the API answers (`"ndcg@10"`)."""
    return {
        f"ndcg@{k}": ndcg(judged, k),
        f"recall@{k}": recall(judged, k),
        f"mrr@{k}": mrr(judged, k),
        f"hit_rate@{k}": hit_rate(judged, k),
    }


def mean_scores(per_question: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The mean of each metric over the questions (the figures of a run)."""
    if not per_question:
        return {}
    return {name: sum(q[name] for q in per_question) / len(per_question) for name in per_question[0]}


def item_of(hit: HitKeys, relevant: Sequence[Relevant]) -> tuple[str, str]:
    """The item a hit stands for: the first relevant item it matches, else its own document, app
    object or chunk. Several chunks of one item count once, at the rank of the best."""
    for item in relevant:
        if getattr(hit, item.field) == item.value:
            return item.field, item.value
    if hit.document_id is not None:
        return "document_id", hit.document_id
    if hit.mx_object_id is not None:
        return "mx_object_id", hit.mx_object_id
    return "chunk_id", hit.chunk_id


def judge(hits: Sequence[HitKeys], relevant: Sequence[Relevant]) -> list[Judged]:
    """The rank of each relevant item in the answer's list of distinct items, best first."""
    ranks: dict[tuple[str, str], int] = {}
    for hit in hits:
        ranks.setdefault(item_of(hit, relevant), len(ranks) + 1)
    return [Judged(item.grade, ranks.get((item.field, item.value))) for item in relevant]


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` in (0, 1]); 0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
