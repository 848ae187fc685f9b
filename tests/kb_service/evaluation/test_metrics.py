"""The metrics as trec_eval defines them: hand-computed cases, and a cross-check with trec_eval
itself (pytrec_eval) on random graded runs."""

from __future__ import annotations

import math
import random

import pytest

from kb_service.evaluation.metrics import (
    HitKeys,
    Judged,
    Relevant,
    hit_rate,
    judge,
    mean_scores,
    mrr,
    ndcg,
    percentile,
    recall,
    scores,
)


def test_graded_ndcg_uses_linear_gains_and_a_log2_discount() -> None:
    judged = [Judged(2, 3), Judged(1, 1), Judged(1, None)]
    dcg = 1 / math.log2(2) + 2 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg(judged, 10) == pytest.approx(dcg / ideal)
    # The cutoff applies to the answer and to the ideal ranking alike.
    assert ndcg(judged, 2) == pytest.approx((1 / math.log2(2)) / (2 / math.log2(2) + 1 / math.log2(3)))


def test_recall_mrr_and_hit_rate_at_a_cutoff() -> None:
    judged = [Judged(1, 4), Judged(1, 2), Judged(1, None), Judged(0, 1)]
    assert recall(judged, 10) == pytest.approx(2 / 3)
    assert recall(judged, 3) == pytest.approx(1 / 3)
    assert mrr(judged, 10) == 0.5  # the grade-0 item at rank 1 is judged not relevant
    assert mrr(judged, 1) == 0.0
    assert hit_rate(judged, 2) == 1.0
    assert hit_rate(judged, 1) == 0.0


def test_nothing_found_scores_zero_everywhere() -> None:
    assert scores([Judged(1, None)], 10) == {
        "ndcg@10": 0.0,
        "recall@10": 0.0,
        "mrr@10": 0.0,
        "hit_rate@10": 0.0,
    }


def test_chunks_of_one_item_count_once_at_the_best_rank() -> None:
    hits = [
        HitKeys("c1", "doc-a", "a.txt", None),
        HitKeys("c2", "doc-a", "a.txt", None),
        HitKeys("c3", None, "T-1", "obj-1"),
        HitKeys("c4", None, "T-2", "obj-2"),
        HitKeys("c5", "doc-b", "b.txt", None),
    ]
    relevant = [Relevant("human_readable_id", "b.txt", 2), Relevant("mx_object_id", "obj-2"), Relevant(
        "document_id", "doc-z")]  # fmt: skip
    assert [j.rank for j in judge(hits, relevant)] == [4, 3, None]


def test_mean_and_percentile() -> None:
    assert mean_scores([{"a": 1.0}, {"a": 0.0}]) == {"a": 0.5}
    assert mean_scores([]) == {}
    assert percentile([5.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert percentile([5.0, 1.0, 3.0, 2.0], 0.95) == 5.0


def test_metrics_equal_trec_eval_on_random_graded_runs() -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(11)
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    ours: dict[str, dict[str, float]] = {}
    k = 10
    for q in range(200):
        docs = [f"d{i:02d}" for i in range(40)]
        rng.shuffle(docs)
        judged_docs = rng.sample(docs, rng.randint(1, 8))
        grades = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged_docs}
        if not any(grades.values()):
            grades[judged_docs[0]] = 1
        # The answer cut at k (trec_eval's recip_rank has no cutoff of its own); distinct,
        # decreasing scores, since trec_eval breaks ties by document id.
        answer = docs[: rng.randint(1, k)]
        qrels[f"q{q}"] = grades
        run[f"q{q}"] = {d: 1.0 / (i + 1) for i, d in enumerate(answer)}
        ranks = {d: i + 1 for i, d in enumerate(answer)}
        ours[f"q{q}"] = scores([Judged(g, ranks.get(d)) for d, g in grades.items()], k)
    measures = {f"ndcg_cut.{k}", f"recall.{k}", "recip_rank", f"success.{k}"}
    theirs = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    names = {f"ndcg@{k}": f"ndcg_cut_{k}", f"recall@{k}": f"recall_{k}", f"mrr@{k}": "recip_rank",
             f"hit_rate@{k}": f"success_{k}"}  # fmt: skip
    for query, mine in ours.items():
        for name, trec_name in names.items():
            assert mine[name] == pytest.approx(theirs[query][trec_name], abs=1e-9), (query, name)
