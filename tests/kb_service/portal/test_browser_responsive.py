"""Every portal page at 375 px wide (a phone) in Chromium: no sideways scrolling.

The pages: sign-in; the resources list; the invitations list; "Your tokens"; the documentation;
the control center's overview, provision form and company settings; every tab of a knowledge base
and of an embeddings resource (read from the page's own tab bar, so a tab added later is covered
too: overview, consumption, content, try it, team, keys, settings, activity, …) and an invitation's
acceptance page.
For each: `document.documentElement.scrollWidth <= clientWidth`, and a screenshot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_sync
import pytest

from kb_service.auth.principals import actor_of
from kb_service.clock import SystemClock
from kb_service.container import Container
from kb_service.services import unit_of_work
from tests.kb_service.portal.live import LiveServer
from tests.kb_service.portal.test_browser_account import ADMIN, _sign_in, seed_company

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}
# The elements past the right edge (outside any scrolling box), to say what overflows on failure.
OVERFLOW = """() => {
  const root = document.documentElement;
  const limit = root.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    let clipped = false;
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      // An absolutely positioned element escapes a scroller that is not its containing block.
      if (getComputedStyle(up).overflowX !== "visible" && getComputedStyle(el).position !== "absolute") {
        clipped = true;
        break;
      }
    }
    if (!clipped && box.right > limit + 1 && box.width > 0) {
      const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "");
      wide.push(`${name}.${[...el.classList].join(".")} right=${Math.round(box.right)}`);
    }
  }
  return { scroll: root.scrollWidth, client: limit, wide: wide.slice(0, 6) };
}"""
# The tabs every resource type shows today; the test also follows whatever else the tab bar offers.
KB_TABS = {"content", "team", "keys", "settings"}
EMBEDDINGS_TABS = {"consumption", "team", "keys", "settings"}


def _tabs(page: playwright_sync.Page) -> list[str]:
    links = page.get_by_role("navigation", name="Resource sections").get_by_role("link")
    return [str(links.nth(i).get_attribute("href")) for i in range(links.count())]


def _embeddings_of(container: Container, kb_id: str) -> str:
    with unit_of_work(container, SystemClock()) as services:
        kb = services.resource_repository.get(kb_id)
        assert kb is not None and kb.embeddings_resource_id is not None
        return kb.embeddings_resource_id


def _invitation_link(container: Container, kb_id: str) -> str:
    with unit_of_work(container, SystemClock()) as services:
        admin = services.users.by_email(ADMIN)
        assert admin is not None
        services.companies.set_external_invitations(admin.company_id, True)
        return services.teams.invite(actor_of(admin), kb_id, "pia.phone@elsewhere.example").accept_url


def test_every_page_fits_375_px_without_sideways_scrolling(
    browser: Any, live_server: LiveServer, live_container: Container, screenshots: Path
) -> None:
    expect = playwright_sync.expect
    expect.set_options(timeout=20_000)
    kb_id = seed_company(live_container)
    embeddings_id = _embeddings_of(live_container, kb_id)
    link = _invitation_link(live_container, kb_id)
    base = live_server.url
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    results: dict[str, dict[str, Any]] = {}

    def check(name: str, url: str | None = None) -> None:
        if url is not None:
            page.goto(f"{base}{url}")
        page.wait_for_load_state("load")
        results[name] = page.evaluate(OVERFLOW)
        page.screenshot(path=str(screenshots / f"{len(results):02d}-{name}.png"), full_page=True)

    check("sign-in", "/portal/sign-in")
    _sign_in(page, ADMIN)
    expect(page).to_have_url(f"{base}/portal/resources")
    check("resources")
    check("invitations", "/portal/invitations")
    check("tokens", "/portal/tokens")
    check("control", "/portal/control")
    check("provision", "/portal/control/provision")
    check("provision-kb", "/portal/control/provision?type=knowledge_base")
    check("company-settings", "/portal/control/settings")
    check("docs", "/portal/docs")
    for label, resource_id, expected in (
        ("kb", kb_id, KB_TABS),
        ("embeddings", embeddings_id, EMBEDDINGS_TABS),
    ):
        page.goto(f"{base}/portal/resources/{resource_id}")
        hrefs = _tabs(page)
        slugs = {href.rsplit("/", 1)[-1] for href in hrefs}
        assert expected <= slugs, (label, slugs)
        for href in hrefs:
            check(f"{label}-{href.rsplit('/', 1)[-1]}", href)
    context.close()

    guest = browser.new_context(viewport=PHONE).new_page()
    guest.goto(f"{base}{link}")
    results["invitation-accept"] = guest.evaluate(OVERFLOW)
    guest.screenshot(path=str(screenshots / f"{len(results):02d}-invitation-accept.png"), full_page=True)
    guest.context.close()

    assert len(results) >= 9 + len(KB_TABS) + len(EMBEDDINGS_TABS) + 1
    overflowing = {name: r for name, r in results.items() if r["scroll"] > r["client"]}
    report = "\n".join(f"{n}: {r['scroll']}px; {', '.join(r['wide'])}" for n, r in overflowing.items())
    assert overflowing == {}, report
