"""The consumption chart on every range in Chromium: the dashed allocation line drawn (inside the
chart, not on its clipped top edge) in W, BM, MTD and 6M; BM covering the whole bundle month with
the days after today empty; dates as everywhere in the portal; 0.4 GU shown as 0.4, not 0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_sync
import pytest

from kb_service.capacity.periods import bundle_month
from kb_service.clock import SystemClock
from kb_service.container import Container
from kb_service.metering.models import UsageEvent
from kb_service.portal.formatting import day
from kb_service.services import unit_of_work
from tests.kb_service.portal.live import LiveServer
from tests.kb_service.portal.test_browser_account import ADMIN, _sign_in, seed_company

pytestmark = pytest.mark.browser

GU_CHART = """(canvas) => {
  const chart = Chart.getChart(canvas);
  const line = chart.data.datasets.find((d) => d.type === "line");
  return {
    labels: chart.data.labels,
    bars: chart.data.datasets[0].data,
    line: line ? { dash: line.borderDash, data: line.data } : null,
    yMax: chart.scales.y.max,
  };
}"""


def _small_usage(container: Container, kb_id: str) -> tuple[str, datetime]:
    """0.4 GU today on the KB's embeddings resource, activated 10 days ago; its id and activation."""
    today = datetime.now(UTC).date()
    with unit_of_work(container, SystemClock()) as services:
        kb = services.resource_repository.get(kb_id)
        assert kb is not None and kb.embeddings_resource_id is not None
        embeddings = services.resource_repository.get(kb.embeddings_resource_id)
        assert embeddings is not None
        embeddings.activated_on = today - timedelta(days=10)
        services.session.add(
            UsageEvent(
                resource_id=embeddings.id,
                day=today,
                model_id="all-minilm-l6-v2",
                input_tokens=400,
                api_calls=1,
                genai_units=0.4,
                source="query",
            )
        )
        return embeddings.id, datetime.combine(embeddings.activated_on, datetime.min.time())


def test_allocation_line_in_every_range_and_bm_covers_the_bundle_month(
    browser: Any, live_server: LiveServer, live_container: Container, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    kb_id = seed_company(live_container)
    embeddings_id, activated = _small_usage(live_container, kb_id)
    today = datetime.now(UTC).date()
    period = bundle_month(activated.date(), today)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{live_server.url}/portal/resources/{embeddings_id}/consumption")
    _sign_in(page, ADMIN)
    expect(page).to_have_url(f"{live_server.url}/portal/resources/{embeddings_id}/consumption")
    expect(page.locator("[data-usage]")).to_have_text("0.4 / 600")  # not "0 / 600"
    expect(page.locator("[data-percent]")).to_have_text("0.1%")  # 0.067 %: not "0.0%"

    allocation = 600
    for range_ in ("BM", "W", "MTD", "6M"):
        page.goto(f"{live_server.url}/portal/resources/{embeddings_id}/consumption?range={range_}")
        page.wait_for_function("() => document.documentElement.hasAttribute('data-charts-ready')")
        chart = page.get_by_role("img", name="GenAI units per day").evaluate(GU_CHART)
        assert chart["line"] is not None, range_
        assert chart["line"]["dash"] == [6, 4], range_
        assert chart["line"]["data"] == [allocation] * len(chart["labels"]), range_
        assert chart["yMax"] > allocation, range_  # the line is inside the chart area
        assert day(today) in chart["labels"], range_  # one date format: "December 2, 2026"
        page.screenshot(path=str(screenshots / f"consumption-{range_}.png"), full_page=True)
        if range_ == "BM":
            days = (period.end - period.start).days
            assert len(chart["labels"]) == days
            assert chart["labels"][0] == day(period.start)
            assert chart["labels"][-1] == day(period.end - timedelta(days=1))
            after_today = chart["labels"].index(day(today)) + 1
            assert chart["bars"][after_today:] == [None] * (days - after_today)
            assert chart["bars"][after_today - 1] == 0.4
        if range_ == "W":
            assert len(chart["labels"]) == 7
    page.context.close()
