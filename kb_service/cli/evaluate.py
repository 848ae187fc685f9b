"""`kb-service eval run QUESTIONS.jsonl --kb ID --url URL --key KEY`: evaluate a knowledge base's
retrieval through the HTTP API (`POST /v1/knowledge-bases/{kb}/evaluations`, through the Python
client), so it measures the deployed service exactly as apps see it. Each line of the file is one
question: `{"query": "...", "relevant": [{"mx_object_id": "..."}, {"document_id": "...", "grade": 2}]}`."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from kb_service.cli._common import KbOption, KeyOption, ProfileOption, UrlOption, emit
from kb_service.cli._connection import connection
from kb_service.errors import InvalidInput
from schemas.evaluation import EvaluationQuestion

WORST = 5


class Mode(StrEnum):
    vector = "vector"
    keyword = "keyword"
    hybrid = "hybrid"


def register(app: typer.Typer) -> None:
    evaluation = typer.Typer(help="Evaluate retrieval through the HTTP API.", no_args_is_help=True)
    evaluation.command("run", help="Run labelled questions; print the figures.")(run)
    app.add_typer(evaluation, name="eval")


def run(
    questions: Annotated[Path, typer.Argument(help="JSON Lines: one {query, relevant} object per line.")],
    kb: KbOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    profile: ProfileOption = None,
    modes: Annotated[
        list[Mode] | None,
        typer.Option(
            "--mode",
            help="A search mode to evaluate; repeat for several (default: vector).",
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="The cutoff: results per search.")] = 10,
    collections: Annotated[
        list[str] | None, typer.Option("--collection", help="Limit to a collection; repeat for several.")
    ] = None,
    filter: Annotated[
        str | None, typer.Option("--filter", help="A JSON search filter applied to every question.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label to compare runs by.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the run.")] = 900.0,
) -> int:
    asked = read_questions(questions)
    target = connection(url, key, profile, kb)
    with target.client(timeout=timeout) as client:
        result = client.run_evaluation(
            target.kb_id(),
            asked,
            modes=[m.value for m in modes] if modes else ["vector"],
            k=k,
            collections=collections or None,
            filter=json_option(filter, "--filter"),
            name=name,
        )
    emit(headline(result.model_dump(mode="json")))
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


def json_option(raw: str | None, option: str) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{option} is not valid JSON: {exc.msg}.", details={"field": option}) from None
