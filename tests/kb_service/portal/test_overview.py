"""The Overview tab (every resource's landing page), the documentation pages and the Try it tab,
through the real app: figures from the same services as their tabs, snippets filled in, gateway
calls metered like an app's."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from kb_service.portal.docs import Section, readme_sections
from kb_service.portal.snippets import FALLBACK_BASE, safe_base_url
from tests.conftest import Drainer
from tests.factories.controlplane import ControlPlane, TestUser
from tests.kb_service.portal.conftest import csrf_of, sign_in, with_password

HAIKU = "anthropic.claude-haiku-4-5"
SONNET = "anthropic.claude-sonnet-4-5"


def _company(cp: ControlPlane) -> tuple[TestUser, dict[str, str]]:
    """An admin (signed-in password) with an embeddings resource, a KB on it and a text resource."""
    admin = with_password(cp, cp.admin())
    embeddings = cp.embeddings(admin, display_name="Vectors")
    kb = cp.knowledge_base(admin, embeddings["id"], display_name="Support tickets")
    text = cp.provision(admin, display_name="Assistant", models=[HAIKU, SONNET], default_model=SONNET)
    return admin, {"embeddings": embeddings["id"], "kb": kb["id"], "text": text["id"]}


def _text(page: str) -> str:
    """The page's text with tags dropped and whitespace folded, for phrase assertions."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_every_resource_opens_on_its_overview(client: TestClient, control_plane: ControlPlane) -> None:
    admin, ids = _company(control_plane)
    sign_in(client, admin.email)
    for resource_id in ids.values():
        landing = client.get(f"/portal/resources/{resource_id}", follow_redirects=False)
        assert landing.status_code == 303
        assert landing.headers["location"] == f"/portal/resources/{resource_id}/overview"
    tabs = client.get(f"/portal/resources/{ids['text']}/overview").text
    nav = tabs[tabs.index('aria-label="Resource sections"') :]
    nav = nav[: nav.index("</nav>")]
    labels = re.findall(r">([^<]+)</a>", nav)
    assert labels[:3] == ["Overview", "Consumption", "Try it"]  # the landing tab first
    assert {"Team", "Keys", "Settings"} <= set(labels)


def test_kb_overview_has_its_figures_cards_and_snippets(
    client: TestClient, control_plane: ControlPlane, drain: Drainer
) -> None:
    admin, ids = _company(control_plane)
    sign_in(client, admin.email)
    kb_id = ids["kb"]
    key = client.post(
        f"/v1/resources/{kb_id}/keys",
        headers=admin.headers,
        json={"description": "app"},
    ).json()["secret"]
    uploaded = client.post(
        f"/v1/knowledge-bases/{kb_id}/documents",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("faq.txt", b"Refunds are paid within 14 days. " * 20, "text/plain")},
        data={"collection": "FAQ"},
    )
    assert uploaded.status_code == 202, uploaded.text
    drain()

    page = client.get(f"/portal/resources/{kb_id}/overview")
    assert page.status_code == 200
    text = _text(page.text)
    for phrase in ("Knowledge base", "Test", "eu-central-1", "Plan Standard", "Status Active"):
        assert phrase in text, phrase
    assert "1 active key" in text
    assert "1 member" in text and "0 pending invitations" in text  # the admin's "created for" user
    content = re.search(r'data-card-figure="content">(.*?)</dl>', page.text, re.S)
    assert content is not None
    figures = re.findall(r"<dd>([\d,]+)</dd>", content.group(1))
    assert figures[0] == "1" and int(figures[1]) >= 1 and figures[2] == "2"  # default + FAQ
    # A KB meters on its embeddings resource: the card shows that one's bundle month.
    assert f'href="/portal/resources/{ids["embeddings"]}/consumption"' in page.text
    assert "on its embeddings resource Vectors" in text
    # Documentation filled in with this KB's id and the base URL the page was asked at.
    for path in ("documents", "collections/default/chunks", "search"):
        assert f"http://testserver/v1/knowledge-bases/{kb_id}/{path}" in page.text
    assert "http://testserver/mcp" in page.text
    assert f"/v1/vector_stores/{kb_id}/search" in page.text
    assert f'vector_store_id="{kb_id}"' in html.unescape(page.text)
    assert 'data-copy="snippet-kb-search"' in page.text
    assert re.findall(r'id="card-([a-z]+)"', page.text) == [
        "consumption",
        "keys",
        "team",
        "content",
        "settings",
    ]
    # "Create key" on the card posts to the Keys tab's own form.
    assert f'action="/portal/resources/{kb_id}/keys"' in page.text


