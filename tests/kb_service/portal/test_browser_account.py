"""Company settings, "Your tokens" and sign-in's return to the page asked for, in Chromium.

- An admin switches external invitations off in the control center (a confirmation names the
  pending invitation it withdraws; its link then reads "withdrawn") and on again.
- A user creates a personal access token on "Your tokens" that works on `/v1` (httpx against the
  live app), revokes it (then 401), changes the password and signs in with the new one.
- Sign-in returns to the page asked for, and never to another site.
- With 0 free Cloud Tokens, "Provision Resource" is disabled with the reason and the form says so.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import httpx
import playwright.sync_api as playwright_sync
import pytest

from kb_service.auth.principals import actor_of
from kb_service.clock import SystemClock
from kb_service.container import Container
from kb_service.services import unit_of_work
from tests.kb_service.portal.conftest import PASSWORD
from tests.kb_service.portal.live import LiveServer
from tests.kb_service.portal.test_browser_control import ADMIN as ZERO_ADMIN
from tests.kb_service.portal.test_browser_control import seed_admin

pytestmark = pytest.mark.browser

ADMIN = "admin@acme.example"
GUEST = "olga.outside@elsewhere.example"
NEW_PASSWORD = "a brand new passphrase, long enough"


def seed_company(container: Container) -> str:
    """Acme: an admin with a password, an embeddings resource and a KB made for the admin; the KB's id.

    (Like `live.seed_company`, with the resources created for a user of the company, so no
    invitation rule is involved.)"""
    from schemas.resources import ProvisionRequest

    with unit_of_work(container, SystemClock()) as services:
        company = services.companies.create("Acme", cloud_tokens=1000)
        user = services.users.create(company.id, ADMIN, name="Ada Admin", is_admin=True)
        services.users.set_password(user.id, PASSWORD)
        actor = actor_of(user)
        common = {
            "environment": "Test",
            "region": "eu-central-1",
            "created_for": {"name": "Ada Admin", "email": ADMIN},
        }
        embeddings = services.resources.provision(
            actor,
            ProvisionRequest.model_validate(
                {"type": "embeddings", "display_name": "Vectors", "models": ["all-minilm-l6-v2"],
                 "cloud_tokens": 6, **common}
            ),
        )  # fmt: skip
        kb = services.resources.provision(
            actor,
            ProvisionRequest.model_validate(
                {"type": "knowledge_base", "display_name": "Support tickets", "plan": "Standard",
                 "embeddings_resource_id": embeddings.resource.id, **common}
            ),
        )  # fmt: skip
        return kb.resource.id


def _sign_in(page: playwright_sync.Page, email: str, password: str = PASSWORD) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def _invite(container: Container, kb_id: str) -> str:
    """An invitation of GUEST to the KB, made by the admin through the service; its link."""
    with unit_of_work(container, SystemClock()) as services:
        admin = services.users.by_email(ADMIN)
        assert admin is not None
        issued = services.teams.invite(actor_of(admin), kb_id, GUEST)
        return issued.accept_url


def test_company_settings_switch_external_invitations_off_and_on(
    browser: object, live_server: LiveServer, live_container: Container, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    kb_id = seed_company(live_container)
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{base}/portal/control")
    _sign_in(page, ADMIN)
    expect(page).to_have_url(f"{base}/portal/control")  # back to the page asked for
    page.get_by_role("link", name="Company settings").click()
    expect(page.get_by_role("heading", name="Company settings")).to_be_visible()
    state = page.locator("[data-external-state]")
    expect(state).to_have_text("Off")

    page.get_by_role("button", name="Switch external invitations on").click()
    expect(page.get_by_role("status")).to_contain_text("External invitations are on")
    expect(state).to_have_text("On")
    link = _invite(live_container, kb_id)
    page.reload()
    pending = page.get_by_role("table", name="Pending invitations")
    expect(pending).to_contain_text(GUEST)
    expect(pending).to_contain_text("Support tickets")
    page.screenshot(path=str(screenshots / "01-company-settings-on.png"), full_page=True)

    # Off: asked first, naming what happens to the pending invitation.
    page.get_by_role("button", name="Switch external invitations off").click()
    confirm = page.get_by_role("alertdialog", name="Switch external invitations off?")
    expect(confirm).to_contain_text(
        "1 pending invitation will be withdrawn and its link will no longer work."
    )
    page.screenshot(path=str(screenshots / "02-confirm-off.png"), full_page=True)
    confirm.get_by_role("link", name="Keep them on").click()
    expect(state).to_have_text("On")
    page.get_by_role("button", name="Switch external invitations off").click()
    page.get_by_role("button", name="Switch off and withdraw invitations").click()
    expect(page.get_by_role("status")).to_have_text(
        "External invitations are off. 1 pending invitation was withdrawn; their links no longer work."
    )
    expect(state).to_have_text("Off")
    expect(page.get_by_text("No pending invitations on your company's resources.")).to_be_visible()
    page.screenshot(path=str(screenshots / "03-company-settings-off.png"), full_page=True)

    # The invitee's link is dead; the team tab offers nothing to invite with; the log says why.
    guest = browser.new_context().new_page()  # type: ignore[attr-defined]
    guest.goto(f"{base}{link}")
    expect(guest.get_by_role("alert")).to_contain_text("This invitation was withdrawn by the team.")
    guest.screenshot(path=str(screenshots / "04-withdrawn-link.png"), full_page=True)
    guest.context.close()
    page.goto(f"{base}/portal/resources/{kb_id}/team")
    expect(page.get_by_text("External invitations are disabled for your company.")).to_be_visible()
    with unit_of_work(live_container, SystemClock()) as services:
        actions = [
            (e.action, e.detail.get("reason"))
            for e in services.activity_repository.page(kb_id, offset=0, limit=100)[0]
        ]
    assert ("invitation.withdrawn", "external invitations switched off") in actions

    # And on again, from the settings page: the Team tab can invite once more.
    page.goto(f"{base}/portal/control/settings")
    page.get_by_role("button", name="Switch external invitations on").click()
    expect(state).to_have_text("On")
    page.goto(f"{base}/portal/resources/{kb_id}/team")
    expect(page.get_by_role("form", name="Invite external member")).to_be_visible()
    context.close()


def test_your_tokens_page_token_works_on_v1_and_password_change(
    browser: object, live_server: LiveServer, live_container: Container, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    kb_id = seed_company(live_container)
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()

    # Sign-in never sends the browser to another site, whatever `next` says.
    for evil in (
        "https://evil.example/portal/x",
        "//evil.example/portal/",
        "/portal/../../x",
        "/\\evil.example",
    ):
        page.goto(f"{base}/portal/sign-in?{urlencode({'next': evil})}")
        assert page.locator("input[name=next]").count() == 0
    page.goto(f"{base}/portal/tokens")
    expect(page).to_have_url(f"{base}/portal/sign-in?next=%2Fportal%2Ftokens")
    _sign_in(page, ADMIN)
    expect(page).to_have_url(f"{base}/portal/tokens")
    expect(page.get_by_role("heading", name="Your tokens")).to_be_visible()
    expect(page.get_by_text("No tokens yet.")).to_be_visible()

    page.get_by_label("Description").fill("CLI on my laptop")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Your new token")).to_be_visible()
    secret = page.locator("#new-token-secret").inner_text().strip()
    assert secret.startswith("pat_")
    rows = page.get_by_role("table", name="Personal access tokens")
    expect(rows).to_contain_text("CLI on my laptop")
    expect(rows).to_contain_text(f"{secret.split('_')[0]}_{secret.split('_')[1]}_…")
    assert secret not in rows.inner_text()  # the list shows the prefix only
    page.screenshot(path=str(screenshots / "01-new-token.png"), full_page=True)

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}) as api:
        me = api.get("/v1/me")
        assert me.status_code == 200, me.text
        assert me.json()["email"] == ADMIN
        listed = api.get("/v1/resources")
        assert listed.status_code == 200
        assert kb_id in {r["id"] for r in listed.json()}
    page.goto(f"{base}/portal/tokens")
    expect(rows.locator("tbody tr").first).not_to_contain_text("Never")  # last used is recorded
    page.get_by_role("button", name="Revoke CLI on my laptop").click()
    expect(page.get_by_role("status")).to_contain_text("was revoked")
    expect(rows).to_contain_text("Revoked")
    assert httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401

    # Password: the current one is required, then the new one signs in and the old one does not.
    page.get_by_label("Current password").fill("not my password at all")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("The current password is not correct.")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password was changed.")
    page.screenshot(path=str(screenshots / "02-password-changed.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, ADMIN, PASSWORD)
    expect(page.get_by_role("alert")).to_have_text("Incorrect email or password.")
    _sign_in(page, ADMIN, NEW_PASSWORD)
    expect(page).to_have_url(f"{base}/portal/resources")
    context.close()


def test_provision_says_up_front_when_no_cloud_tokens_are_free(
    browser: object, live_server: LiveServer, live_container: Container, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    seed_admin(live_container, tokens=0)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()  # type: ignore[attr-defined]
    page.goto(f"{live_server.url}/portal/control")
    _sign_in(page, ZERO_ADMIN)
    reason = (
        "Not enough free Cloud Tokens: your company has 0 free and the smallest resource needs 1 Cloud Token"
    )
    expect(page.get_by_role("button", name="Provision Resource")).to_be_disabled()
    expect(page.get_by_role("link", name="Provision Resource")).to_have_count(0)
    expect(page.locator("#prerequisite")).to_contain_text(reason)
    balance = page.get_by_role("region", name="Cloud Tokens")
    expect(balance.locator("dd.big")).to_have_text("0")
    page.screenshot(path=str(screenshots / "01-no-free-tokens.png"), full_page=True)
    page.goto(f"{live_server.url}/portal/control/provision")
    expect(page.locator("#prerequisite")).to_contain_text(reason)
    expect(page.get_by_role("button", name="Review")).to_be_disabled()
    page.context.close()
