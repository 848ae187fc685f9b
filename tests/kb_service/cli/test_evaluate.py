"""`kb-service eval run`: questions from a JSON Lines file, evaluated through the HTTP API (the app
in-process, reached through an injected httpx transport)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from kb_service.cli import main
from kb_service.config import Settings
from tests.conftest import KB, Drainer


class _AppTransport(httpx.BaseTransport):
    """Hands the command's requests to the app through the test client (no network)."""

    def __init__(self, client: TestClient) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self._client.request(
            request.method, str(request.url), content=request.read(), headers=dict(request.headers)
        )
        return httpx.Response(answer.status_code, headers=dict(answer.headers), content=answer.content)


def _eval(client: TestClient, settings: Settings, *argv: str) -> int:
    return main(["eval", "run", *argv, "--data-dir", str(settings.data_dir)], transport=_AppTransport(client))


def test_eval_run_posts_the_questions_and_prints_the_figures(
    client: TestClient, kb: KB, drain: Drainer, settings: Settings, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    chunks = [
        {
            "text": "Reset a password from the account page.",
            "human_readable_id": "H-1",
            "mx_object_id": "H-1",
        },
        {"text": "Invoices can be exported as PDF.", "human_readable_id": "H-2", "mx_object_id": "H-2"},
    ]
    pushed = client.post(
        kb.url("/collections/Help/chunks"), headers=kb.headers, json={"mode": "insert", "chunks": chunks}
    )
    assert pushed.status_code == 202
    drain()
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps({"query": "forgot password", "relevant": [{"mx_object_id": "H-1"}]})
        + "\n\n"
        + json.dumps({"query": "invoice pdf", "relevant": [{"mx_object_id": "H-2", "grade": 2}]})
        + "\n"
    )

    options = ["--kb", kb.id, "--url", "http://testserver", "--key", kb.key, "--k", "2", "--name", "cli"]
    code = _eval(client, settings, str(questions), *options, "--mode", "vector", "--mode", "keyword")

    assert code == 0
    out = capsys.readouterr().out.splitlines()
    # The answer is the indented JSON object; the app's logs print around it in-process.
    printed = json.loads("\n".join(out[out.index("{") : out.index("}") + 1]))
    assert printed["name"] == "cli"
    assert printed["question_count"] == 2
    assert set(printed["summary"]) == {"vector", "keyword"}
    assert set(printed["summary"]["vector"]["metrics"]) == {"ndcg@2", "recall@2", "mrr@2", "hit_rate@2"}
    assert len(printed["worst_questions"]["keyword"]) == 2
    assert "questions" not in printed
    stored = client.get(kb.url(f"/evaluations/{printed['id']}"), headers=kb.headers)
    assert stored.status_code == 200


def test_a_bad_line_is_refused_naming_it(
    client: TestClient, kb: KB, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"query": "ok", "relevant": [{"mx_object_id": "a"}]}\n{"query": "no relevant"}\n')
    assert _eval(client, settings, str(questions), "--kb", kb.id, "--key", kb.key) == 2
    error = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert error["error"]["code"] == "invalid_input"
    assert "questions.jsonl:2: relevant" in error["error"]["message"]


def test_an_api_error_is_printed_and_exits_2(
    client: TestClient, kb: KB, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text('{"query": "ok", "relevant": [{"mx_object_id": "a"}]}\n')
    code = _eval(
        client, settings, str(questions), "--kb", kb.id, "--url", "http://testserver", "--key", "kb_x_y"
    )
    assert code == 2
    assert "unauthorized" in capsys.readouterr().err
