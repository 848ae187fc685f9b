"""Retrieval quality of vector, keyword and hybrid search, measured through the HTTP API.

Chunks are pushed through `POST …/collections/{name}/chunks` (one app object per corpus document;
a long document is split into several chunks of the same object, and counts once, at its best
chunk), indexed by the real pipeline (the task messages are run in-process), then the labelled
questions go through `POST …/evaluations` — the project's own figures — at k = 10 (nDCG@10, MRR@10)
and k = 100 (recall@100). Every figure is cross-checked by asking `POST …/search` the same questions
and scoring those answers with trec_eval itself (pytrec_eval); the largest difference is reported.

Data sets:
- `--beir DIR`: a BEIR-format folder (`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`), e.g.
  SciFact (CC BY-NC 2.0) or NFCorpus from the BEIR benchmark. None is installable here: BEIR,
  ir-datasets and mteb on PyPI download their data at run time, and no package on PyPI or npm that
  was searched ships one. Nothing third-party is committed; point `--beir` at a copy you have.
- default: a small labelled set built from this repository's own docs (README.md, docs/*.md; the
  project's text): every paragraph is a document, and each hand-written question names the
  paragraph that answers it by a phrase the paragraph contains (a phrase no longer in the docs drops
  its question, said on stderr).

    python benchmarks/bench_retrieval.py [--beir DIR] [--modes vector keyword hybrid] [--max-queries N]

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
MAX_CHARS = 2000  # under the API's 2,048-character chunk limit
COLLECTION = "bench"

# (question, a phrase of the paragraph that answers it) over README.md and docs/*.md.
DOC_QUESTIONS = [
    ("how long are the uploaded file bytes kept and where", "Uploaded bytes are kept in the state database"),
    ("what happens to a document when its worker is killed", "Work is claimed with a lease"),
    ("retrying transient errors with exponential backoff", "errors retry with exponential backoff"),
    ("which file formats can be uploaded", "TXT (UTF-8, UTF-16 with BOM"),
    ("uploading a file with the same name again", "of the same file name into the same collection"),
    ("how are api key secrets stored", "SHA-256 of a 256-bit"),
    ("what operators does the search filter support", "`eq`, `ne`, `in`, `not_in`, `exists`"),
    ("how is embedding usage counted and billed", "Every embedding call (ingestion and queries)"),
    ("can a chunk span two pages of a pdf", "Chunks never span a PDF page"),
    ("why reciprocal rank fusion with constant 60", "rrf_k = 60"),
    ("why the full text index lives in sqlite rather than an in-memory bm25 library", "Writes decide it."),
    ("searching japanese or chinese text by keyword", "does not segment scripts written without spaces"),
    ("matching chunks with negative cosine were dropped", "the old default of 0 silently dropped"),
    ("knowledge base files created before the keyword index existed", "written before this change"),
    ("why is keyword search slow on a large knowledge base", "Keyword latency is the weak spot"),
    ("how much each leg counts in hybrid search", "both legs count the same"),
    ("accents and stemming in the keyword tokenizer", "keeps every Unicode letter and number"),
    ("delete the chunks of app objects", "deletes app objects' chunks at once"),
    ("editing metadata without embedding again", "Vectors and text are untouched"),
    ("keyword queries are not parsed as a query language", "never parsed as a query language"),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--beir", type=Path, default=None, help="A BEIR-format folder.")
    parser.add_argument("--modes", nargs="+", default=["vector", "keyword", "hybrid"])
    parser.add_argument("--max-queries", type=int, default=None, help="Evaluate only the first N queries.")
    args = parser.parse_args()

    if args.beir is not None:
        corpus, questions, source = load_beir(args.beir)
    else:
        corpus, questions, source = load_docs()
    if args.max_queries is not None:
        questions = questions[: args.max_queries]
    print(f"data set: {source}: {len(corpus)} documents, {len(questions)} questions", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="kb-bench-retrieval-") as tmp:
        figures = run(corpus, questions, args.modes, Path(tmp))
    report(source, len(corpus), len(questions), figures)


# --- data sets -------------------------------------------------------------------------------


def load_beir(folder: Path) -> tuple[dict[str, str], list[dict[str, Any]], str]:
    corpus = {}
    for row in _jsonl(folder / "corpus.jsonl"):
        title = (row.get("title") or "").strip()
        corpus[str(row["_id"])] = f"{title}. {row['text']}" if title else str(row["text"])
    queries = {str(row["_id"]): str(row["text"]) for row in _jsonl(folder / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / "test.tsv").open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0] == "query-id":
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    questions = [
        {"id": qid, "query": queries[qid], "relevant": judged}
        for qid, judged in sorted(qrels.items())
        if qid in queries and any(grade > 0 for grade in judged.values())
    ]
    return corpus, questions, f"BEIR folder {folder}"


def load_docs() -> tuple[dict[str, str], list[dict[str, Any]], str]:
    corpus: dict[str, str] = {}
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for number, paragraph in enumerate(_paragraphs(path.read_text("utf-8"))):
            corpus[f"{path.relative_to(REPO)}#{number}"] = paragraph
    questions = []
    for number, (query, phrase) in enumerate(DOC_QUESTIONS):
        answering = [doc_id for doc_id, text in corpus.items() if phrase in _flat(text)]
        if not answering:
            print(f"dropped (phrase not in the docs): {query!r}", file=sys.stderr)
            continue
        questions.append({"id": f"q{number}", "query": query, "relevant": {answering[0]: 1}})
    return corpus, questions, "this repository's README.md and docs/*.md (hand-labelled)"


def _paragraphs(markdown: str) -> Iterator[str]:
    """Blank-line separated blocks, with every top-level list item a block of its own; code and
    short blocks (headings) are left out."""
    for block in re.split(r"\n\s*\n", markdown):
        if block.lstrip().startswith("```"):
            continue
        for item in re.split(r"\n(?=- )", block):
            text = item.strip()
            if len(text.split()) >= 12:
                yield text


def _flat(text: str) -> str:
    return " ".join(text.split())


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _pieces(text: str) -> list[str]:
    words, pieces, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > MAX_CHARS:
            pieces.append(current)
            current = ""
        current = f"{current} {word}" if current else word[:MAX_CHARS]
    return [*pieces, current] if current else pieces


# --- the run ---------------------------------------------------------------------------------


def run(
    corpus: dict[str, str], questions: list[dict[str, Any]], modes: list[str], tmp: Path
) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from kb_service.api import create_app
    from kb_service.clock import SystemClock
    from kb_service.config import Settings
    from kb_service.container import Container
    from kb_service.db import session_scope
    from kb_service.migrations import upgrade
    from kb_service.observability import configure_logging
    from kb_service.queue.broker import PROCESS_CHUNK_JOB
    from kb_service.queue.outbox import RecordingDispatcher
    from kb_service.services import Services, ingestion_service

    settings = Settings(data_dir=tmp / "data", log_json=False, log_level="WARNING")
    configure_logging(settings)  # to stderr: stdout carries the figures
    container = Container.build(settings, dispatcher=RecordingDispatcher())
    upgrade(container.engine)
    with session_scope(container.sessions) as session:
        services = Services(session, container, SystemClock())
        kb_id = services.resources.create_knowledge_base(
            "bench", model_id="all-minilm-l6-v2"
        ).knowledge_base.id
        key = services.keys.create(kb_id, "bench").secret
    headers = {"Authorization": f"Bearer {key}"}
    pipeline = ingestion_service(container, SystemClock(), worker_id="bench")
    dispatcher = container.dispatcher
    assert isinstance(dispatcher, RecordingDispatcher)
    figures: dict[str, Any] = {}
    try:
        with TestClient(create_app(container=container)) as client:
            started = time.perf_counter()
            chunks = [
                {"text": piece, "human_readable_id": doc_id, "mx_object_id": doc_id}
                for doc_id, text in corpus.items()
                for piece in _pieces(text)
            ]
            for start in range(0, len(chunks), settings.max_chunks_per_request):
                batch = chunks[start : start + settings.max_chunks_per_request]
                response = client.post(
                    f"/v1/knowledge-bases/{kb_id}/collections/{COLLECTION}/chunks",
                    headers=headers,
                    json={"mode": "insert", "chunks": batch},
                )
                response.raise_for_status()
                while dispatcher.sent:
                    name, task_args = dispatcher.sent.pop(0)
                    if name == PROCESS_CHUNK_JOB:
                        pipeline.process_chunk_job(*task_args)
            figures["index_seconds"] = round(time.perf_counter() - started, 1)
            figures["chunks"] = len(chunks)
            figures["modes"] = {mode: {} for mode in modes}
            for k in (10, 100):
                evaluate(client, kb_id, headers, questions, modes, k, figures)
    finally:
        container.close()
    return figures


def evaluate(
    client: Any,
    kb_id: str,
    headers: dict[str, str],
    questions: list[dict[str, Any]],
    modes: list[str],
    k: int,
    figures: dict[str, Any],
) -> None:
    import pytrec_eval

    body = {
        "name": f"bench k={k}",
        "questions": [
            {
                "query": q["query"],
                "relevant": [{"mx_object_id": d, "grade": g} for d, g in q["relevant"].items()],
            }
            for q in questions
        ],
        "modes": modes,
        "k": k,
        "collections": [COLLECTION],
    }
    started = time.perf_counter()
    response = client.post(f"/v1/knowledge-bases/{kb_id}/evaluations", headers=headers, json=body)
    response.raise_for_status()
    run_body = response.json()
    assert run_body["status"] == "completed", run_body["error"]
    seconds = time.perf_counter() - started

    # The cross-check: the search API's own answers, scored by trec_eval.
    qrels = {q["id"]: q["relevant"] for q in questions}
    wanted = {"ndcg_cut.10", "recip_rank"} if k == 10 else {"recall.100"}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, wanted)
    for mode in modes:
        trec_run = {}
        for question in questions:
            answer = client.post(
                f"/v1/knowledge-bases/{kb_id}/search",
                headers=headers,
                json={
                    "query": question["query"],
                    "mode": mode,
                    "max_results": k,
                    "collections": [COLLECTION],
                },
            )
            answer.raise_for_status()
            ranked = list(dict.fromkeys(hit["mx_object_id"] for hit in answer.json()["results"]))
            # Distinct decreasing scores: trec_eval orders ties by document id.
            trec_run[question["id"]] = {doc_id: 1.0 / (rank + 1) for rank, doc_id in enumerate(ranked)}
        per_query = evaluator.evaluate(trec_run)
        ours = run_body["summary"][mode]
        entry = figures["modes"][mode]
        names = (
            {"ndcg@10": "ndcg_cut_10", "mrr@10": "recip_rank"} if k == 10 else {"recall@100": "recall_100"}
        )
        for name, trec_name in names.items():
            # trec_eval averages over the queries it has answers for; a query without any hit scores 0.
            trec_mean = sum(per_query.get(q["id"], {}).get(trec_name, 0.0) for q in questions) / len(
                questions
            )
            entry[name] = round(ours["metrics"][name], 4)
            entry[f"{name} (trec_eval)"] = round(trec_mean, 4)
            entry.setdefault("max_abs_diff", 0.0)
            entry["max_abs_diff"] = max(entry["max_abs_diff"], abs(ours["metrics"][name] - trec_mean))
        entry[f"latency_ms@{k}"] = ours["latency_ms"]
    figures[f"evaluation_seconds@{k}"] = round(seconds, 1)


def report(source: str, documents: int, questions: int, figures: dict[str, Any]) -> None:
    print(f"{'mode':8} {'nDCG@10':>8} {'MRR@10':>8} {'R@100':>8}   p50/p95 ms (k=10)   |ours - trec_eval|")
    for mode, entry in figures["modes"].items():
        latency = entry["latency_ms@10"]
        print(
            f"{mode:8} {entry['ndcg@10']:8.4f} {entry['mrr@10']:8.4f} {entry['recall@100']:8.4f}"
            f"   {latency['p50']:7.1f} / {latency['p95']:7.1f}     {entry['max_abs_diff']:.2e}"
        )
    result = {"benchmark": "retrieval", "data_set": source, "documents": documents, "questions": questions}
    print(json.dumps({**result, **figures}))


if __name__ == "__main__":
    main()
