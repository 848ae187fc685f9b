"""The Keys and Settings tabs in Chromium: a secret shown once and copied, revoke, rename.

Runs on /usr/bin/chromium through Playwright with the live server of `live.py`.
"""

from __future__ import annotations

import re
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest

from kb_service.container import Container
from tests.kb_service.portal.conftest import PASSWORD
from tests.kb_service.portal.live import LiveServer, seed_company

pytestmark = pytest.mark.browser


def test_create_copy_revoke_a_key_and_rename_in_chromium(
    browser: object, live_server: LiveServer, live_container: Container, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    kb_id = seed_company(live_container)
    shots = screenshots
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()

    page.goto(f"{live_server.url}/portal/sign-in")
    page.get_by_label("Email").fill("admin@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Support tickets").click()
    page.get_by_role("link", name="Keys", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/portal/resources/{kb_id}/keys")
    expect(page.get_by_text("No keys yet.")).to_be_visible()

    page.get_by_label("Description").fill("Helpdesk app")
    page.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name="Your new key")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("will not be shown again")
    secret = page.locator("#new-key-secret").inner_text().strip()
    assert re.fullmatch(r"kb_[A-Za-z0-9]+_\S+", secret), secret
    expect(dialog).to_contain_text("Paired embeddings key")
    page.screenshot(path=str(shots / "01-key-dialog.png"), full_page=True)

    dialog.get_by_role("button", name="Copy key").click()
    expect(dialog.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()
    # The history entry was turned into the list page: a reload lists, it does not create again.
    expect(page).to_have_url(f"{live_server.url}/portal/resources/{kb_id}/keys")
    page.reload()
    expect(page.locator("#new-key-secret")).to_have_count(0)
    assert secret not in page.content()
    keys = page.get_by_role("table", name="Keys")
    expect(keys.locator("tbody tr")).to_have_count(1)
    expect(keys).to_contain_text("Helpdesk app")
    expect(keys).to_contain_text("Paired embeddings key")
    expect(keys).to_contain_text("Never")
    page.screenshot(path=str(shots / "02-keys-list.png"), full_page=True)

    page.once("dialog", lambda confirm: confirm.accept())
    page.get_by_role("button", name="Revoke Helpdesk app").click()
    expect(page.get_by_role("status")).to_contain_text("The key Helpdesk app was revoked")
    expect(keys).to_contain_text("Revoked")
    expect(page.get_by_role("button", name="Revoke Helpdesk app")).to_have_count(0)
    page.screenshot(path=str(shots / "03-key-revoked.png"), full_page=True)

    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_label("Display name").fill("Helpdesk knowledge")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_role("status")).to_have_text("The display name was saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Helpdesk knowledge")
    expect(page.get_by_label("Environment")).to_have_value("Test")
    page.get_by_role("link", name="Vectors").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vectors")
    page.get_by_role("link", name="Keys", exact=True).click()
    expect(page.get_by_role("table", name="Keys")).to_contain_text(
        "Created automatically for knowledge base Helpdesk knowledge"
    )
    page.screenshot(path=str(shots / "05-embeddings-keys.png"), full_page=True)
    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page.get_by_role("link", name="Helpdesk knowledge")).to_be_visible()
    expect(page.get_by_text("GenAI Units / month")).to_be_visible()
    expect(page.get_by_label("Default model")).to_have_count(0)
    page.screenshot(path=str(shots / "06-embeddings-settings.png"), full_page=True)
    page.get_by_role("link", name="Helpdesk knowledge").click()
    page.get_by_role("link", name="Settings", exact=True).click()
    page.screenshot(path=str(shots / "04-settings.png"), full_page=True)
    context.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "01-key-dialog.png",
        "02-keys-list.png",
        "03-key-revoked.png",
        "04-settings.png",
        "05-embeddings-keys.png",
        "06-embeddings-settings.png",
    ]
