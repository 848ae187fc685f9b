"""One company admin's day in the portal, end to end in Debian's Chromium.

Sign in; provision an embeddings resource and a knowledge base through the control center; create a
key and see its secret once; upload a real PDF with metadata and watch it reach `indexed`; find it in
the search playground with a metadata filter; read the embeddings resource's consumption chart (the
tokens the pipeline metered) and export the CSV; invite an external member, who joins through the
link and gets an external member's page; deprovision and see the scheduled date.

Each page's own behaviour has its own tests (test_control, test_keys, test_team, …); this one checks
that the pages join up the way a user walks through them. Ingestion runs in-process (the recorded
task messages are drained); the real worker is covered by tests/workers.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest
from sqlalchemy import func, select

from kb_service.clock import SystemClock
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.metering.models import UsageEvent
from kb_service.resources.models import Resource
from kb_service.services import unit_of_work
from tests.conftest import PDF_DIR, Drainer
from tests.kb_service.portal.conftest import PASSWORD
from tests.kb_service.portal.live import LiveServer

pytestmark = pytest.mark.browser

ADMIN = "ada@acme.example"
GUEST = "gus@elsewhere.example"
PDF = "sf-pdflatex-4-pages.pdf"


def _seed_admin(container: Container) -> None:
    """A company with Cloud Tokens and an admin who can sign in; no resources yet."""
    with unit_of_work(container, SystemClock()) as services:
        company = services.companies.create("Acme", cloud_tokens=100)
        users = services.users
        admin = users.create(company.id, ADMIN, name="Ada Admin", is_admin=True)
        users.set_password(admin.id, PASSWORD)
        users.create(company.id, "dana@acme.example", name="Dana Dev")  # whom the resources are for


def _resource_id(container: Container, display_name: str) -> str:
    with session_scope(container.sessions) as session:
        return session.scalars(select(Resource.id).where(Resource.display_name == display_name)).one()


def _metered_input_tokens(container: Container, resource_id: str) -> int:
    with session_scope(container.sessions) as session:
        total = session.scalar(
            select(func.coalesce(func.sum(UsageEvent.input_tokens), 0)).where(
                UsageEvent.resource_id == resource_id
            )
        )
        return int(total or 0)


def _provision(page: object, *, type_: str, name: str, extra: dict[str, str]) -> None:
    expect = playwright_sync.expect
    page.get_by_role("link", name="Provision Resource").click()  # type: ignore[attr-defined]
    page.get_by_label("Resource type").select_option(type_)  # type: ignore[attr-defined]
    page.get_by_label("Display name").fill(name)  # type: ignore[attr-defined]
    page.get_by_label("Region", exact=True).select_option("eu-central-1")  # type: ignore[attr-defined]
    for label, value in extra.items():
        field = page.get_by_label(label, exact=True)  # type: ignore[attr-defined]
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.get_by_label("Created for (name)").fill("Dana Dev")  # type: ignore[attr-defined]
    page.get_by_label("Created for (email)").fill("dana@acme.example")  # type: ignore[attr-defined]
    # The live specification appears once the form is valid (fetched from preview.json).
    expect(page.locator("#live-spec")).to_contain_text("Balance")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Review").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("heading", name="Review the resource specification")).to_be_visible()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Confirm and provision").click()  # type: ignore[attr-defined]
    expect(page.get_by_role("status")).to_contain_text(f"{name} was provisioned.")  # type: ignore[attr-defined]


def test_an_admin_provisions_fills_shares_and_deprovisions_a_knowledge_base(
    browser: object, live_server: LiveServer, live_container: Container, tmp_path: Path, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    # A bound on waiting for the page (a busy 2-core CI box), not a speed assertion.
    expect.set_options(timeout=20_000)
    _seed_admin(live_container)
    drain = Drainer(live_container)
    base = live_server.url
    shot = iter(range(1, 100))

    def snap(page: object, name: str) -> None:
        page.screenshot(path=str(screenshots / f"{next(shot):02d}-{name}.png"), full_page=True)  # type: ignore[attr-defined]

    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)  # type: ignore[attr-defined]
    page = context.new_page()

    # --- sign in -------------------------------------------------------------------------------
    page.goto(f"{base}/portal")
    expect(page).to_have_url(f"{base}/portal/sign-in")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("No resources yet")).to_be_visible()
    snap(page, "resources-empty")

    # --- provision an embeddings resource, then a KB linked to it ------------------------------
    page.get_by_role("link", name="Control center").click()
    expect(page.get_by_role("heading", name="GenAI Resources")).to_be_visible()
    _provision(
        page,
        type_="embeddings",
        name="Vectors",
        extra={"Models": "all-minilm-l6-v2", "Plan": "tokens", "Cloud Tokens": "10"},
    )
    _provision(
        page,
        type_="knowledge_base",
        name="Support tickets",
        extra={"Embeddings resource": _resource_id(live_container, "Vectors")},
    )
    overview = page.get_by_role("table", name="GenAI resources")
    expect(overview).to_contain_text("Vectors")
    expect(overview).to_contain_text("Support tickets")
    snap(page, "control-center")
    kb_id = _resource_id(live_container, "Support tickets")
    embeddings_id = _resource_id(live_container, "Vectors")

    # --- a key for the KB: the secret once, and it works ----------------------------------------
    # The control center opens a resource in a new tab, as the product documents say.
    with page.context.expect_page() as opened:
        overview.get_by_role("link", name="Support tickets").click()
    page = opened.value
    expect(page).to_have_url(f"{base}/portal/resources/{kb_id}/overview")
    page.get_by_role("navigation", name="Resource sections").get_by_role("link", name="Keys").click()
    page.get_by_label("Description").fill("Support chatbot")
    page.get_by_role("button", name="Create key").click()
    dialog = page.locator("#new-key-dialog")
    expect(dialog).to_be_visible()
    secret = page.locator("#new-key-secret").inner_text().strip()
    assert re.fullmatch(r"kb_\w+_\S+", secret), "the dialog shows a whole API key"
    snap(page, "key-shown-once")
    page.get_by_role("button", name="Done").click()
    works = context.request.get(
        f"{base}/v1/knowledge-bases/{kb_id}/documents", headers={"Authorization": f"Bearer {secret}"}
    )
    assert works.status == 200
    page.reload()
    expect(page.get_by_role("table", name="Keys")).to_contain_text("Support chatbot")
    assert secret not in page.content(), "the secret is shown once, never again"

    # --- upload a real PDF with metadata; it reaches `indexed` ----------------------------------
    page.get_by_role("navigation", name="Resource sections").get_by_role("link", name="Content").click()
    page.get_by_label("TXT or PDF files").set_input_files(str(PDF_DIR / PDF))
    page.get_by_label("Collection", exact=True).fill("manuals")
    page.get_by_label("Metadata key").fill("Category")
    page.get_by_label("Metadata value").fill("Guide")
    page.get_by_role("button", name="Upload").click()
    documents = page.get_by_role("table", name="Documents")
    expect(documents).to_contain_text(PDF)
    expect(documents.locator("[data-status]")).to_have_text("queued")
    assert drain() >= 1
    expect(documents.locator("[data-status]")).to_have_text("indexed")
    expect(documents).to_contain_text("Category: Guide")
    snap(page, "content-indexed")

    # --- find it in the playground, with a metadata filter --------------------------------------
    page.get_by_label("Question").fill("Is there a difference between this text and some nonsense?")
    page.get_by_role("checkbox", name="manuals").check()
    page.get_by_label("Filter key").fill("Category")
    page.get_by_label("Filter value").fill("Guide")
    page.get_by_role("button", name="Search").click()
    hits = page.get_by_role("list", name="Search results")
    expect(hits).to_contain_text("Huardest gefburn")
    expect(hits).to_contain_text("page")
    expect(hits).to_contain_text("Category: Guide")
    snap(page, "search-with-filter")

    # --- the embeddings resource meters what ingestion and search embedded ----------------------
    metered = _metered_input_tokens(live_container, embeddings_id)
    assert metered > 0
    page.goto(f"{base}/portal/resources/{embeddings_id}/consumption")
    page.wait_for_selector("html[data-charts-ready]", state="attached")
    charted = page.evaluate(
        """() => {
            const canvas = document.querySelector('canvas[aria-label="Input tokens per day"]');
            return Chart.getChart(canvas).data.datasets[0].data.reduce((sum, v) => sum + v, 0);
        }"""
    )
    assert charted == metered, "the input-token chart adds up to the metered tokens"
    expect(page.locator("[data-usage]")).to_be_visible()
    snap(page, "consumption")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download_info.value.path()).read_text())))
    assert sum(int(row["input_tokens"]) for row in rows) == metered

    # --- invite an external member, who joins through the link ---------------------------------
    page.goto(f"{base}/portal/resources/{kb_id}/team")
    page.get_by_role("button", name="Enable external invitations").click()
    invite = page.get_by_role("form", name="Invite external member")
    invite.get_by_label("Email").fill(GUEST)
    invite.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("dialog", name="Invitation link")).to_be_visible()
    link = page.locator("#invitation-link").inner_text().strip()
    assert link.startswith(f"{base}/portal/invitations/accept?token=")
    snap(page, "invitation-link")
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_role("table", name="Pending invitations")).to_contain_text(GUEST)

    guest_context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    guest = guest_context.new_page()
    guest.goto(link)
    guest.get_by_label("Name").fill("Gus Guest")
    guest.get_by_label("Password", exact=True).fill("another long passphrase")
    guest.get_by_label("Confirm password").fill("another long passphrase")
    snap(guest, "invitation-accept")
    guest.get_by_role("button", name="Create account and join").click()
    expect(guest).to_have_url(re.compile(rf"/portal/resources/{kb_id}"))
    # An external member: keys and content yes; team management, rename, environment and the
    # control center no — not offered (and refused by the services, tested per page).
    guest.get_by_role("navigation", name="Resource sections").get_by_role("link", name="Team").click()
    expect(guest.get_by_role("table", name="Members")).to_contain_text("External")
    expect(guest.get_by_role("button", name="Send invitation")).to_have_count(0)
    expect(guest.get_by_role("button", name="Add member")).to_have_count(0)
    snap(guest, "external-member-team")
    guest.get_by_role("navigation", name="Resource sections").get_by_role("link", name="Settings").click()
    expect(guest.get_by_role("button", name="Save name")).to_have_count(0)
    expect(guest.get_by_role("button", name="Save environment")).to_have_count(0)
    guest.get_by_role("navigation", name="Resource sections").get_by_role("link", name="Keys").click()
    expect(guest.get_by_role("button", name="Create key")).to_be_visible()
    expect(guest.get_by_role("link", name="Control center")).to_have_count(0)
    refused = guest_context.request.get(f"{base}/portal/control")
    assert refused.status == 403
    guest.get_by_role("link", name="Invitations").click()
    expect(guest.get_by_text("No pending invitations")).to_be_visible()
    snap(guest, "invitations-empty")
    guest_context.close()

    page.reload()
    members = page.get_by_role("table", name="Members")
    expect(members.get_by_role("row", name=re.compile(GUEST))).to_contain_text("External")

    # --- deprovision the KB: the scheduled date shows in its status -----------------------------
    page.goto(f"{base}/portal/control")
    page.get_by_role("button", name="Actions for Support tickets").click()
    page.get_by_role("button", name="Deprovision").click()
    expect(page.get_by_role("dialog", name="Deprovision Support tickets?")).to_be_visible()
    snap(page, "deprovision-dialog")
    page.get_by_role("button", name="Confirm deprovisioning").click()
    row = page.get_by_role("table", name="GenAI resources").get_by_role(
        "row", name=re.compile("Support tickets")
    )
    expect(row).to_contain_text(re.compile(r"Deprovisioning on [A-Z][a-z]+ \d{1,2}, \d{4}"))
    snap(page, "deprovision-scheduled")

    # A laptop-sized window: the pages reflow, nothing needs sideways scrolling.
    page.set_viewport_size({"width": 1024, "height": 768})
    for path, name in (
        ("/portal/control", "control-1024"),
        (f"/portal/resources/{kb_id}/content", "content-1024"),
        (f"/portal/resources/{embeddings_id}/consumption", "consumption-1024"),
    ):
        page.goto(f"{base}{path}")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 1024px"
        snap(page, name)
    context.close()
