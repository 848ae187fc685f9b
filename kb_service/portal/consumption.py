"""The "Consumption" tab of text-generation and embeddings resources: usage, charts, CSV export."""

from __future__ import annotations

from fastapi import APIRouter

from kb_service.portal.web import PREFIX

router = APIRouter(prefix=PREFIX, include_in_schema=False)
