"""The "Keys" tab: create (secret shown once), list, revoke.

The secret of a new key exists only in the response to the create form: it is never put in a URL,
a cookie or the list page, and the page carries `Cache-Control: no-store` (`render`). A knowledge
base's key comes with a paired key for its embeddings resource; both rows say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from kb_service.clock import Clock
from kb_service.deps import ClockDep, SessionDep
from kb_service.errors import Forbidden, KBError, NotFound
from kb_service.keys.models import ApiKey
from kb_service.keys.service import IssuedKey, KeyManagement, KeyService
from kb_service.portal.formatting import moment
from kb_service.portal.layout import ResourceFrame, ResourceFrameDep
from kb_service.portal.web import PREFIX, CsrfChecked, Page, PageDep, PortalActorDep
from kb_service.provisioning.repository import ProvisioningRepository
from kb_service.resources.repository import ResourceRepository
from kb_service.teams.access import Access
from kb_service.users.service import Actor

router = APIRouter(prefix=PREFIX, include_in_schema=False)
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


class PortalKeys:
    """A resource's keys as one signed-in user manages them, with the pairing spelled out."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._management = KeyManagement(session, clock)
        self._keys = KeyService(session)

    def create(self, actor: Actor, resource_id: str, description: str) -> IssuedKey:
        return self._management.create(actor, resource_id, description)

    def revoke(self, actor: Actor, resource_id: str, key_id: str) -> ApiKey:
        return self._management.revoke(actor, resource_id, key_id)

    def rows(self, actor: Actor, frame: ResourceFrame) -> list[KeyRow]:
        keys = self._management.list(actor, frame.resource.id)
        notes = self._pairing_notes(actor, frame, keys)
        ordered = sorted(keys, key=lambda k: k.created_at, reverse=True)
        return [
            KeyRow(
                id=k.id,
                description=k.description,
                created=moment(k.created_at),
                last_used=moment(k.last_used_at),
                revoked=moment(k.revoked_at) if k.revoked_at else None,
                paired_note=notes.get(k.id),
            )
            for k in ordered
        ]

    def _pairing_notes(self, actor: Actor, frame: ResourceFrame, keys: list[ApiKey]) -> dict[str, str]:
        # The other side of the pairs in one query per linked resource, never one query per key row.
        resource = frame.resource
        if resource.type == "knowledge_base":
            kb = ResourceRepository(self._session).get(resource.id)
            if kb is None or kb.embeddings_resource_id is None:
                return {}
            partner = {
                k.paired_with_key_id: k
                for k in self._keys.list(kb.embeddings_resource_id)
                if k.paired_with_key_id
            }
            return {k.id: f"Paired embeddings key {partner[k.id].id}" for k in keys if k.id in partner}
        if resource.type == "embeddings" and any(k.paired_with_key_id for k in keys):
            return self._embeddings_notes(actor, resource.id, keys)
        return {}

    def _embeddings_notes(self, actor: Actor, resource_id: str, keys: list[ApiKey]) -> dict[str, str]:
        access = Access(self._session)
        kb_of_key: dict[str, str] = {}
        for kb in ProvisioningRepository(self._session).linked_knowledge_bases(resource_id):
            # A KB the user is not on the team of is named only as "a knowledge base".
            name = kb.display_name if access.role(actor, kb) is not None else None
            for kb_key in self._keys.list(kb.id):
                kb_of_key[kb_key.id] = f"knowledge base {name}" if name else "a knowledge base"
        notes = {}
        for k in keys:
            if k.paired_with_key_id:
                owner = kb_of_key.get(k.paired_with_key_id, "a knowledge base")
                notes[k.id] = f"Created automatically for {owner} (with its key {k.paired_with_key_id})"
        return notes


def get_portal_keys(session: SessionDep, clock: ClockDep) -> PortalKeys:
    return PortalKeys(session, clock)


PortalKeysDep = Annotated[PortalKeys, Depends(get_portal_keys)]


def _keys_page(
    page: Page, frame: ResourceFrame, keys: PortalKeys, extra: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    manage = frame.can("manage_keys")
    rows = keys.rows(page.actor, frame) if manage else []
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
def keys_page(page: PageDep, frame: ResourceFrameDep, keys: PortalKeysDep) -> HTMLResponse:
    return _keys_page(page, frame, keys, {})


@router.post("/resources/{resource_id}/keys", dependencies=[CsrfChecked])
def create_key(
    page: PageDep, frame: ResourceFrameDep, keys: PortalKeysDep, description: Annotated[str, Form()] = ""
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
            extra = {"new_key": keys.create(page.actor, frame.resource.id, description)}
            code = status.HTTP_200_OK
        except (Forbidden, NotFound):
            raise
        except KBError as exc:
            extra["create_error"], code = exc.message, exc.status_code
    return _keys_page(page, frame, keys, extra, code)


@router.post("/resources/{resource_id}/keys/{key_id}/revoke", dependencies=[CsrfChecked])
def revoke_key(key_id: str, frame: ResourceFrameDep, actor: PortalActorDep, keys: PortalKeysDep) -> Response:
    key = keys.revoke(actor, frame.resource.id, key_id)
    target = f"{PREFIX}/resources/{frame.resource.id}/keys?revoked={key.id}"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
