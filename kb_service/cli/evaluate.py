"""`kb-service eval run QUESTIONS.jsonl --kb ID --url URL --key KEY`: evaluate a knowledge base's
retrieval through the HTTP API (`POST /v1/knowledge-bases/{kb}/evaluations`), so it measures the
deployed service exactly as apps see it. Each line of the file is one question:
`{"query": "...", "relevant": [{"mx_object_id": "..."}, {"document_id": "...", "grade": 2}]}`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from kb_service.cli._common import Commands, emit
from kb_service.config import Settings
from kb_service.errors import InvalidInput
from schemas.evaluation import EvaluationQuestion

WORST = 5


def add_commands(sub: Commands, common: argparse.ArgumentParser) -> None:
    evaluation = sub.add_parser("eval", parents=[common], help="Evaluate retrieval through the HTTP API.")
    actions = evaluation.add_subparsers(required=True, metavar="ACTION")
    run = actions.add_parser("run", parents=[common], help="Run labelled questions; print the figures.")
    run.add_argument("questions", type=Path, help="JSON Lines: one {query, relevant} object per line.")
    run.add_argument("--kb", required=True, help="Knowledge base id.")
    run.add_argument("--url", default="http://127.0.0.1:8000", help="The service's base URL.")
    run.add_argument("--key", required=True, help="An API key of the knowledge base.")
    run.add_argument(
        "--mode",
        dest="modes",
        action="append",
        choices=["vector", "keyword", "hybrid"],
        help="A search mode to evaluate; repeat for several (default: vector).",
    )
    run.add_argument("--k", type=int, default=10, help="The cutoff: results per search (default 10).")
    run.add_argument("--collection", dest="collections", action="append", help="Limit to a collection.")
    run.add_argument("--filter", default=None, help="A JSON search filter applied to every question.")
    run.add_argument("--name", default=None, help="A label to compare runs by.")
    run.add_argument("--timeout", type=float, default=900.0, help="Seconds to wait for the run.")
    # Tests hand in an httpx transport (the app in-process); by default it is the network.
    run.set_defaults(handler=_run, transport=None)


def _run(_settings: Settings, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "questions": read_questions(args.questions),
        "modes": args.modes or ["vector"],
        "k": args.k,
        "collections": args.collections,
        "filter": _json_option(args.filter, "--filter"),
        "name": args.name,
    }
    headers = {"Authorization": f"Bearer {args.key}"}
    with httpx.Client(base_url=args.url, transport=args.transport, timeout=args.timeout) as client:
        response = client.post(f"/v1/knowledge-bases/{args.kb}/evaluations", json=body, headers=headers)
    if response.status_code != 201:
        sys.stderr.write(response.text + "\n")
        return 2
    emit(headline(response.json()))
    return 0


def read_questions(path: Path) -> list[dict[str, Any]]:
    """The questions of a JSON Lines file, each checked, naming the line of the first bad one."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror}.") from None
    questions = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            question = EvaluationQuestion.model_validate_json(line)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "line"
            raise InvalidInput(f"{path}:{number}: {where}: {problem['msg']}.") from None
        questions.append(question.model_dump(exclude_none=True))
    if not questions:
        raise InvalidInput(f"{path} has no questions.")
    return questions


def headline(run: dict[str, Any]) -> dict[str, Any]:
    """The run without its per-question detail, plus each mode's worst questions by nDCG."""
    k = run["k"]
    worst = {
        mode: [
            {"query": q["query"], f"ndcg@{k}": q["modes"][mode]["metrics"][f"ndcg@{k}"]}
            for q in sorted(
                (q for q in run["questions"] if mode in q["modes"]),
                key=lambda q: q["modes"][mode]["metrics"][f"ndcg@{k}"],
            )[:WORST]
        ]
        for mode in run["modes"]
    }
    summary = {key: value for key, value in run.items() if key != "questions"}
    return {**summary, "worst_questions": worst}


def _json_option(raw: str | None, option: str) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{option} is not valid JSON: {exc.msg}.") from None
