"""The "Consumption" tab of text-generation and embeddings resources: usage, charts, CSV export.

Every figure comes from `ConsumptionService` (the same service and permission check as
`/v1/resources/{id}/consumption`); this module only arranges it for the page. A knowledge base has
no consumption of its own and no such tab, so its id here is a 404 page like an unknown one.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from kb_service.catalog import UnknownModelError, get_model
from kb_service.clock import today
from kb_service.consumption.service import Series, Summary
from kb_service.deps import ClockDep, ServicesDep, UnitOfWorkRoute
from kb_service.errors import NotFound
from kb_service.portal.formatting import day
from kb_service.portal.layout import ResourceFrame, ResourceFrameDep
from kb_service.portal.web import PREFIX, PageDep, PortalActorDep
from schemas.consumption import Range

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)

RANGES: tuple[tuple[Range, str], ...] = (
    ("W", "Last 7 days"),
    ("BM", "This bundle month"),
    ("MTD", "Month to date"),
    ("6M", "Last 6 months"),
)
RangeQuery = Annotated[Range, Query(description="W (7 days), BM (bundle month), MTD, 6M.")]
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def _metered(frame: ResourceFrame) -> None:
    """Only text and embeddings resources have a Consumption tab; a KB id is "not found" here."""
    if frame.resource.type == "knowledge_base" or not frame.can("view_consumption"):
        raise NotFound(f"Resource {frame.resource.id} has no consumption page.")


def _model_names(model_ids: list[str]) -> str:
    names = []
    for model_id in model_ids:
        try:
            names.append(get_model(model_id).display_name)
        except UnknownModelError:
            names.append(model_id)
    return ", ".join(names)


def chart_data(series: Series, until: date | None = None) -> dict[str, Any]:
    """The JSON block `consumption.js` draws from: one value per day of the range, zeros included.

    `until` (exclusive; the refill day for the BM range) extends the axis past today with empty
    days (`null`, no bar), so the bundle month is shown whole. Labels read as every date of the
    portal ("June 25, 2026", `formatting.day`); `allocation` is drawn as the dashed line on every
    range.
    """
    future: list[date] = []
    if until is not None:
        day_ = series.end + timedelta(days=1)
        while day_ < until:
            future.append(day_)
            day_ += timedelta(days=1)
    empty: list[None] = [None] * len(future)
    return {
        "labels": [day(d.date) for d in series.days] + [day(d) for d in future],
        "genai_units": [round(d.genai_units, 4) for d in series.days] + empty,
        "input_tokens": [d.input_tokens for d in series.days] + empty,
        "output_tokens": [d.output_tokens for d in series.days] + empty,
        "api_calls": [d.api_calls for d in series.days] + empty,
        "allocation": series.allocation_gu,
        "today": len(series.days) - 1,
    }


def percent_text(summary: Summary) -> str:
    """ "12.5%"; usage too small for one decimal reads "<0.1%", not "0.0%"."""
    if summary.usage.used_gu > 0 and summary.percent < 0.1:
        return "<0.1%"
    return f"{summary.percent}%"


def export_filename(display_name: str, range_: Range, day: str) -> str:
    """`<name>-consumption-<range>-<date>.csv`, the name reduced to characters safe in a header."""
    ascii_name = unicodedata.normalize("NFKD", display_name).encode("ascii", "ignore").decode()
    name = _UNSAFE_FILENAME.sub("-", ascii_name).strip("-._")[:80] or "resource"
    return f"{name}-consumption-{range_}-{day}.csv"


def page_context(frame: ResourceFrame, summary: Summary, series: Series, range_: Range) -> dict[str, Any]:
    """What `consumption.html` shows besides the frame: the service's figures, arranged."""
    days = series.days
    # BM covers the whole bundle month: the days after today are on the axis, empty.
    until = summary.usage.period.end if range_ == "BM" else None
    return {
        "summary": summary,
        "usage": summary.usage,
        "model_names": _model_names(frame.resource.models),
        "series": series,
        "days": days,
        "chart": chart_data(series, until),
        "range_end": until - timedelta(days=1) if until else series.end,
        "percent_text": percent_text(summary),
        "has_usage": any(d.api_calls or d.input_tokens or d.output_tokens or d.genai_units for d in days),
        "embeddings": frame.resource.type == "embeddings",
        "range": range_,
        "ranges": RANGES,
        "range_label": dict(RANGES)[range_],
        "totals": {
            "genai_units": sum(d.genai_units for d in days),
            "input_tokens": sum(d.input_tokens for d in days),
            "output_tokens": sum(d.output_tokens for d in days),
            "api_calls": sum(d.api_calls for d in days),
        },
    }


@router.get("/resources/{resource_id}/consumption")
def consumption_page(
    page: PageDep, frame: ResourceFrameDep, services: ServicesDep, range: RangeQuery = "BM"
) -> HTMLResponse:
    _metered(frame)
    summary = services.consumption.summary(page.actor, frame.resource.id)
    series = services.consumption.series(page.actor, frame.resource.id, range)
    return page.render(
        "consumption.html", {**frame.context("consumption"), **page_context(frame, summary, series, range)}
    )


@router.get("/resources/{resource_id}/consumption.csv")
def consumption_csv(
    frame: ResourceFrameDep,
    actor: PortalActorDep,
    services: ServicesDep,
    clock: ClockDep,
    range: RangeQuery = "BM",
) -> Response:
    """The service's CSV export (days with no consumption left out), as a download."""
    _metered(frame)
    body = services.consumption.export_csv(actor, frame.resource.id, range)
    filename = export_filename(frame.resource.display_name, range, today(clock).isoformat())
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
