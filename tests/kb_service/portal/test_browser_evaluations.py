"""In Chromium: a document's metadata edited from the documents table, and the Evaluations tab with a
stored run (its figures and worst questions) at a phone's width without sideways scrolling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_sync
import pytest

from kb_service.clock import SystemClock
from kb_service.container import Container
from kb_service.services import unit_of_work
from schemas.evaluation import EvaluationCreate
from tests.conftest import Drainer
from tests.kb_service.portal.conftest import PASSWORD
from tests.kb_service.portal.live import LiveServer, seed_company
from tests.kb_service.portal.test_browser_responsive import OVERFLOW, PHONE

pytestmark = pytest.mark.browser

NOTE = "Refunds are paid within fourteen days of the request, to the card that was charged."


def _run_evaluation(container: Container, kb_id: str) -> None:
    """A stored run, through the same service as `POST …/evaluations`."""
    request = EvaluationCreate.model_validate(
        {
            "name": "baseline",
            "modes": ["vector", "keyword", "hybrid"],
            "k": 5,
            "questions": [
                {"query": "when are refunds paid", "relevant": [{"human_readable_id": "refunds.txt"}]},
                {"query": "a question this knowledge base cannot answer at all, about shipping to the moon",
                 "relevant": [{"human_readable_id": "shipping.txt"}]},
            ],
        }
    )  # fmt: skip
    with unit_of_work(container, SystemClock()) as services:
        kb = services.resource_repository.get(kb_id)
        assert kb is not None
        assert services.evaluation(kb, "admin@acme.example").run(request).status == "completed"


def test_edit_metadata_in_the_table_and_read_an_evaluation_on_a_phone(
    browser: Any, live_server: LiveServer, live_container: Container, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    kb_id = seed_company(live_container)
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/portal/sign-in")
    page.get_by_label("Email").fill("admin@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/portal/resources")

    page.goto(f"{base}/portal/resources/{kb_id}/content")
    page.get_by_label("TXT or PDF files").set_input_files(
        {"name": "refunds.txt", "mimeType": "text/plain", "buffer": NOTE.encode()}
    )
    page.get_by_label("Metadata key").fill("Status")
    page.get_by_label("Metadata value").fill("Draft")
    page.get_by_role("button", name="Upload").click()
    assert Drainer(live_container)() == 1
    page.reload()
    row = page.get_by_role("table", name="Documents").locator("tr", has_text="refunds.txt")
    expect(row).to_contain_text("Status: Draft")

    row.get_by_text("Edit metadata").click()
    expect(row.get_by_label("Key of refunds.txt").first).to_have_value("Status")
    row.get_by_label("Value of refunds.txt").first.fill("Final")
    row.get_by_label("Key of refunds.txt").nth(1).fill("Team")
    row.get_by_label("Value of refunds.txt").nth(1).fill("Billing")
    page.screenshot(path=str(screenshots / "01-edit-metadata.png"), full_page=True)
    row.get_by_role("button", name="Save metadata").click()
    expect(row.get_by_role("status")).to_contain_text("Metadata saved")
    expect(row.locator(".tag")).to_have_text(["Status: Final", "Team: Billing"])
    page.screenshot(path=str(screenshots / "02-metadata-saved.png"), full_page=True)
    context.close()

    _run_evaluation(live_container, kb_id)
    phone = browser.new_context(viewport=PHONE)
    page = phone.new_page()
    page.goto(f"{base}/portal/sign-in")
    page.get_by_label("Email").fill("admin@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/portal/resources/{kb_id}/content")
    page.get_by_role("navigation", name="Resource sections").get_by_role("link", name="Evaluations").click()
    runs = page.get_by_role("list", name="Evaluation runs")
    expect(runs.locator("tr[data-mode]")).to_have_count(3)
    fits = page.evaluate(OVERFLOW)
    page.screenshot(path=str(screenshots / "03-evaluations-phone.png"), full_page=True)
    assert fits["scroll"] <= fits["client"], fits["wide"]

    runs.get_by_role("link", name="baseline").click()
    expect(page.get_by_role("table", name="Figures per mode").locator("tr[data-mode]")).to_have_count(3)
    worst = page.get_by_role("table", name="Worst questions in hybrid")
    expect(worst.locator("tbody tr").first).to_contain_text("shipping.txt: rank —")
    fits = page.evaluate(OVERFLOW)
    page.screenshot(path=str(screenshots / "04-evaluation-run-phone.png"), full_page=True)
    assert fits["scroll"] <= fits["client"], fits["wide"]
    phone.close()
