"""The portal's Consumption tab: the same figures as `/v1/.../consumption`, per range, and its CSV."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb_service.catalog import get_model
from kb_service.portal.consumption import export_filename
from kb_service.portal.formatting import day as portal_day
from kb_service.services import unit_of_work
from tests.conftest import KB, Drainer, upload
from tests.factories.controlplane import ControlPlane, TestUser
from tests.kb_service.portal.conftest import sign_in, with_password

HAIKU = "anthropic.claude-haiku-4-5"
TEXT = b"The warranty covers parts and labour for two years. Returns are accepted within 30 days."
_DATA = re.compile(r'<script type="application/json" id="consumption-data">(.*?)</script>', re.S)
_USAGE = re.compile(r"data-usage>([^<]+)<")
_RANGE_LINK = re.compile(r'href="[^"]*consumption\?range=([A-Z0-9]+)"[^>]*?(aria-current="true")?>')


def _json(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _chart(page: str) -> dict[str, Any]:
    found = _DATA.search(page)
    assert found is not None, "the page has no consumption data block"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _usage_figure(page: str) -> str:
    found = _USAGE.search(page)
    assert found is not None, "the page has no data-usage figure"
    return html.unescape(found.group(1)).strip()


def _text_with_key(cp: ControlPlane, admin: TestUser, **fields: Any) -> tuple[str, dict[str, str]]:
    text = cp.provision(admin, **fields)
    with unit_of_work(cp.container, cp.clock) as services:
        secret = services.keys.create(text["id"], "gateway").secret
    return text["id"], {"Authorization": f"Bearer {secret}"}


def _report(cp: ControlPlane, key: dict[str, str], input_tokens: int, output_tokens: int) -> None:
    body = {"model_id": HAIKU, "input_tokens": input_tokens, "output_tokens": output_tokens}
    _json(cp.client.post("/v1/gateway/usage", headers=key, json=body))


def test_an_embeddings_resource_shows_exactly_what_an_upload_metered(
    client: TestClient, control_plane: ControlPlane, drain: Drainer
) -> None:
    cp = control_plane
    cp.clock.set(datetime.now(UTC).date())  # the data plane meters at the real time
    admin = with_password(cp, cp.admin(tokens=100))
    embeddings = cp.embeddings(admin, display_name="Vectors", cloud_tokens=1)  # 100 GU a month
    kb_resource = cp.knowledge_base(admin, embeddings["id"])
    key = _json(client.post(f"/v1/resources/{kb_resource['id']}/keys", headers=admin.headers, json={}), 201)
    kb = KB(kb_resource["id"], embeddings["id"], key["secret"])
    document = _json(upload(client, kb, "warranty.txt", TEXT), 202)
    drain()
    metered = _json(client.get(kb.url(f"/documents/{document['id']}"), headers=kb.headers))["input_tokens"]
    assert metered > 0

    usage_url = f"/v1/resources/{embeddings['id']}/consumption"
    summary = _json(client.get(usage_url, headers=admin.headers))
    api_week = _json(client.get(f"{usage_url}/daily", params={"range": "W"}, headers=admin.headers))
    sign_in(client, admin.email)
    page = client.get(f"/portal/resources/{embeddings['id']}/consumption?range=W")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    text = page.text
    assert _usage_figure(text) == summary["display"]
    percent = summary["percent_used"]
    # Usage too small for one decimal reads "<0.1%" on the page (consumption.percent_text).
    assert (f"{percent}%" if percent >= 0.1 or not summary["used_genai_units"] else "&lt;0.1%") in text
    refill = date.fromisoformat(summary["refill_on"])
    assert f"Bundle refills on <strong data-refill>{refill:%B} {refill.day}, {refill.year}</strong>" in text
    chart = _chart(text)
    assert sum(chart["input_tokens"]) == metered
    assert chart["input_tokens"] == [d["input_tokens"] for d in api_week["days"]]
    assert chart["genai_units"] == pytest.approx([d["genai_units"] for d in api_week["days"]], abs=1e-4)
    assert sum(chart["genai_units"]) == pytest.approx(summary["used_genai_units"], abs=1e-3)
    assert chart["output_tokens"] == [0] * 7  # embeddings consume input tokens only
    assert chart["allocation"] == summary["allocation_genai_units"] == 100
    assert "always 0: embeddings resources consume input tokens only" in text
    assert "No usage in this period yet" not in text
    assert f"{metered:,} input tokens" in text
    for label in (
        "GenAI units per day",
        "Input tokens per day",
        "Output tokens per day",
        "API calls per day",
    ):
        assert f'role="img" aria-label="{label}"' in text
    assert text.count("<summary>Show data</summary>") == 4
    # The "Show data" tables carry the same days as the charts.
    assert text.count(f"<td>{portal_day(datetime.now(UTC).date())}</td>") == 4

    # The KB itself has no consumption page: its usage is on the embeddings resource.
    assert client.get(f"/portal/resources/{kb_resource['id']}/consumption").status_code == 404
    assert client.get(f"/portal/resources/{kb_resource['id']}/consumption.csv").status_code == 404

    exported = client.get(f"/portal/resources/{embeddings['id']}/consumption.csv?range=BM")
    api_csv = client.get(f"{usage_url}/export.csv", params={"range": "BM"}, headers=admin.headers)
    assert exported.status_code == 200
    assert exported.text == api_csv.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(int(r["input_tokens"]), int(r["output_tokens"])) for r in rows] == [(metered, 0)]


def test_each_range_shows_its_days_and_the_seeds_figure(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    cp.clock.set(date(2026, 1, 10))
    resource_id, key = _text_with_key(cp, admin, display_name="Assistant", plan=None, cloud_tokens=16)
    # Usage on three days, reported by the gateway at the app's clock.
    for day, (tokens_in, tokens_out) in {
        date(2026, 1, 20): (1_000_000, 0),
        date(2026, 2, 3): (4_000_000, 3_000_000),
        date(2026, 2, 11): (5_000_000, 5_000_000),
    }.items():
        cp.clock.set(day)
        _report(cp, key, tokens_in, tokens_out)
    cp.clock.set(date(2026, 2, 12))
    sign_in(client, admin.email)
    url = f"/portal/resources/{resource_id}/consumption"

    expected_days = {
        "W": (date(2026, 2, 6), 7),
        "BM": (date(2026, 2, 10), 3),  # activated on the 10th: the bundle month began on 10 February
        "MTD": (date(2026, 2, 1), 12),
        "6M": (date(2025, 8, 13), (date(2026, 2, 12) - date(2025, 8, 13)).days + 1),
    }
    summary = _json(client.get(f"/v1/resources/{resource_id}/consumption", headers=admin.headers))
    # Only 11 February is in the bundle month that began on the 10th.
    this_month = get_model(HAIKU).genai_units(5_000_000, 5_000_000)
    assert summary["display"] == f"{round(this_month):,} / 1.6k"
    for range_, (start, count) in expected_days.items():
        page = client.get(url, params={"range": range_})
        assert page.status_code == 200, range_
        chart = _chart(page.text)
        api = _json(
            client.get(f"/v1/resources/{resource_id}/consumption/daily?range={range_}", headers=admin.headers)
        )
        # Dates as everywhere in the portal; BM runs on to the bundle month's last day (9 March),
        # the days after today empty (consumption.chart_data).
        shown = len(api["days"])
        assert chart["labels"][:shown] == [portal_day(date.fromisoformat(d["date"])) for d in api["days"]]
        assert chart["labels"][0] == portal_day(start)
        assert chart["labels"][shown - 1] == "February 12, 2026"
        assert shown == count
        if range_ == "BM":
            assert chart["labels"][-1] == "March 9, 2026"
            assert chart["api_calls"][shown:] == [None] * (len(chart["labels"]) - shown)
        else:
            assert len(chart["labels"]) == count
        assert chart["api_calls"][:shown] == [d["api_calls"] for d in api["days"]]
        assert chart["output_tokens"][:shown] == [d["output_tokens"] for d in api["days"]]
        assert _usage_figure(page.text) == summary["display"]
        current = [m.group(1) for m in _RANGE_LINK.finditer(page.text) if m.group(2)]
        assert current == [range_]
        assert [m.group(1) for m in _RANGE_LINK.finditer(page.text)] == ["W", "BM", "MTD", "6M"]
        assert f"consumption.csv?range={range_}" in page.text
    six_months = _chart(client.get(url, params={"range": "6M"}).text)
    assert sum(six_months["api_calls"]) == 3
    assert sum(six_months["input_tokens"]) == 10_000_000
    week = _chart(client.get(url, params={"range": "W"}).text)
    assert sum(week["input_tokens"]) == 5_000_000
    assert week["output_tokens"][-2] == 5_000_000

    default = client.get(url)
    assert _chart(default.text)["labels"] == _chart(client.get(url, params={"range": "BM"}).text)["labels"]
    assert f"{summary['percent_used']}%" in default.text
    assert "Bundle refills on <strong data-refill>March 10, 2026</strong>" in default.text
    assert get_model(HAIKU).display_name in default.text  # no plan: the model stands for it
    assert "1,600 GenAI units per bundle month" in default.text
    assert "is used up" not in default.text

    _report(cp, key, 0, 3_000_000)  # past the 1,600 GU
    exhausted = client.get(url).text
    assert _json(client.get(f"/v1/resources/{resource_id}/consumption", headers=admin.headers))["exhausted"]
    assert "The allocation for this bundle month is used up" in exhausted
    assert "until the refill on March 10, 2026" in exhausted


def test_the_csv_export_is_the_api_export_as_a_named_download(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    cp.clock.set(date(2026, 1, 10))
    resource_id, key = _text_with_key(cp, admin, display_name='Q3 / Sales "bot"', plan="S")
    for day in (date(2026, 2, 1), date(2026, 2, 11), date(2026, 2, 12)):
        cp.clock.set(day)
        _report(cp, key, 1_200, 300)
    _report(cp, key, 800, 100)
    sign_in(client, admin.email)
    for range_ in ("W", "BM", "MTD", "6M"):
        exported = client.get(f"/portal/resources/{resource_id}/consumption.csv", params={"range": range_})
        api = client.get(
            f"/v1/resources/{resource_id}/consumption/export.csv",
            params={"range": range_},
            headers=admin.headers,
        )
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        assert exported.headers["content-disposition"] == (
            f'attachment; filename="Q3-Sales-bot-consumption-{range_}-2026-02-12.csv"'
        )
        assert exported.text == api.text
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/portal/resources/{resource_id}/consumption.csv?range=MTD").text)
        )
    )
    assert rows == [
        {"date": "2026-02-01", "input_tokens": "1200", "output_tokens": "300"},
        {"date": "2026-02-11", "input_tokens": "1200", "output_tokens": "300"},
        {"date": "2026-02-12", "input_tokens": "2000", "output_tokens": "400"},
    ]
    page = client.get(f"/portal/resources/{resource_id}/consumption?range=MTD").text
    assert f'href="/portal/resources/{resource_id}/consumption.csv?range=MTD" download>Export CSV</a>' in page


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Vectors", "Vectors-consumption-BM-2026-02-12.csv"),
        ('a\r\nb"; filename=evil.sh', "a-b-filename-evil.sh-consumption-BM-2026-02-12.csv"),
        ("../../etc/passwd", "etc-passwd-consumption-BM-2026-02-12.csv"),
        ("Ünïcode ✓", "Unicode-consumption-BM-2026-02-12.csv"),
        ("✓✓", "resource-consumption-BM-2026-02-12.csv"),
    ],
)
def test_export_filenames_are_safe_in_a_header(name: str, expected: str) -> None:
    assert export_filename(name, "BM", "2026-02-12") == expected


def test_an_unused_resource_shows_the_empty_state_and_empty_charts(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    embeddings = cp.embeddings(admin, display_name="Vectors")
    sign_in(client, admin.email)
    page = client.get(f"/portal/resources/{embeddings['id']}/consumption")
    assert page.status_code == 200
    assert "No usage in this period yet." in page.text
    assert _usage_figure(page.text) == "0 / 600"
    chart = _chart(page.text)
    assert chart["api_calls"][: chart["today"] + 1] == [0] * (chart["today"] + 1)
    assert set(chart["api_calls"][chart["today"] + 1 :]) <= {None}  # BM: the rest of the month
    assert page.text.count("<canvas data-chart=") == 4
    csv_text = client.get(f"/portal/resources/{embeddings['id']}/consumption.csv").text
    assert csv_text == "date,input_tokens,output_tokens\n"


def test_who_may_open_the_page(client: TestClient, control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    embeddings = cp.embeddings(admin, display_name="Vectors")
    kb = cp.knowledge_base(admin, embeddings["id"], display_name="Support tickets")
    member = with_password(cp, cp.user(admin.company_id, "mia@acme.example"))
    rival = with_password(cp, cp.admin("Globex"))
    page_url = f"/portal/resources/{embeddings['id']}/consumption"

    sign_in(client, member.email)  # a member of the company, not of the resource's team
    for path in (page_url, f"{page_url}.csv"):
        refused = client.get(path)
        assert refused.status_code == 404
        assert refused.headers["content-type"].startswith("text/html")
        assert "Not found" in refused.text
    _json(
        client.post(
            f"/v1/resources/{embeddings['id']}/members", headers=admin.headers, json={"email": member.email}
        ),
        201,
    )
    assert client.get(page_url).status_code == 200
    assert client.get(f"{page_url}.csv").status_code == 200

    client.cookies.clear()
    sign_in(client, rival.email)
    for resource_id in (embeddings["id"], kb["id"], "0" * 32):
        assert client.get(f"/portal/resources/{resource_id}/consumption").status_code == 404
    own = cp.knowledge_base(rival, cp.embeddings(rival)["id"], display_name="Globex KB")
    kb_page = client.get(f"/portal/resources/{own['id']}/consumption")
    assert kb_page.status_code == 404
    assert "has no consumption page" in kb_page.text


def test_a_bad_range_is_a_422_page(client: TestClient, control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    embeddings = cp.embeddings(admin)
    sign_in(client, admin.email)
    for path in ("consumption", "consumption.csv"):
        for bad in ("Y", "bm", "", "6M; drop"):
            response = client.get(f"/portal/resources/{embeddings['id']}/{path}", params={"range": bad})
            assert response.status_code == 422, (path, bad)
            assert response.headers["content-type"].startswith("text/html")
            assert "range" in response.text
            assert "Check the form" in response.text


def test_pages_without_a_session_redirect_to_sign_in(client: TestClient, control_plane: ControlPlane) -> None:
    admin = control_plane.admin()
    embeddings = control_plane.embeddings(admin)
    for path in ("consumption", "consumption.csv"):
        response = client.get(f"/portal/resources/{embeddings['id']}/{path}", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/portal/sign-in?next=")


def test_the_tab_is_offered_on_metered_resources_only(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    embeddings = cp.embeddings(admin)
    kb = cp.knowledge_base(admin, embeddings["id"])
    sign_in(client, admin.email)
    page = client.get(f"/portal/resources/{embeddings['id']}/consumption").text
    assert (
        f'href="/portal/resources/{embeddings["id"]}/consumption" aria-current="page">Consumption</a>' in page
    )
    content = client.get(f"/portal/resources/{kb['id']}/content").text
    assert ">Consumption</a>" not in content
