"""MMR and the per-source cap on constructed vectors: near-duplicates of one document don't fill
every slot, ties are broken by rank, and diversity 0 keeps the ranking."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kb_service.retrieval.diversity import cap_per_source, mmr_order


def unit(*components: float) -> npt.NDArray[np.float32]:
    vector = np.asarray(components, dtype=np.float32)
    return vector / np.linalg.norm(vector)


# Three near-duplicate chunks of one document (all close to e0), then two other documents.
DUPLICATES = [unit(1, 0.02, 0), unit(1, 0.03, 0.01), unit(1, 0.01, 0.02)]
OTHERS = [unit(0.2, 1, 0), unit(0.2, 0, 1)]
VECTORS = np.vstack([*DUPLICATES, *OTHERS])
RELEVANCE = [0.90, 0.89, 0.88, 0.70, 0.65]


def test_near_duplicates_do_not_fill_every_slot() -> None:
    order = mmr_order(RELEVANCE, VECTORS, lambda_=0.5)
    assert order[:2] == [0, 3]  # the most relevant, then another document before any duplicate
    assert sorted(order) == list(range(5))
    # More diversity: both other documents come before the duplicates.
    assert mmr_order(RELEVANCE, VECTORS, lambda_=0.3)[:3] == [0, 3, 4]


def test_lambda_one_keeps_the_ranking() -> None:
    assert mmr_order(RELEVANCE, VECTORS, lambda_=1.0) == [0, 1, 2, 3, 4]


def test_a_small_diversity_only_reorders_near_ties() -> None:
    order = mmr_order([1.0, 0.99, 0.2], np.vstack([unit(1, 0), unit(1, 0.01), unit(0, 1)]), lambda_=0.9)
    # 0.9·0.99 − 0.1·1.0 = 0.79 still beats 0.9·0 − 0.1·0 = 0 for the low-relevance outlier.
    assert order == [0, 1, 2]


def test_ties_go_to_the_better_ranked_candidate() -> None:
    same = np.vstack([unit(1, 0), unit(1, 0), unit(1, 0)])
    assert mmr_order([0.5, 0.5, 0.5], same, lambda_=0.3) == [0, 1, 2]


def test_unknown_vectors_are_redundant_with_nothing() -> None:
    vectors = np.vstack([unit(1, 0), np.zeros(2, dtype=np.float32), unit(1, 0.01)])
    assert mmr_order([1.0, 0.5, 0.9], vectors, lambda_=0.5) == [0, 1, 2]


def test_empty_and_single() -> None:
    assert mmr_order([], np.zeros((0, 3), dtype=np.float32), 0.5) == []
    assert mmr_order([0.3], VECTORS[:1], 0.5) == [0]


def test_cap_keeps_order_and_at_most_n_per_source() -> None:
    items = [("a", 1), ("a", 2), ("b", 3), ("a", 4), ("b", 5), ("c", 6)]
    assert cap_per_source(items, 1, lambda item: item[0]) == [("a", 1), ("b", 3), ("c", 6)]
    assert cap_per_source(items, 2, lambda item: item[0]) == [
        ("a", 1),
        ("a", 2),
        ("b", 3),
        ("b", 5),
        ("c", 6),
    ]
