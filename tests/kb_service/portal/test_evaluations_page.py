"""The KB's Evaluations tab: stored runs newest first with their figures per mode, and a run's page
with a table per mode and its worst questions, all read through the service behind `GET
…/evaluations`."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Drainer
from tests.factories.controlplane import ControlPlane, TestUser
from tests.kb_service.portal.conftest import sign_in, with_password

DOCUMENTS = {
    "passwords.txt": b"To reset your password open the account page and choose Forgot password.",
    "invoices.txt": b"Invoices are archived for ten years and can be exported as PDF from billing.",
    "mobile.txt": b"The mobile app works offline and syncs notes when the connection comes back.",
}
QUESTIONS: list[dict[str, Any]] = [
    {"query": "I forgot my password", "relevant": [{"human_readable_id": "passwords.txt"}]},
    {"query": "export invoices as pdf", "relevant": [{"human_readable_id": "invoices.txt", "grade": 2}]},
    {"query": "refund policy", "relevant": [{"document_id": "missing-doc"}]},
]
MODES = ["vector", "keyword"]
K = 3


def _kb_with_key(
    cp: ControlPlane, client: TestClient, drain: Drainer
) -> tuple[TestUser, str, dict[str, str]]:
    admin = with_password(cp, cp.admin())
    embeddings = cp.embeddings(admin, display_name="Vectors")
    kb_id: str = cp.knowledge_base(admin, embeddings["id"], display_name="Help center")["id"]
    key = client.post(f"/v1/resources/{kb_id}/keys", headers=admin.headers, json={"description": "app"})
    headers = {"Authorization": f"Bearer {key.json()['secret']}"}
    for name, body in DOCUMENTS.items():
        uploaded = client.post(
            f"/v1/knowledge-bases/{kb_id}/documents",
            headers=headers,
            files={"file": (name, body, "text/plain")},
        )
        assert uploaded.status_code == 202, uploaded.text
    drain()
    return admin, kb_id, headers


def _run(client: TestClient, kb_id: str, headers: dict[str, str], name: str) -> dict[str, Any]:
    body = {"name": name, "questions": QUESTIONS, "modes": MODES, "k": K}
    response = client.post(f"/v1/knowledge-bases/{kb_id}/evaluations", headers=headers, json=body)
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    assert run["status"] == "completed"
    return run


def _cells(table: str) -> list[list[str]]:
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
    cells = [re.findall(r"<td>(.*?)</td>", row, re.S) for row in rows]
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in row] for row in cells if row]


def _figures(run: dict[str, Any], mode: str) -> list[str]:
    metrics, latency = run["summary"][mode]["metrics"], run["summary"][mode]["latency_ms"]
    names = ("ndcg", "recall", "mrr", "hit_rate")
    return [mode, *(f"{metrics[f'{n}@{K}']:.3f}" for n in names), f"{latency['p50']:.1f} ms"]


def test_the_tab_lists_stored_runs_newest_first_with_their_figures(
    client: TestClient, control_plane: ControlPlane, drain: Drainer
) -> None:
    admin, kb_id, headers = _kb_with_key(control_plane, client, drain)
    sign_in(client, admin.email)
    empty = client.get(f"/portal/resources/{kb_id}/evaluations")
    assert empty.status_code == 200
    assert "No evaluation runs yet" in empty.text
    nav = empty.text[empty.text.index('aria-label="Resource sections"') :]
    assert re.findall(r">([^<]+)</a>", nav[: nav.index("</nav>")])[:3] == [
        "Overview",
        "Content",
        "Evaluations",
    ]

    first = _run(client, kb_id, headers, "baseline")
    control_plane.clock.advance(minutes=5)
    second = _run(client, kb_id, headers, "after tuning")

    page = client.get(f"/portal/resources/{kb_id}/evaluations").text
    ids = re.findall(r'<li data-evaluation-id="([^"]+)">', page)
    assert ids == [second["id"], first["id"]]
    for run in (second, first):
        item = page[page.index(f'data-evaluation-id="{run["id"]}"') :]
        table = item[item.index("<table") : item.index("</table>")]
        assert _cells(table) == [_figures(run, mode) for mode in MODES]
        assert f'href="/portal/resources/{kb_id}/evaluations/{run["id"]}"' in item
    assert "baseline" in page and "after tuning" in page


def test_a_run_page_has_a_table_per_mode_and_its_worst_questions(
    client: TestClient, control_plane: ControlPlane, drain: Drainer
) -> None:
    admin, kb_id, headers = _kb_with_key(control_plane, client, drain)
    run = _run(client, kb_id, headers, "baseline")
    sign_in(client, admin.email)
    page = client.get(f"/portal/resources/{kb_id}/evaluations/{run['id']}")
    assert page.status_code == 200
    text = page.text
    figures = text[text.index('aria-label="Figures per mode"') :]
    figures = figures[: figures.index("</table>")]
    p95 = {m: f"{run['summary'][m]['latency_ms']['p95']:.1f} ms" for m in MODES}
    assert _cells(figures) == [[*_figures(run, m), p95[m]] for m in MODES]

    for mode in MODES:
        worst = text[text.index(f'data-worst="{mode}"') :]
        rows = _cells(worst[: worst.index("</table>")])
        # Lowest nDCG@k first, as the stored per-question figures order them.
        scored = sorted(
            ((q["modes"][mode]["metrics"][f"ndcg@{K}"], q) for q in run["questions"]), key=lambda p: p[0]
        )
        assert [r[0] for r in rows] == [q["query"] for _, q in scored]
        assert [r[1] for r in rows] == [f"{score:.3f}" for score, _ in scored]
        assert rows[0] == ["refund policy", "0.000", "missing-doc: rank —"]
        for row, (_, question) in zip(rows, scored, strict=True):
            ranked = question["modes"][mode]["relevant"][0]
            grade = " (grade 2)" if ranked["grade"] == 2 else ""
            rank = f"rank {ranked['rank']}" if ranked["rank"] is not None else "rank —"
            assert row[2] == f"{ranked['value']}{grade}: {rank}"


def test_runs_of_another_kb_and_unknown_runs_are_not_found(
    client: TestClient, control_plane: ControlPlane, drain: Drainer
) -> None:
    admin, kb_id, headers = _kb_with_key(control_plane, client, drain)
    run = _run(client, kb_id, headers, "baseline")
    other = control_plane.knowledge_base(admin, control_plane.embeddings(admin)["id"], display_name="Other")
    sign_in(client, admin.email)
    assert client.get(f"/portal/resources/{other['id']}/evaluations/{run['id']}").status_code == 404
    assert client.get(f"/portal/resources/{kb_id}/evaluations/no-such-run").status_code == 404
    # Not a KB: no such tab.
    embeddings_id = control_plane.embeddings(admin, display_name="More vectors")["id"]
    assert client.get(f"/portal/resources/{embeddings_id}/evaluations").status_code == 404
