"""The Consumption tab in Chromium: usage metered by a real upload, the four Chart.js charts under the
portal's CSP, the range switch, and the CSV download."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_sync
import pytest

from kb_service.auth.principals import actor_of
from kb_service.catalog import get_model
from kb_service.clock import SystemClock
from kb_service.container import Container
from kb_service.metering.models import UsageEvent
from kb_service.services import unit_of_work
from tests.conftest import Drainer
from tests.kb_service.portal.conftest import PASSWORD
from tests.kb_service.portal.live import LiveServer, seed_company

pytestmark = pytest.mark.browser

TEXT = b"The warranty covers parts and labour for two years. Returns are accepted within 30 days."
CHARTS = ("GenAI units per day", "Input tokens per day", "Output tokens per day", "API calls per day")
# Records what the browser refuses under the page's CSP (installed before any page script runs).
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
CHART_STATE = """(canvas) => {
  const chart = Chart.getChart(canvas);
  if (!chart) return null;
  return {
    type: chart.config.type,
    labels: chart.data.labels.length,
    datasets: chart.data.datasets.map((d) => ({
      type: d.type, label: d.label, dash: d.borderDash || [], sum: d.data.reduce((a, b) => a + b, 0),
    })),
    width: canvas.width,
  };
}"""


def _embeddings_of(container: Container, kb_id: str) -> str:
    with unit_of_work(container, SystemClock()) as services:
        kb = services.resource_repository.get(kb_id)
        assert kb is not None and kb.embeddings_resource_id is not None
        return kb.embeddings_resource_id


def _earlier_usage(container: Container, resource_id: str) -> None:
    """A resource active for 20 days, with searches on a few earlier days as the retrieval service
    meters them (one event per search), so the charts have a shape."""
    today = datetime.now(UTC).date()
    model = get_model("all-minilm-l6-v2")
    with unit_of_work(container, SystemClock()) as services:
        resource = services.resource_repository.get(resource_id)
        assert resource is not None
        resource.activated_on = today - timedelta(days=20)
        for back, tokens in ((3, 420), (2, 1_310), (1, 860)):
            services.session.add(
                UsageEvent(
                    resource_id=resource_id,
                    day=today - timedelta(days=back),
                    model_id="all-minilm-l6-v2",
                    input_tokens=tokens,
                    api_calls=back + 1,
                    genai_units=model.genai_units(tokens),
                    source="query",
                )
            )


def _service(container: Container, call: str, resource_id: str, *args: Any) -> Any:
    """ConsumptionService as the signed-in admin: what the page must show."""
    with unit_of_work(container, SystemClock()) as services:
        user = services.users.by_email("admin@acme.example")
        assert user is not None
        return getattr(services.consumption, call)(actor_of(user), resource_id, *args)


def test_consumption_charts_ranges_and_export_in_chromium(
    browser: Any, live_server: LiveServer, live_container: Container, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    kb_id = seed_company(live_container)
    embeddings_id = _embeddings_of(live_container, kb_id)
    _earlier_usage(live_container, embeddings_id)
    drain = Drainer(live_container)

    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(f"{m.text} at {m.location.get('url')}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    page.goto(f"{live_server.url}/portal/sign-in")
    page.get_by_label("Email").fill("admin@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/portal/resources")

    # Today's usage through the real path: an upload with the KB's key to the data plane, embedded
    # by the worker; it meters on the linked embeddings resource.
    with unit_of_work(live_container, SystemClock()) as services:
        secret = services.keys.create(kb_id, "browser test").secret
    uploaded = context.request.post(
        f"{live_server.url}/v1/knowledge-bases/{kb_id}/documents",
        headers={"Authorization": f"Bearer {secret}"},
        multipart={"file": {"name": "warranty.txt", "mimeType": "text/plain", "buffer": TEXT}},
    )
    assert uploaded.status == 202, uploaded.text()
    assert drain() == 1

    page.goto(f"{live_server.url}/portal/resources")
    page.get_by_role("link", name="Vectors", exact=True).click()  # a resource opens on its Overview
    sections = page.get_by_role("navigation", name="Resource sections")
    sections.get_by_role("link", name="Consumption").click()
    expect(page).to_have_url(f"{live_server.url}/portal/resources/{embeddings_id}/consumption")
    expect(page.get_by_role("link", name="Consumption")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("link", name="BM", exact=True)).to_have_attribute("aria-current", "true")
    expect(page.locator("[data-usage]")).to_have_text(
        _service(live_container, "summary", embeddings_id).display
    )
    expect(page.locator("[data-refill]")).not_to_be_empty()
    page.wait_for_function("() => document.documentElement.hasAttribute('data-charts-ready')")

    states = {label: page.get_by_role("img", name=label).evaluate(CHART_STATE) for label in CHARTS}
    for label, state in states.items():
        assert state is not None, f"no Chart.js chart on the {label!r} canvas"
        assert state["width"] > 100
    units = states["GenAI units per day"]["datasets"]
    assert [d["type"] for d in units] == ["bar", "line"]
    assert units[1]["dash"] == [6, 4]  # the allocation line is dashed
    assert units[1]["label"] == "Allocation per bundle month"
    assert units[1]["sum"] == 600 * states["GenAI units per day"]["labels"]
    assert states["Output tokens per day"]["datasets"][0]["sum"] == 0
    week_data = page.evaluate("() => JSON.parse(document.getElementById('consumption-data').textContent)")
    # BM runs to the end of the bundle month: the days after today are empty (null).
    today_tokens = week_data["input_tokens"][week_data["today"]]
    assert today_tokens > 0  # the upload's tokens, metered today
    assert states["Input tokens per day"]["datasets"][0]["sum"] == sum(
        v or 0 for v in week_data["input_tokens"]
    )
    page.screenshot(path=str(screenshots / "01-consumption-bm.png"), full_page=True)

    # The "Show data" table holds the same values for screen readers and without JavaScript.
    page.locator("details", has_text="Show data").first.locator("summary").click()
    expect(page.get_by_role("table", name="GenAI units per day")).to_be_visible()

    # The range switch works from the keyboard.
    page.get_by_role("link", name="W", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/portal/resources/{embeddings_id}/consumption?range=W")
    expect(page.get_by_role("link", name="W", exact=True)).to_have_attribute("aria-current", "true")
    page.wait_for_function("() => document.documentElement.hasAttribute('data-charts-ready')")
    week = page.get_by_role("img", name="API calls per day").evaluate(CHART_STATE)
    assert week["labels"] == 7
    calls = [d.api_calls for d in _service(live_container, "series", embeddings_id, "W").days]
    assert calls[-4:-1] == [4, 3, 2]  # the earlier days' searches
    assert week["datasets"][0]["sum"] == sum(calls)
    page.screenshot(path=str(screenshots / "02-consumption-week.png"), full_page=True)

    for range_ in ("MTD", "6M"):
        page.get_by_role("link", name=range_, exact=True).click()
        expect(page.get_by_role("link", name=range_, exact=True)).to_have_attribute("aria-current", "true")
        page.wait_for_function("() => document.documentElement.hasAttribute('data-charts-ready')")
        assert page.get_by_role("img", name="GenAI units per day").evaluate(CHART_STATE) is not None
    page.screenshot(path=str(screenshots / "03-consumption-6m.png"), full_page=True)

    page.get_by_role("link", name="W", exact=True).click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    today = datetime.now(UTC).date().isoformat()
    assert download.suggested_filename == f"Vectors-consumption-W-{today}.csv"
    downloaded = Path(download.path()).read_text()
    assert downloaded == _service(live_container, "export_csv", embeddings_id, "W")
    rows = list(csv.DictReader(io.StringIO(downloaded)))
    assert len(rows) == 4
    assert rows[-1] == {"date": today, "input_tokens": str(today_tokens), "output_tokens": "0"}

    assert page.evaluate("() => window.__cspViolations") == []
    assert failed == []
    # base.html declares no icon, so Chromium asks for /favicon.ico (a 404 outside this page's reach).
    assert [e for e in errors if not e.endswith("/favicon.ico")] == []
    context.close()
    assert sorted(p.name for p in screenshots.iterdir()) == [
        "01-consumption-bm.png",
        "02-consumption-week.png",
        "03-consumption-6m.png",
    ]
