"""The portal's pages through the API client: sign-in, sessions, CSRF, visibility, KB content."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from kb_service.users.service import SIGN_IN_FAILED
from tests.conftest import Drainer
from tests.factories.controlplane import ControlPlane
from tests.kb_service.portal.conftest import PASSWORD, csrf_of, sign_in, with_password


def _admin_with_kb(control_plane: ControlPlane) -> tuple[str, str, str]:
    admin = with_password(control_plane, control_plane.admin())
    embeddings = control_plane.embeddings(admin, display_name="Vectors")
    kb = control_plane.knowledge_base(admin, embeddings["id"], display_name="Support tickets")
    return admin.email, embeddings["id"], kb["id"]


def test_signed_in_admin_sees_the_resources_list(client: TestClient, control_plane: ControlPlane) -> None:
    email, _, kb_id = _admin_with_kb(control_plane)
    response = sign_in(client, email)
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/resources"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    page = client.get("/portal/resources")
    assert page.status_code == 200
    assert "Support tickets" in page.text
    assert "Vectors" in page.text
    assert "all-minilm-l6-v2" in page.text
    assert f'/portal/resources/{kb_id}"' in page.text
    assert "Dana Dev" in page.text


def test_resource_type_tabs_filter_the_list(client: TestClient, control_plane: ControlPlane) -> None:
    email, _, _ = _admin_with_kb(control_plane)
    sign_in(client, email)
    kbs = client.get("/portal/resources?type=knowledge_base").text
    assert "Support tickets" in kbs
    assert "Vectors" not in kbs
    assert "No text generation resources yet" in client.get("/portal/resources?type=text_generation").text
    assert client.get("/portal/resources?type=nonsense").status_code == 422


def test_wrong_password_and_unknown_email_get_the_same_401(
    client: TestClient, control_plane: ControlPlane
) -> None:
    email, _, _ = _admin_with_kb(control_plane)
    wrong = sign_in(client, email, "not the password at all")
    unknown = sign_in(client, "nobody@acme.example", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert SIGN_IN_FAILED in response.text
    assert client.get("/portal/resources", follow_redirects=False).status_code == 303


def test_user_without_a_password_cannot_sign_in(client: TestClient, control_plane: ControlPlane) -> None:
    admin = control_plane.admin()
    assert sign_in(client, admin.email, PASSWORD).status_code == 401


def test_an_invalid_form_is_a_page_not_json(client: TestClient, control_plane: ControlPlane) -> None:
    email, _, kb_id = _admin_with_kb(control_plane)
    sign_in(client, email)
    content = f"/portal/resources/{kb_id}/content"
    token = csrf_of(client.get(content).text)
    data = {"csrf_token": token, "query": "printer", "max_results": "1000"}
    response = client.post(f"{content}/search", data=data)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "max_results" in response.text
    assert response.headers["x-frame-options"] == "DENY"


def test_pages_without_a_session_redirect_to_sign_in(client: TestClient) -> None:
    response = client.get("/portal/resources", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/sign-in"


def test_session_expires_after_its_lifetime(client: TestClient, control_plane: ControlPlane) -> None:
    email, _, _ = _admin_with_kb(control_plane)
    sign_in(client, email)
    assert client.get("/portal/resources", follow_redirects=False).status_code == 200
    lifetime = control_plane.container.settings.portal.session_minutes
    control_plane.clock.advance(minutes=lifetime + 1)
    assert client.get("/portal/resources", follow_redirects=False).status_code == 303


def test_a_password_change_ends_existing_sessions(client: TestClient, control_plane: ControlPlane) -> None:
    admin = with_password(control_plane, control_plane.admin())
    sign_in(client, admin.email)
    assert client.get("/portal/resources", follow_redirects=False).status_code == 200
    with_password(control_plane, admin, "a brand new passphrase")
    assert client.get("/portal/resources", follow_redirects=False).status_code == 303
    assert sign_in(client, admin.email, "a brand new passphrase").status_code == 303
    assert client.get("/portal/resources", follow_redirects=False).status_code == 200


def test_tampered_session_cookie_is_ignored(client: TestClient, control_plane: ControlPlane) -> None:
    email, _, _ = _admin_with_kb(control_plane)
    sign_in(client, email)
    raw = client.cookies.get("kb_portal")
    assert raw is not None
    client.cookies.clear()
    client.cookies.set("kb_portal", raw[:-2] + ("AA" if not raw.endswith("AA") else "BB"), path="/portal")
    assert client.get("/portal/resources", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(client: TestClient, control_plane: ControlPlane) -> None:
    email, _, _ = _admin_with_kb(control_plane)
    sign_in(client, email)
    token = csrf_of(client.get("/portal/resources").text)
    response = client.post("/portal/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/portal/resources", follow_redirects=False).status_code == 303


def test_form_posts_without_this_sessions_csrf_token_are_403(
    client: TestClient, control_plane: ControlPlane
) -> None:
    email, _, kb_id = _admin_with_kb(control_plane)
    # Sign-in itself is protected: a token of another visitor does not do.
    with TestClient(client.app) as other:
        foreign = csrf_of(other.get("/portal/sign-in").text)
    client.get("/portal/sign-in")
    refused = client.post(
        "/portal/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": foreign}
    )
    assert refused.status_code == 403
    sign_in(client, email)
    search = f"/portal/resources/{kb_id}/content/search"
    assert client.post(search, data={"query": "printer"}).status_code == 403
    assert client.post(search, data={"query": "printer", "csrf_token": foreign}).status_code == 403
    assert client.post("/portal/sign-out", data={}).status_code == 403
    assert client.get("/portal/resources", follow_redirects=False).status_code == 200


def test_csrf_token_of_the_anonymous_session_dies_at_sign_in(
    client: TestClient, control_plane: ControlPlane
) -> None:
    email, _, _ = _admin_with_kb(control_plane)
    before = csrf_of(client.get("/portal/sign-in").text)
    sign_in(client, email)
    response = client.post("/portal/sign-out", data={"csrf_token": before}, follow_redirects=False)
    assert response.status_code == 403


def test_another_companys_kb_is_404(client: TestClient, control_plane: ControlPlane) -> None:
    _, embeddings_id, kb_id = _admin_with_kb(control_plane)
    rival = with_password(control_plane, control_plane.admin("Globex"))
    sign_in(client, rival.email)
    listing = client.get("/portal/resources")
    assert "Support tickets" not in listing.text
    assert "No resources yet" in listing.text
    for path in (f"/portal/resources/{kb_id}/content", f"/portal/resources/{kb_id}/documents.json"):
        response = client.get(path)
        assert response.status_code == 404
    # An embeddings resource of one's own company is not a KB either.
    own_embeddings = control_plane.embeddings(rival, display_name="Globex vectors")
    assert client.get(f"/portal/resources/{own_embeddings['id']}/content").status_code == 404
    assert client.get(f"/portal/resources/{embeddings_id}/content").status_code == 404


def test_member_without_a_team_sees_the_empty_state(client: TestClient, control_plane: ControlPlane) -> None:
    admin = control_plane.admin()
    control_plane.embeddings(admin, display_name="Vectors")
    member = with_password(control_plane, control_plane.user(admin.company_id, "mia@acme.example"))
    sign_in(client, member.email)
    page = client.get("/portal/resources")
    assert "Vectors" not in page.text
    assert "Ask a company admin to add you" in page.text


def test_upload_with_metadata_is_indexed_and_found_with_a_metadata_filter(
    client: TestClient, control_plane: ControlPlane, drain: Drainer
) -> None:
    email, _, kb_id = _admin_with_kb(control_plane)
    sign_in(client, email)
    content = f"/portal/resources/{kb_id}/content"
    token = csrf_of(client.get(content).text)
    uploaded = client.post(
        f"{content}/upload",
        data={
            "csrf_token": token,
            "collection": "tickets",
            "meta_key": ["Category", ""],
            "meta_value": ["Bug", "ignored"],
        },
        files=[
            ("files", ("printer.txt", b"The office printer jams on double-sided pages.", "text/plain")),
            ("files", ("vpn.txt", b"The VPN drops every hour on the hotel network.", "text/plain")),
        ],
        follow_redirects=False,
    )
    assert uploaded.status_code == 303
    statuses = client.get(f"/portal/resources/{kb_id}/documents.json").json()
    assert {d["status"] for d in statuses["items"]} == {"queued"}
    assert drain() == 2
    rows = client.get(f"/portal/resources/{kb_id}/documents.json").json()["items"]
    assert {(d["filename"], d["status"]) for d in rows} == {
        ("printer.txt", "indexed"),
        ("vpn.txt", "indexed"),
    }
    assert all(d["metadata"] == {"Category": "Bug"} for d in rows)

    def search(key: str, value: str) -> str:
        data = {
            "csrf_token": token,
            "query": "printer paper jam",
            "collections": "tickets",
            "meta_key": key,
            "meta_value": value,
            "max_results": "1",
            "min_similarity": "0.1",
        }
        response = client.post(f"{content}/search", data=data)
        assert response.status_code == 200
        return response.text

    found = search("Category", "Bug")
    assert "The office printer jams" in found
    assert "VPN" not in found.split("Search results", 1)[1]
    assert "No chunk matches" in search("Category", "Feature")


def test_documents_and_collections_are_deleted_from_the_content_page(
    client: TestClient, control_plane: ControlPlane, drain: Drainer
) -> None:
    email, _, kb_id = _admin_with_kb(control_plane)
    content = f"/portal/resources/{kb_id}/content"
    sign_in(client, email)
    token = csrf_of(client.get(content).text)
    files = [
        ("files", ("a.txt", b"Alpha text about printers.", "text/plain")),
        ("files", ("b.txt", b"Beta text about networks.", "text/plain")),
    ]
    client.post(f"{content}/upload", data={"csrf_token": token, "collection": "tickets"}, files=files)
    drain()
    rows = client.get(f"/portal/resources/{kb_id}/documents.json").json()["items"]
    first = next(d for d in rows if d["filename"] == "a.txt")

    deleted = client.post(f"{content}/documents/{first['id']}/delete", data={"csrf_token": token})
    assert deleted.status_code == 200
    assert "The document was deleted." in deleted.text
    left = client.get(f"/portal/resources/{kb_id}/documents.json").json()["items"]
    assert [d["filename"] for d in left] == ["b.txt"]

    # Another company's admin cannot reach the KB's delete forms either.
    rival = with_password(control_plane, control_plane.admin("Globex"))
    with TestClient(client.app) as other:
        sign_in(other, rival.email)
        rival_token = csrf_of(other.get("/portal/resources").text)
        refused = other.post(
            f"{content}/collections/delete", data={"csrf_token": rival_token, "name": "tickets"}
        )
        assert refused.status_code == 404

    gone = client.post(f"{content}/collections/delete", data={"csrf_token": token, "name": "tickets"})
    assert gone.status_code == 200
    assert "No documents yet" in gone.text
    assert "The collection was deleted." in gone.text
    assert "Delete collection tickets" not in gone.text


def test_a_failed_document_shows_its_reason(
    client: TestClient, control_plane: ControlPlane, drain: Drainer
) -> None:
    import html

    email, _, kb_id = _admin_with_kb(control_plane)
    content = f"/portal/resources/{kb_id}/content"
    sign_in(client, email)
    token = csrf_of(client.get(content).text)
    files = [("files", ("broken.pdf", b"%PDF-1.7\nnot really a pdf", "application/pdf"))]
    client.post(f"{content}/upload", data={"csrf_token": token}, files=files)
    drain()
    [row] = client.get(f"/portal/resources/{kb_id}/documents.json").json()["items"]
    assert row["status"] == "failed"
    assert row["error"]
    assert html.escape(row["error"]) in client.get(content).text


def test_refused_upload_is_shown_on_the_page(client: TestClient, control_plane: ControlPlane) -> None:
    email, _, kb_id = _admin_with_kb(control_plane)
    sign_in(client, email)
    content = f"/portal/resources/{kb_id}/content"
    token = csrf_of(client.get(content).text)
    response = client.post(
        f"{content}/upload",
        data={"csrf_token": token},
        files=[("files", ("image.png", b"\x89PNG\r\n\x1a\nxxxx", "image/png"))],
    )
    assert response.status_code == 415
    assert "Only TXT and PDF files are supported" in response.text
    assert "No documents yet" in response.text


@pytest.mark.parametrize(
    ("value", "shown"), [(950, "950"), (1600, "1.6k"), (1521, "1.5k"), (2_000_000, "2M")]
)
def test_compact_numbers_read_like_the_seeds(value: int, shown: str) -> None:
    from kb_service.portal.formatting import compact

    assert compact(value) == shown


def test_thousands_separators() -> None:
    from kb_service.portal.formatting import thousands

    assert thousands(1521) == "1,521"
    assert json.dumps(thousands(0)) == '"0"'


def test_a_resource_opens_on_its_first_tab(client: TestClient, control_plane: ControlPlane) -> None:
    email, embeddings_id, kb_id = _admin_with_kb(control_plane)
    sign_in(client, email)
    kb = client.get(f"/portal/resources/{kb_id}", follow_redirects=False)
    assert kb.headers["location"] == f"/portal/resources/{kb_id}/overview"
    embeddings = client.get(f"/portal/resources/{embeddings_id}", follow_redirects=False)
    assert embeddings.headers["location"] == f"/portal/resources/{embeddings_id}/overview"
    page = client.get(f"/portal/resources/{kb_id}/content")
    tabs = page.text[page.text.index('aria-label="Resource sections"') :]
    for label in ("Content", "Team", "Keys", "Settings"):
        assert f">{label}</a>" in tabs
    assert "Consumption</a>" not in tabs


def test_a_foreign_or_unknown_resource_id_is_a_404_page(
    client: TestClient, control_plane: ControlPlane
) -> None:
    _, _, kb_id = _admin_with_kb(control_plane)
    outsider = with_password(control_plane, control_plane.admin("Globex"))
    sign_in(client, outsider.email)
    for resource_id in (kb_id, "0" * 32):
        page = client.get(f"/portal/resources/{resource_id}")
        assert page.status_code == 404
        assert "Not found" in page.text


def test_a_blank_playground_question_asks_for_one(client: TestClient, control_plane: ControlPlane) -> None:
    email, _, kb_id = _admin_with_kb(control_plane)
    sign_in(client, email)
    page = client.get(f"/portal/resources/{kb_id}/content")
    response = client.post(
        f"/portal/resources/{kb_id}/content/search", data={"query": "  ", "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 422
    assert "Enter a question to search for." in response.text
    assert "text 0 is empty" not in response.text
