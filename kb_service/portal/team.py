"""The "Team" tab: members, adding and removing them, external invitations."""

from __future__ import annotations

from fastapi import APIRouter

from kb_service.portal.web import PREFIX

router = APIRouter(prefix=PREFIX, include_in_schema=False)
