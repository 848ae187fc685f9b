"""The Overview tab, its documentation snippets, the control center's new-tab link, the Try it panel
and the plan quotas, in Chromium against the live app (`live.py`).

A snippet is read from the page as the copy button copies it and run with `curl` against the same
live server, with a key made on the page: what the page says an app does, works.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_sync
import pytest

from kb_service.auth.principals import actor_of
from kb_service.clock import SystemClock
from kb_service.container import Container
from kb_service.services import unit_of_work
from schemas.resources import ProvisionRequest
from tests.conftest import PDF_DIR, Drainer
from tests.kb_service.portal.conftest import PASSWORD
from tests.kb_service.portal.live import LiveServer

pytestmark = pytest.mark.browser

PDF = PDF_DIR / "sf-pdflatex-4-pages.pdf"
CURL = shutil.which("curl")


def _seed(container: Container) -> dict[str, str]:
    """Acme: an admin with a password, Dana (a user the resources are made for), an embeddings
    resource "Vectors" (6 Cloud Tokens), a KB on it and a text resource (plan S); their ids."""
    with unit_of_work(container, SystemClock()) as services:
        company = services.companies.create("Acme", cloud_tokens=1000)
        admin = services.users.create(company.id, "admin@acme.example", name="Ada Admin", is_admin=True)
        services.users.set_password(admin.id, PASSWORD)
        services.users.create(company.id, "dana@acme.example", name="Dana Dev")
        actor = actor_of(admin)
        common = {
            "environment": "Test",
            "region": "eu-central-1",
            "created_for": {"name": "Dana Dev", "email": "dana@acme.example"},
        }

        def provision(**fields: object) -> str:
            request = ProvisionRequest.model_validate({**common, **fields})
            return services.resources.provision(actor, request).resource.id

        embeddings = provision(
            type="embeddings", display_name="Vectors", models=["all-minilm-l6-v2"], cloud_tokens=6
        )
        kb = provision(
            type="knowledge_base",
            display_name="Support tickets",
            plan="Standard",
            embeddings_resource_id=embeddings,
        )
        text = provision(
            type="text_generation",
            display_name="Assistant",
            models=["anthropic.claude-haiku-4-5", "anthropic.claude-sonnet-4-5"],
            default_model="anthropic.claude-sonnet-4-5",
            plan="S",
        )
        return {"embeddings": embeddings, "kb": kb, "text": text}


def _run(snippet: str, key: str, cwd: Path) -> Any:
    assert CURL is not None, "curl is needed to run the documentation snippets"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KEY": key}
    done = subprocess.run(
        ["/bin/bash", "-c", snippet],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_overview_snippets_new_tab_try_it_and_plan_quotas_in_chromium(
    browser: object,
    live_server: LiveServer,
    live_container: Container,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    ids = _seed(live_container)
    kb_id, text_id, embeddings_id = ids["kb"], ids["text"], ids["embeddings"]
    drain = Drainer(live_container)
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    page.goto(f"{base}/portal/sign-in")
    page.get_by_label("Email").fill("admin@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # --- the control center opens a resource in a new tab, on its Overview ------------------------
    page.goto(f"{base}/portal/control")
    link = page.get_by_role("table", name="GenAI resources").get_by_role("link", name="Support tickets")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener")
    with context.expect_page() as opened:
        link.click()
    kb_page = opened.value
    expect(kb_page).to_have_url(f"{base}/portal/resources/{kb_id}/overview")
    assert kb_page.evaluate("window.opener") is None, "rel=noopener: the new tab cannot reach its opener"
    sections = kb_page.get_by_role("navigation", name="Resource sections")
    expect(sections.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
    glance = kb_page.get_by_label("Resource at a glance")
    for shown in ("Active", "Knowledge base", "Test", "eu-central-1", "Plan Standard"):
        expect(glance).to_contain_text(shown)
    expect(kb_page.locator('[data-card-figure="keys"]')).to_have_text("0 active keys")
    expect(kb_page.locator('[data-card-figure="team"]')).to_contain_text("1 member")
    expect(kb_page.locator('[data-card-figure="content"]')).to_contain_text("Documents")
    expect(kb_page.locator('[data-card-figure="consumption"]')).to_contain_text("/ 600 GU")
    kb_page.screenshot(path=str(screenshots / "01-kb-overview.png"), full_page=True)

    # --- "Create key" on the card: the secret once, on the Keys tab --------------------------------
    kb_page.get_by_label("Description").fill("Docs snippets")
    kb_page.get_by_role("button", name="Create key").click()
    expect(kb_page.get_by_role("dialog", name="Your new key")).to_be_visible()
    secret = kb_page.locator("#new-key-secret").inner_text().strip()
    kb_page.get_by_role("button", name="Done").click()
    sections.get_by_role("link", name="Overview").click()
    expect(kb_page.locator('[data-card-figure="keys"]')).to_have_text("1 active key")

    # --- a snippet copied from the page runs with curl against the live app ------------------------
    search = kb_page.locator('[data-snippet="kb-search"]')
    search.get_by_role("button", name="Copy: Search").click()
    expect(search.get_by_role("button", name="Copy: Search")).to_have_text("Copied")
    copied = kb_page.evaluate("navigator.clipboard.readText()")
    assert copied == kb_page.locator("#snippet-kb-search").inner_text().strip()
    assert f"{base}/v1/knowledge-bases/{kb_id}/search" in copied and "$KEY" in copied
    found = _run(copied, secret, tmp_path)
    assert found["results"] == [], found  # an empty KB answers, with no hits yet
    (tmp_path / "manual.pdf").symlink_to(PDF)
    upload = kb_page.locator("#snippet-kb-upload").inner_text()
    accepted = _run(upload, secret, tmp_path)
    assert accepted["status"] == "queued" and accepted["collection"] == "Manuals", accepted
    assert drain() >= 1
    again = _run(copied, secret, tmp_path)
    assert again["results"], "after the upload snippet, the search snippet finds the PDF"
    kb_page.reload()
    content = kb_page.locator('[data-card-figure="content"]')
    expect(content).to_contain_text("Documents1")  # dt + dd, no space in the text content
    kb_page.screenshot(path=str(screenshots / "02-kb-overview-after-snippets.png"), full_page=True)

    # --- a model resource's overview: models by name, plan quota, gateway snippets ----------------
    page.goto(f"{base}/portal/resources/{text_id}")
    expect(page).to_have_url(f"{base}/portal/resources/{text_id}/overview")
    glance = page.get_by_label("Resource at a glance")
    expect(glance).to_contain_text("Anthropic Claude Sonnet 4.5 (default)")
    expect(glance).to_contain_text("Plan S: 2.5M input and 1.25M output tokens a month")
    expect(page.locator("#snippet-chat")).to_contain_text(f"{base}/v1/chat/completions")
    models = page.locator("#snippet-models").inner_text()
    with unit_of_work(live_container, SystemClock()) as services:
        text_key = services.keys.create(text_id, "browser test").secret
    listed = _run(models, text_key, tmp_path)
    assert [m["id"] for m in listed["data"]] == [
        "anthropic.claude-haiku-4-5",
        "anthropic.claude-sonnet-4-5",
    ]
    page.screenshot(path=str(screenshots / "03-text-overview.png"), full_page=True)
    # Text on the embedded default: the gateway's refusal, naming the setting.
    page.get_by_role("navigation", name="Resource sections").get_by_role("link", name="Try it").click()
    page.get_by_label("Prompt").fill("Hello")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("KB_TEXT__PROVIDER")
    page.screenshot(path=str(screenshots / "04-text-try-it-not-configured.png"), full_page=True)

    # --- Try it on the embeddings resource: tokens and GU, then in the consumption charts --------
    page.goto(f"{base}/portal/resources/{embeddings_id}/try")
    page.get_by_label("Texts").fill("What is the refund policy?\nHow long does shipping take?")
    page.get_by_label("Input type").select_option("search_query")
    page.get_by_role("button", name="Embed").click()
    expect(page.locator("[data-try-vectors]")).to_contain_text("2 vectors of 384 dimensions")
    tokens = int(page.locator("[data-try-input-tokens]").inner_text().replace(",", ""))
    units = float(page.locator("[data-try-gu]").inner_text())
    assert tokens > 0 and units == round(tokens * 30.23 / 1_000_000, 4)
    page.screenshot(path=str(screenshots / "05-embeddings-try-it.png"), full_page=True)
    before = _charted_input_tokens(page, base, embeddings_id)
    page.goto(f"{base}/portal/resources/{embeddings_id}/try")
    page.get_by_label("Texts").fill("One more text")
    page.get_by_role("button", name="Embed").click()
    more = int(page.locator("[data-try-input-tokens]").inner_text().replace(",", ""))
    assert _charted_input_tokens(page, base, embeddings_id) == before + more
    page.screenshot(path=str(screenshots / "06-consumption-after-try-it.png"), full_page=True)

    # --- the plans' token quotas in the provision form, settings and consumption ------------------
    page.goto(f"{base}/portal/control/provision")
    claude = page.get_by_role("table", name="Anthropic Claude (any version) plan quotas")
    expect(claude).to_contain_text("2.5M")
    expect(claude).to_contain_text("1.25M")
    expect(claude).to_contain_text("10M")
    expect(claude).to_contain_text("3,000")  # S: 30 Cloud Tokens = 3,000 GU
    cohere = page.get_by_role("table", name="Cohere Embed v3 plan quotas")
    for quota in ("5M", "10M", "20M", "600", "1,200", "2,400"):
        expect(cohere).to_contain_text(quota)
    page.locator(".plan-quotas").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "07-provision-plan-quotas.png"), full_page=True)
    page.goto(f"{base}/portal/resources/{text_id}/settings")
    expect(page.locator("[data-plan-quota]")).to_contain_text("within its 3,000 GU a month")
    page.goto(f"{base}/portal/resources/{embeddings_id}/consumption")
    expect(page.locator("[data-plan-quota]")).to_contain_text("no token quota")

    # --- the new pages at phone width: nothing overflows sideways ---------------------------------
    phone = browser.new_context(viewport={"width": 375, "height": 800})  # type: ignore[attr-defined]
    phone.add_cookies(context.cookies())
    small = phone.new_page()
    for path in (
        f"/portal/resources/{kb_id}/overview",
        f"/portal/resources/{text_id}/overview",
        f"/portal/resources/{embeddings_id}/try",
        "/portal/docs/model-gateway",
    ):
        small.goto(f"{base}{path}")
        width = small.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], (path, width)
    small.goto(f"{base}/portal/docs/model-gateway")
    small.screenshot(path=str(screenshots / "08-docs-375.png"), full_page=True)
    phone.close()
    context.close()
    assert len(list(screenshots.iterdir())) == 8


def _charted_input_tokens(page: object, base: str, embeddings_id: str) -> int:
    page.goto(f"{base}/portal/resources/{embeddings_id}/consumption?range=W")  # type: ignore[attr-defined]
    page.wait_for_selector("html[data-charts-ready]", state="attached")  # type: ignore[attr-defined]
    total: int = page.evaluate(  # type: ignore[attr-defined]
        """() => {
            const canvas = document.querySelector('canvas[aria-label="Input tokens per day"]');
            return Chart.getChart(canvas).data.datasets[0].data.reduce((sum, v) => sum + v, 0);
        }"""
    )
    return total
