"""The control center (company admins): GenAI Resources overview, provisioning, the ⋯ menu, Cloud Tokens."""

from __future__ import annotations

from fastapi import APIRouter

from kb_service.portal.web import PREFIX

router = APIRouter(prefix=PREFIX, include_in_schema=False)
