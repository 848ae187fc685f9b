"""The portal in Debian's Chromium, driven by Playwright: sign in, resources, upload, search, sign out.

The app runs under uvicorn in a thread on a free port (SQLite state, recorded task messages drained
in-process). Playwright never downloads a browser here; it launches /usr/bin/chromium.
"""

from __future__ import annotations

from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest

from kb_service.container import Container
from tests.conftest import Drainer
from tests.kb_service.portal.conftest import PASSWORD
from tests.kb_service.portal.live import LiveServer, seed_company

pytestmark = pytest.mark.browser


def test_sign_in_upload_search_and_sign_out_in_chromium(
    browser: object, live_server: LiveServer, live_container: Container, tmp_path: Path, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    # A bound on waiting for the page (a busy 2-core CI box), not a speed assertion.
    expect.set_options(timeout=20_000)
    kb_id = seed_company(live_container)
    drain = Drainer(live_container)
    shots = screenshots
    ticket = tmp_path / "printer-ticket.txt"
    ticket.write_text("The office printer jams on double-sided pages since the firmware update.\n")

    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{live_server.url}/portal/resources")
    expect(page).to_have_url(f"{live_server.url}/portal/sign-in")
    page.screenshot(path=str(shots / "01-sign-in.png"), full_page=True)

    page.get_by_label("Email").fill("admin@acme.example")
    page.get_by_label("Password").fill("wrong password, surely")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Incorrect email or password.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server.url}/portal/resources")
    table = page.get_by_role("table", name="Resources")
    expect(table).to_contain_text("Support tickets")
    expect(table).to_contain_text("Vectors")
    expect(table).to_contain_text("all-minilm-l6-v2")
    page.screenshot(path=str(shots / "02-resources.png"), full_page=True)

    # A form post without the CSRF token, with the signed-in session's cookie: refused.
    refused = context.request.post(
        f"{live_server.url}/portal/resources/{kb_id}/content/search", form={"query": "printer"}
    )
    assert refused.status == 403

    page.get_by_role("link", name="Support tickets").click()
    page.get_by_role("navigation", name="Resource sections").get_by_role("link", name="Content").click()
    expect(page.get_by_text("No documents yet.")).to_be_visible()
    page.get_by_label("TXT or PDF files").set_input_files(str(ticket))
    page.get_by_label("Collection", exact=True).fill("tickets")
    page.get_by_label("Metadata key").fill("Category")
    page.get_by_label("Metadata value").fill("Bug")
    page.get_by_role("button", name="Upload").click()
    documents = page.get_by_role("table", name="Documents")
    expect(documents).to_contain_text("printer-ticket.txt")
    expect(documents).to_contain_text("Category: Bug")
    expect(documents.locator("[data-status]")).to_have_text("queued")
    page.screenshot(path=str(shots / "03-content-queued.png"), full_page=True)

    assert drain() == 1
    # The page's status poll picks the change up without a reload.
    expect(documents.locator("[data-status]")).to_have_text("indexed")
    page.screenshot(path=str(shots / "04-content-indexed.png"), full_page=True)

    page.get_by_label("Question").fill("printer jams when printing both sides")
    page.get_by_role("checkbox", name="tickets").check()
    page.get_by_label("Filter key").fill("Category")
    page.get_by_label("Filter value").fill("Bug")
    page.get_by_label("Min similarity").fill("0.2")
    page.get_by_role("button", name="Search").click()
    hits = page.get_by_role("list", name="Search results")
    expect(hits).to_contain_text("The office printer jams")
    expect(hits).to_contain_text("Category: Bug")
    expect(hits).to_contain_text("similarity")
    page.screenshot(path=str(shots / "05-search.png"), full_page=True)

    page.get_by_label("Filter value").fill("Feature")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No chunk matches.")).to_be_visible()

    # Deleting asks first; the document and its chunks go.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete printer-ticket.txt").click()
    expect(page.get_by_role("status")).to_have_text("The document was deleted.")
    expect(page.get_by_text("No documents yet.")).to_be_visible()

    # Files dropped on the upload area are uploaded like chosen ones.
    dropped = page.evaluate_handle(
        """() => {
            const transfer = new DataTransfer();
            const text = "The VPN drops every hour on the hotel network.";
            transfer.items.add(new File([text], "vpn-ticket.txt", { type: "text/plain" }));
            return transfer;
        }"""
    )
    page.locator("[data-dropzone]").dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.get_by_text("Selected: vpn-ticket.txt")).to_be_visible()
    page.get_by_role("button", name="Upload").click()
    expect(documents).to_contain_text("vpn-ticket.txt")
    page.screenshot(path=str(shots / "06-content-dropped.png"), full_page=True)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server.url}/portal/sign-in")
    page.goto(f"{live_server.url}/portal/resources/{kb_id}/content")
    # Sign-in will return to the page asked for (next_page.safe_next).
    expect(page).to_have_url(
        f"{live_server.url}/portal/sign-in?next=%2Fportal%2Fresources%2F{kb_id}%2Fcontent"
    )
    context.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "01-sign-in.png",
        "02-resources.png",
        "03-content-queued.png",
        "04-content-indexed.png",
        "05-search.png",
        "06-content-dropped.png",
    ]
