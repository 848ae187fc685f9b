"""The control center in Debian's Chromium: provision through the form, edit capacity, deprovision.

Uses the labels the end-to-end test relies on: link "Provision Resource"; fields "Resource type",
"Display name", "Region", "Models", "Plan", "Cloud Tokens", "Embeddings resource", "Created for
(name)", "Created for (email)"; buttons "Review", "Confirm and provision", "Actions for <name>",
"Edit capacity", "Save capacity", "Deprovision", "Confirm deprovisioning"; table "GenAI resources".
"""

from __future__ import annotations

import re
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest

from kb_service.container import Container
from tests.kb_service.portal.conftest import PASSWORD
from tests.kb_service.portal.live import LiveServer

pytestmark = pytest.mark.browser

ADMIN = "admin@globex.example"


def seed_admin(container: Container, tokens: int) -> None:
    """A company with `tokens` Cloud Tokens and no resources; its admin has a password."""
    from kb_service.clock import SystemClock
    from kb_service.services import unit_of_work

    with unit_of_work(container, SystemClock()) as services:
        company = services.companies.create("Globex", cloud_tokens=tokens)
        users = services.users
        user = users.create(company.id, ADMIN, name="Gina Admin", is_admin=True)
        users.set_password(user.id, PASSWORD)
        users.create(company.id, "dana@globex.example", name="Dana Dev")  # whom the resources are for


def test_provision_resize_and_deprovision_in_chromium(
    browser: object, live_server: LiveServer, live_container: Container, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    seed_admin(live_container, tokens=100)
    shots = screenshots
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{live_server.url}/portal/sign-in")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Control center").click()
    expect(page.get_by_role("heading", name="GenAI Resources")).to_be_visible()
    expect(page.get_by_text("No resources yet")).to_be_visible()

    # An embeddings resource of 10 Cloud Tokens, watching the live checks and the specification.
    page.get_by_role("link", name="Provision Resource").click()
    page.get_by_label("Resource type").select_option("embeddings")
    page.get_by_label("Display name").fill("Vectors")
    page.get_by_label("Region", exact=True).select_option("ca-central-1")
    models = page.get_by_label("Models", exact=True)
    expect(models.locator("option", has_text="Light")).to_have_count(0)  # not offered in ca-central-1
    page.get_by_label("Region", exact=True).select_option("eu-central-1")
    expect(models.locator("option", has_text="Light")).to_have_count(2)
    models.select_option("all-minilm-l6-v2")
    page.get_by_label("Plan", exact=True).select_option("tokens")
    page.get_by_label("Cloud Tokens").fill("10")
    page.get_by_label("Created for (name)").fill("Dana Dev")
    page.get_by_label("Created for (email)").fill("dana@")
    page.get_by_label("Display name").focus()
    expect(page.get_by_text("Give a valid email address.")).to_be_visible()
    page.get_by_label("Created for (email)").fill("dana@globex.example")
    spec = page.locator("#live-spec")
    expect(spec).to_contain_text("1,000 GU / month")
    expect(spec).to_contain_text("100 → 90")
    page.screenshot(path=str(shots / "01-provision-form-review.png"), full_page=True)
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name="Review the resource specification")).to_be_visible()
    page.screenshot(path=str(shots / "01b-review-step.png"), full_page=True)
    page.get_by_role("button", name="Confirm and provision").click()
    expect(page.get_by_role("status")).to_have_text("Vectors was provisioned.")

    # A KB needs an embeddings resource in its region: said next to the field.
    page.get_by_role("link", name="Provision Resource").click()
    page.get_by_label("Resource type").select_option("knowledge_base")
    page.get_by_label("Region", exact=True).select_option("ca-central-1")
    expect(page.get_by_text("No embeddings resource in this region yet")).to_be_visible()
    page.screenshot(path=str(shots / "01c-kb-form-no-embeddings.png"), full_page=True)
    page.get_by_label("Region", exact=True).select_option("eu-central-1")
    expect(page.get_by_text("No embeddings resource in this region yet")).to_be_hidden()
    page.get_by_label("Display name").fill("Support tickets")
    page.get_by_label("Embeddings resource").select_option(label="Vectors (eu-central-1)")
    page.get_by_label("Created for (name)").fill("Dana Dev")
    page.get_by_label("Created for (email)").fill("dana@globex.example")
    expect(page.locator("#live-spec")).to_contain_text("90 → 42")
    page.get_by_role("button", name="Review").click()
    page.get_by_role("button", name="Confirm and provision").click()
    expect(page.get_by_role("status")).to_have_text("Support tickets was provisioned.")
    table = page.get_by_role("table", name="GenAI resources")
    expect(table).to_contain_text("1k GU / month")
    expect(table).to_contain_text("Standard")
    ledger = page.get_by_role("table", name="Cloud Token ledger")
    expect(ledger.locator("tbody tr")).to_have_count(3)

    # Edit capacity: too large an increase turns the balance red and Save unusable (keyboard-driven menu).
    page.get_by_role("button", name="Actions for Vectors").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Edit capacity")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Edit capacity")).to_be_hidden()
    expect(page.get_by_role("button", name="Actions for Vectors")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Edit capacity of Vectors")
    dialog.get_by_label("Cloud Tokens").fill("100")
    expect(dialog.locator("[data-balance-after]")).to_have_text("-48")
    expect(dialog.locator("[data-balance-after]")).to_have_class("bad")
    expect(dialog.get_by_role("button", name="Save capacity")).to_be_disabled()
    page.screenshot(path=str(shots / "03-capacity-short.png"), full_page=True)
    dialog.get_by_label("Cloud Tokens").fill("20")
    expect(dialog.locator("[data-balance-after]")).to_have_text("32")
    dialog.get_by_role("button", name="Save capacity").click()
    expect(page.get_by_role("status")).to_have_text("Vectors now has 2k GU / month.")

    # Deprovision the KB through the ⋯ menu; its status shows the date.
    page.get_by_role("button", name="Actions for Support tickets").click()
    page.get_by_role("button", name="Deprovision").click()
    confirm = page.get_by_role("dialog", name="Deprovision Support tickets?")
    expect(confirm).to_contain_text("Vectors")
    expect(confirm).to_contain_text("eu-central-1")
    page.screenshot(path=str(shots / "04-deprovision-dialog.png"), full_page=True)
    confirm.get_by_role("button", name="Confirm deprovisioning").click()
    expect(page.get_by_role("status")).to_contain_text("Support tickets will be deprovisioned on")
    row = table.get_by_role("row").filter(has_text="Support tickets")
    expect(row).to_contain_text(re.compile(r"Deprovisioning on [A-Z][a-z]+ \d{1,2}, 20\d\d"))
    page.screenshot(path=str(shots / "02-overview.png"), full_page=True)
    page.set_viewport_size({"width": 1024, "height": 800})
    page.screenshot(path=str(shots / "05-overview-1024.png"), full_page=True)
    context.close()
