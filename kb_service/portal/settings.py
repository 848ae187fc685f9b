"""The "Settings" tab: every field of the resource, and the changes a role allows."""

from __future__ import annotations

from fastapi import APIRouter

from kb_service.portal.web import PREFIX

router = APIRouter(prefix=PREFIX, include_in_schema=False)
