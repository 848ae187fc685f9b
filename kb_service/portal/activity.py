"""The "Activity" tab of every resource type: the resource's activity log, newest first, paged —
team access, keys, content changes, and its settings, models, capacity and deprovisioning.

It reads through `ActivityService.list`, the same path as `/v1/resources/{id}/activity`, so who may
see it is decided in one place."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.portal.formatting import moment
from kb_service.portal.layout import ResourceFrameDep
from kb_service.portal.web import PREFIX, PageDep

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)
PER_PAGE = 25
MAX_PAGE = 10**6  # a page number beyond this is read as the last one anyone could reach


def _page_number(raw: str | None) -> int:
    try:
        number = int(raw or "1")
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


@router.get("/resources/{resource_id}/activity")
def activity_tab(page: PageDep, frame: ResourceFrameDep, services: ServicesDep) -> HTMLResponse:
    number = _page_number(page.request.query_params.get("page"))
    entries, total = services.activity.list(
        page.actor, frame.resource.id, offset=(number - 1) * PER_PAGE, limit=PER_PAGE
    )
    rows = [{**asdict(row), "at_text": moment(row.at)} for row in services.activity.describe(entries)]
    pages = max(1, math.ceil(total / PER_PAGE))
    first = (number - 1) * PER_PAGE + 1 if rows else 0
    context: dict[str, Any] = {
        **frame.context("activity"),
        "rows": rows,
        "pager": {
            "page": number,
            "pages": pages,
            "total": total,
            "first": first,
            "last": first + len(rows) - 1 if rows else 0,
            "newer": number - 1 if number > 1 else None,
            "older": number + 1 if number < pages else None,
        },
    }
    return page.render("activity.html", context)
