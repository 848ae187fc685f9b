"""Invitations: the acceptance page (an invited external user creates an account) and the invitee list."""

from __future__ import annotations

from fastapi import APIRouter

from kb_service.portal.web import PREFIX

router = APIRouter(prefix=PREFIX, include_in_schema=False)
