"""The "Keys" tab: create (secret shown once), list, revoke.

The secret of a new key exists only in the response to the create form: it is never put in a URL,
a cookie or the list page, and the page carries `Cache-Control: no-store` (`render`). A knowledge
base's key comes with a paired key for its embeddings resource; both rows say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import Forbidden, KBError, NotFound
from kb_service.keys.service import KeyWithPair
from kb_service.portal.formatting import moment
from kb_service.portal.layout import ResourceFrame, ResourceFrameDep
from kb_service.portal.web import PREFIX, CsrfChecked, Page, PageDep, PortalActorDep
from kb_service.services import Services

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)
DESCRIPTION_MAX = 500  # the column's width, as /v1's KeyCreate


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: str
    description: str
    created: str
    last_used: str
    revoked: str | None
    # What the key was created with: the KB it serves (embeddings side) or its paired key (KB side).
    paired_note: str | None

    @property
    def label(self) -> str:
        return self.description or self.id

    @property
    def active(self) -> bool:
        return self.revoked is None


def key_rows(services: Services, page: Page, frame: ResourceFrame) -> list[KeyRow]:
    """The resource's keys, newest first, with the pairing spelled out (`KeyService.with_pairs`)."""
    pairs = services.keys.with_pairs(page.actor, frame.resource.id)
    kb_side = frame.resource.type == "knowledge_base"
    return [
        KeyRow(
            id=p.key.id,
            description=p.key.description,
            created=moment(p.key.created_at),
            last_used=moment(p.key.last_used_at),
            revoked=moment(p.key.revoked_at) if p.key.revoked_at else None,
            paired_note=_kb_note(p) if kb_side else _embeddings_note(p),
        )
        for p in sorted(pairs, key=lambda p: p.key.created_at, reverse=True)
    ]


def _kb_note(pair: KeyWithPair) -> str | None:
    return f"Paired embeddings key {pair.paired_key_id}" if pair.paired_key_id else None


def _embeddings_note(pair: KeyWithPair) -> str | None:
    if not pair.paired_key_id:
        return None
    # A KB the user is not on the team of is named only as "a knowledge base".
    name = pair.serves_knowledge_base if pair.kb_visible else None
    owner = f"knowledge base {name}" if name else "a knowledge base"
    return f"Created automatically for {owner} (with its key {pair.paired_key_id})"


def _keys_page(
    page: Page, frame: ResourceFrame, services: Services, extra: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    manage = frame.can("manage_keys")
    rows = key_rows(services, page, frame) if manage else []
    revoked_id = page.request.query_params.get("revoked")
    # Only a key of this list that is indeed revoked: the query string is the visitor's to edit.
    revoked = next((r for r in rows if r.id == revoked_id and not r.active), None)
    context: dict[str, Any] = {
        **frame.context("keys"),
        "manage": manage,
        "keys": rows,
        "revoked": revoked,
        "new_key": None,
        "create_error": None,
        "description": "",
        "description_max": DESCRIPTION_MAX,
        **extra,
    }
    return page.render("keys.html", context, status_code)


@router.get("/resources/{resource_id}/keys")
def keys_page(page: PageDep, frame: ResourceFrameDep, services: ServicesDep) -> HTMLResponse:
    return _keys_page(page, frame, services, {})


@router.post("/resources/{resource_id}/keys", dependencies=[CsrfChecked])
def create_key(
    page: PageDep, frame: ResourceFrameDep, services: ServicesDep, description: Annotated[str, Form()] = ""
) -> HTMLResponse:
    """The page again, with the new secret in a dialog: the one and only time it is shown."""
    description = description.strip()
    extra: dict[str, Any] = {"description": description}
    code = status.HTTP_422_UNPROCESSABLE_CONTENT
    if not description:
        extra["create_error"] = "Give the key a description, e.g. the app or environment that uses it."
    elif len(description) > DESCRIPTION_MAX:
        extra["create_error"] = f"The description is at most {DESCRIPTION_MAX} characters."
    else:
        try:
            extra = {"new_key": services.keys.create_for(page.actor, frame.resource.id, description)}
            code = status.HTTP_200_OK
        except (Forbidden, NotFound):
            raise
        except KBError as exc:
            extra["create_error"], code = exc.message, exc.status_code
    return _keys_page(page, frame, services, extra, code)


@router.post("/resources/{resource_id}/keys/{key_id}/revoke", dependencies=[CsrfChecked])
def revoke_key(
    key_id: str, frame: ResourceFrameDep, actor: PortalActorDep, services: ServicesDep
) -> Response:
    key = services.keys.revoke_for(actor, frame.resource.id, key_id)
    target = f"{PREFIX}/resources/{frame.resource.id}/keys?revoked={key.id}"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
