"""The Team tab in Chromium: an admin enables external invitations, invites an outsider and copies the
link from the dialog; the outsider opens it in another browser, creates an account and lands on the
knowledge base as an external member, without the team-management controls."""

from __future__ import annotations

from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest

from kb_service.container import Container
from tests.kb_service.portal.conftest import PASSWORD
from tests.kb_service.portal.live import LiveServer, seed_company

pytestmark = pytest.mark.browser

GUEST = "gus.guest@elsewhere.example"
GUEST_PASSWORD = "guest passphrase, long enough"


def test_invite_an_external_member_who_joins_through_the_link(
    browser: object, live_server: LiveServer, live_container: Container, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    kb_id = seed_company(live_container)
    base = live_server.url
    shots = screenshots

    admin_context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = admin_context.new_page()
    page.goto(f"{base}/portal/sign-in")
    page.get_by_label("Email").fill("admin@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/portal/resources/{kb_id}")
    page.get_by_role("navigation", name="Resource sections").get_by_role("link", name="Team").click()
    expect(page).to_have_url(f"{base}/portal/resources/{kb_id}/team")
    expect(page.get_by_text("External invitations are disabled for your company.")).to_be_visible()
    page.screenshot(path=str(shots / "01-team-invitations-disabled.png"), full_page=True)
    page.get_by_role("button", name="Enable external invitations").click()
    expect(page.get_by_role("status")).to_have_text("External invitations are now enabled for your company.")

    invite = page.get_by_role("form", name="Invite external member")
    invite.get_by_label("Email").fill(GUEST)
    page.screenshot(path=str(shots / "02-team-tab.png"), full_page=True)
    invite.get_by_role("button", name="Send invitation").click()
    dialog = page.get_by_role("dialog", name="Invitation link")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Send this link to {GUEST}; it works once and expires on")
    link = page.locator("#invitation-link").inner_text().strip()
    assert link.startswith(f"{base}/portal/invitations/accept?token=")
    page.screenshot(path=str(shots / "03-link-dialog.png"), full_page=True)
    dialog.get_by_role("button", name="Copy link").click()
    expect(dialog.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == link
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()
    pending = page.get_by_role("table", name="Pending invitations")
    expect(pending).to_contain_text(GUEST)
    expect(pending.get_by_role("button", name="Withdraw")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/portal/sign-in")

    guest_context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    guest = guest_context.new_page()
    guest.goto(link)
    expect(guest.get_by_role("heading", name="Join Support tickets")).to_be_visible()
    expect(guest.get_by_role("heading", name="Create your account")).to_be_visible()
    guest.get_by_label("Name").fill("Gus Guest")
    guest.get_by_label("Password", exact=True).fill(GUEST_PASSWORD)
    guest.get_by_label("Confirm password").fill("not the same passphrase")
    guest.get_by_role("button", name="Create account and join").click()
    expect(guest.get_by_role("alert")).to_have_text("The passwords do not match.")
    guest.get_by_label("Password", exact=True).fill(GUEST_PASSWORD)
    guest.get_by_label("Confirm password").fill(GUEST_PASSWORD)
    guest.screenshot(path=str(shots / "04-acceptance-page.png"), full_page=True)
    guest.get_by_role("button", name="Create account and join").click()

    expect(guest).to_have_url(f"{base}/portal/resources/{kb_id}/overview")
    expect(guest.get_by_role("banner").get_by_text(GUEST)).to_be_visible()  # signed in as the new account
    tabs = guest.get_by_role("navigation", name="Resource sections")
    for label in ("Content", "Team", "Keys", "Settings"):
        expect(tabs.get_by_role("link", name=label)).to_be_visible()
    tabs.get_by_role("link", name="Team").click()
    members = guest.get_by_role("table", name="Members")
    expect(members).to_contain_text("Gus Guest")
    expect(
        guest.get_by_text("Only internal team members and company admins manage this team.")
    ).to_be_visible()
    expect(guest.get_by_role("button", name="Send invitation")).to_have_count(0)
    expect(guest.get_by_role("form", name="Invite external member")).to_have_count(0)
    expect(guest.get_by_role("button", name="Add member")).to_have_count(0)
    expect(members.get_by_role("button")).to_have_count(0)
    guest.screenshot(path=str(shots / "05-external-member-view.png"), full_page=True)
    # The link is spent.
    guest_context.close()
    spent = browser.new_context().new_page()  # type: ignore[attr-defined]
    spent.goto(link)
    expect(spent.get_by_role("alert")).to_contain_text("already been accepted")
    spent.context.close()

    page.get_by_label("Email").fill("admin@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/portal/resources/{kb_id}/team")
    row = page.get_by_role("table", name="Members").get_by_role("row").filter(has_text=GUEST)
    expect(row).to_contain_text("External")
    expect(row.get_by_role("button", name=f"Remove {GUEST}")).to_be_visible()
    expect(page.get_by_text("No pending invitations.")).to_be_visible()
    page.screenshot(path=str(shots / "06-team-with-external-member.png"), full_page=True)
    admin_context.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "01-team-invitations-disabled.png",
        "02-team-tab.png",
        "03-link-dialog.png",
        "04-acceptance-page.png",
        "05-external-member-view.png",
        "06-team-with-external-member.png",
    ]