def test_text_overview_names_models_and_shows_the_gateway_calls(
    client: TestClient, control_plane: ControlPlane
) -> None:
    admin, ids = _company(control_plane)
    sign_in(client, admin.email)
    page = client.get(f"/portal/resources/{ids['text']}/overview").text
    text = _text(page)
    assert "Anthropic Claude Haiku 4.5" in text
    assert "Anthropic Claude Sonnet 4.5 (default)" in text
    assert "Plan S · 3k GU / month" in text
    assert "0 / 3k GU" in text  # this bundle month's consumption, as the Consumption tab shows it
    assert "2.5M input and 1.25M output tokens a month" in text
    for path in ("/v1/models", "/v1/chat/completions", "/v1/messages"):
        assert f"http://testserver{path}" in page
    assert f'"model": "{SONNET}"' in html.unescape(page)  # the default model fills the snippets
    assert 'base_url="http://testserver/v1"' in html.unescape(page)
    cards = re.findall(r'id="card-([a-z]+)"', page)
    assert cards == ["consumption", "keys", "team", "try", "settings"]  # no Content card


def test_overview_of_a_resource_one_cannot_see_is_404(
    client: TestClient, control_plane: ControlPlane
) -> None:
    _, ids = _company(control_plane)
    other = with_password(control_plane, control_plane.admin("Globex"))
    sign_in(client, other.email)
    for resource_id in (ids["kb"], ids["text"]):
        assert client.get(f"/portal/resources/{resource_id}/overview").status_code == 404
        assert client.get(f"/portal/resources/{resource_id}/try").status_code == 404


def test_a_member_sees_no_consumption_of_an_embeddings_resource_they_are_not_on(
    client: TestClient, control_plane: ControlPlane
) -> None:
    admin, ids = _company(control_plane)
    member = with_password(control_plane, control_plane.user(admin.company_id, "m@acme.example"))
    added = client.post(
        f"/v1/resources/{ids['kb']}/members",
        headers=admin.headers,
        json={"email": member.email},
    )
    assert added.status_code == 201, added.text
    sign_in(client, member.email)
    page = client.get(f"/portal/resources/{ids['kb']}/overview")
    assert page.status_code == 200
    assert "card-consumption" not in page.text
    assert ids["embeddings"] not in page.text.split('aria-labelledby="docs-title"')[0]


def test_snippets_never_carry_a_hostile_host_header() -> None:
    assert safe_base_url("http://kb.example:8000/") == "http://kb.example:8000"
    assert safe_base_url("http://[::1]:8000") == "http://[::1]:8000"
    assert safe_base_url("http://evil'$(rm -rf ~)'/") == FALLBACK_BASE


# --- documentation pages ------------------------------------------------------------------------


