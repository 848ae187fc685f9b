"""Real PDFs through the Content page in Chromium: an encrypted one with its password, a metadata
filter in the search playground, page numbers on hits, and the activity card.

The PDFs are read from the shared sample folder (never copied into the repository).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest

from kb_service.container import Container
from tests.conftest import Drainer
from tests.kb_service.portal.conftest import PASSWORD
from tests.kb_service.portal.live import LiveServer, seed_company

pytestmark = pytest.mark.browser

PDFS = Path(__file__).resolve().parents[4] / "shared" / "pdfs"
PROSE = "sf-pdflatex-4-pages.pdf"
ENCRYPTED = "sf-libreoffice-writer-password.pdf"


@pytest.mark.skipif(not PDFS.is_dir(), reason="the shared sample PDFs are not here")
def test_upload_real_pdfs_with_a_password_and_find_them_by_metadata(
    browser: object, live_server: LiveServer, live_container: Container, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    manifest = {e["file"]: e for e in json.loads((PDFS / "manifest.json").read_text())}
    password = manifest[ENCRYPTED]["password"]
    assert manifest[ENCRYPTED]["encrypted"] and password
    kb_id = seed_company(live_container)
    drain = Drainer(live_container)

    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{live_server.url}/portal/sign-in")
    page.get_by_label("Email").fill("admin@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/portal/resources")
    page.goto(f"{live_server.url}/portal/resources/{kb_id}/content")
    activity = page.get_by_role("table", name="Activity")
    expect(activity).not_to_contain_text("Uploaded document")  # only the provisioning so far

    page.get_by_label("TXT or PDF files").set_input_files([str(PDFS / PROSE), str(PDFS / ENCRYPTED)])
    page.get_by_label("Collection", exact=True).fill("manuals")
    page.get_by_label("Metadata key").fill("Category")
    page.get_by_label("Metadata value").fill("Guide")
    pdf_password = page.get_by_label("PDF password")
    expect(pdf_password).to_have_attribute("type", "password")
    expect(pdf_password).to_have_attribute("autocomplete", "off")
    pdf_password.fill(password)
    page.screenshot(path=str(screenshots / "01-upload-form.png"), full_page=True)
    page.get_by_role("button", name="Upload").click()

    expect(page.get_by_role("status")).to_have_text("2 file(s) queued for indexing.")
    expect(page.get_by_label("PDF password")).to_have_value("")
    assert password not in page.content()
    documents = page.get_by_role("table", name="Documents")
    expect(documents).to_contain_text(PROSE)
    expect(documents).to_contain_text(ENCRYPTED)
    expect(page.get_by_text("Showing 1–2 of 2")).to_be_visible()

    assert drain() == 2
    # The page's status poll picks both up without a reload.
    expect(documents.locator("[data-status]")).to_have_text(["indexed", "indexed"])
    prose_row = documents.locator("tr", has_text=PROSE)
    expect(prose_row.locator("[data-pages]")).to_have_text("4")
    expect(prose_row).to_contain_text("Category: Guide")
    page.screenshot(path=str(screenshots / "02-indexed.png"), full_page=True)

    page.get_by_label("Question").fill("how the letters of the selected font are written")
    page.get_by_role("checkbox", name="manuals").check()
    page.get_by_label("Filter key").fill("Category")
    page.get_by_label("Filter value").fill("Guide")
    page.get_by_role("button", name="Search").click()
    hits = page.get_by_role("list", name="Search results")
    expect(hits).to_contain_text("Category: Guide")
    expect(hits.locator(".hit-head").first).to_contain_text(re.compile(r"manuals · page [1-4]"))
    # Each hit names its source file, so a reader can tell where it came from.
    expect(hits.locator(".hit-source").first).to_contain_text(re.compile(r"\.pdf$"))
    expect(hits).to_contain_text("selected font")
    page.screenshot(path=str(screenshots / "03-search.png"), full_page=True)

    page.get_by_label("Filter value").fill("Invoice")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No chunk matches.")).to_be_visible()

    # The activity card lists the uploads (and the collection they created) under the user's email.
    page.reload()
    expect(activity).to_contain_text("Uploaded document")
    expect(activity.locator("tbody tr", has_text=PROSE)).to_contain_text("admin@acme.example")
    expect(activity.locator("tbody tr", has_text=ENCRYPTED)).to_contain_text("manuals")
    expect(activity.locator("tbody tr", has_text="Created collection")).to_contain_text("manuals")
    page.get_by_role("heading", name="Activity").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "04-activity.png"), full_page=True)
    context.close()
    assert sorted(p.name for p in screenshots.iterdir()) == [
        "01-upload-form.png",
        "02-indexed.png",
        "03-search.png",
        "04-activity.png",
    ]


def test_repeated_wrong_passwords_get_the_throttle_message(
    browser: object, live_server: LiveServer, live_container: Container, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    seed_company(live_container)
    limit = live_container.settings.portal.sign_in_max_failures_per_email
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(f"{live_server.url}/portal/sign-in")
    for _ in range(limit):
        page.get_by_label("Email").fill("admin@acme.example")
        page.get_by_label("Password").fill("wrong password, surely")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Incorrect email or password.")
    # Now even the right password is refused, before it is checked.
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Too many sign-in attempts. Try again in 15 minutes.")
    expect(page.get_by_label("Email")).to_have_value("admin@acme.example")
    page.screenshot(path=str(screenshots / "01-throttled.png"), full_page=True)
    page.close()