def test_readme_sections_split_on_level_two_headings_outside_code() -> None:
    text = (
        "# Title\nintro\n## One\n```bash\n## not a heading\n```\n"
        "## Two words\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    sections = readme_sections(text)
    assert [(s.slug, s.title) for s in sections] == [("one", "One"), ("two-words", "Two words")]
    assert "## not a heading" in sections[0].markdown
    assert "<table>" in sections[1].html()


def test_links_between_sections_point_at_their_pages() -> None:
    section = Section("x", "X", "See [tests](#running-the-tests), [store](docs/opensearch.md), [out](#nope).")
    rendered = section.html(frozenset({"running-the-tests", "doc-opensearch"}))
    assert 'href="/portal/docs/running-the-tests"' in rendered
    assert 'href="/portal/docs/doc-opensearch"' in rendered
    assert 'href="#nope"' in rendered


def test_documentation_is_rendered_safely() -> None:
    hostile = Section("x", "X", "# X\n<script>alert(1)</script>\n[click](javascript:alert(1))")
    rendered = hostile.html()
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
    assert 'href="javascript:' not in rendered


def test_the_readme_is_served_by_section(client: TestClient, control_plane: ControlPlane) -> None:
    admin, _ = _company(control_plane)
    sign_in(client, admin.email)
    index = client.get("/portal/docs")
    assert index.status_code == 200
    assert 'href="/portal/docs/model-gateway"' in index.text
    assert 'href="/portal/docs/portal"' in index.text
    gateway = client.get("/portal/docs/model-gateway")
    assert gateway.status_code == 200
    assert "<h1>Model gateway</h1>" in gateway.text
    assert "<table>" in gateway.text and "/v1/chat/completions" in gateway.text
    assert client.get("/portal/docs/no-such-section").status_code == 404
    client.cookies.clear()
    assert client.get("/portal/docs/model-gateway", follow_redirects=False).status_code == 303


# --- Try it ---------------------------------------------------------------------------------------


def _try(client: TestClient, resource_id: str, **fields: str) -> tuple[int, str]:
    token = csrf_of(client.get(f"/portal/resources/{resource_id}/try").text)
    response = client.post(f"/portal/resources/{resource_id}/try", data={"csrf_token": token, **fields})
    return response.status_code, response.text


def test_try_it_embeds_and_the_call_lands_in_consumption(
    client: TestClient, control_plane: ControlPlane
) -> None:
    admin, ids = _company(control_plane)
    sign_in(client, admin.email)
    embeddings_id = ids["embeddings"]
    code, page = _try(
        client, embeddings_id, texts="What is the refund policy?\n\nShipping times", input_type="search_query"
    )
    assert code == 200, page
    text = _text(page)
    assert "2 vectors of 384 dimensions from all-MiniLM-L6-v2" in text
    tokens = re.search(r"data-try-input-tokens>([\d,]+)<", page)
    units = re.search(r"data-try-gu>([\d.]+)<", page)
    assert tokens is not None and units is not None
    input_tokens = int(tokens.group(1).replace(",", ""))
    assert input_tokens > 0
    assert float(units.group(1)) == round(input_tokens * 30.23 / 1_000_000, 4)
    daily = client.get(
        f"/v1/resources/{embeddings_id}/consumption/daily?range=W", headers=admin.headers
    ).json()
    today = next(d for d in daily["days"] if d["input_tokens"])
    assert today["input_tokens"] == input_tokens and today["api_calls"] == 1


def test_try_it_refusals_are_clear(client: TestClient, control_plane: ControlPlane) -> None:
    admin, ids = _company(control_plane)
    sign_in(client, admin.email)
    code, page = _try(client, ids["embeddings"], texts="  \n ")
    assert code == 422 and "Give at least one text to embed" in page
    code, page = _try(client, ids["text"], prompt="")
    assert code == 422 and "Write a prompt" in page
    code, page = _try(client, ids["text"], prompt="Hello", model="anthropic.claude-opus-4-1")
    assert code == 400 and "is not enabled on this resource" in html.unescape(page)
    # The embedded default has no text provider: said up front, then the gateway's own message.
    assert "data-try-not-configured" in client.get(f"/portal/resources/{ids['text']}/try").text
    assert "data-try-not-configured" not in client.get(f"/portal/resources/{ids['embeddings']}/try").text
    code, page = _try(client, ids["text"], prompt="Hello")
    assert code == 503
    assert "provider_not_configured" in page and "KB_TEXT__PROVIDER" in page
    # No CSRF token: refused like every portal form.
    refused = client.post(f"/portal/resources/{ids['text']}/try", data={"prompt": "Hello"})
    assert refused.status_code == 403
    # A KB has no models to try.
    assert client.get(f"/portal/resources/{ids['kb']}/try").status_code == 404


def test_try_it_refuses_once_the_allocation_is_used_up(
    client: TestClient, control_plane: ControlPlane
) -> None:
    admin, ids = _company(control_plane)
    sign_in(client, admin.email)
    key = client.post(
        f"/v1/resources/{ids['text']}/keys", headers=admin.headers, json={"description": "gw"}
    ).json()["secret"]
    # An external gateway reports two calls of 10M + 10M Haiku tokens (2,149 GU each): 3,000 GU used.
    for _ in range(2):
        used = client.post(
            "/v1/gateway/usage",
            headers={"Authorization": f"Bearer {key}"},
            json={"model_id": HAIKU, "input_tokens": 10_000_000, "output_tokens": 10_000_000},
        )
        assert used.status_code == 200, used.text
    assert used.json()["exhausted"] is True
    code, page = _try(client, ids["text"], prompt="Hello")
    assert code == 429
    assert "capacity_exhausted" in page and "has used its 3,000 GU for this bundle month" in page
