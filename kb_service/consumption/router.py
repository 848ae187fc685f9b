"""Consumption per resource (portal) and the usage endpoint of the model gateway."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from kb_service.consumption.service import Series, Summary
from kb_service.deps import ActorDep, ConsumptionServiceDep, PrincipalDep
from kb_service.errors import NotFound
from kb_service.openapi import errors
from schemas.consumption import (
    ConsumptionSeries,
    ConsumptionSummary,
    GatewayUsage,
    GatewayUsageRecorded,
    Range,
)

router = APIRouter(tags=["consumption"])

RangeQuery = Annotated[Range, Query(description="W (7 days), BM (bundle month), MTD, 6M.")]


@router.get("/v1/resources/{resource_id}/consumption", responses=errors(NotFound))
def consumption(actor: ActorDep, service: ConsumptionServiceDep, resource_id: str) -> ConsumptionSummary:
    """GU used this bundle month against the allocation, and the refill date."""
    return summary_out(service.summary(actor, resource_id))


@router.get("/v1/resources/{resource_id}/consumption/daily", responses=errors(NotFound))
def daily(
    actor: ActorDep, service: ConsumptionServiceDep, resource_id: str, range: RangeQuery = "BM"
) -> ConsumptionSeries:
    return series_out(service.series(actor, resource_id, range), range)


@router.get(
    "/v1/resources/{resource_id}/consumption/export.csv",
    responses=errors(NotFound) | {200: {"content": {"text/csv": {}}}},
    response_class=Response,
)
def export_csv(
    actor: ActorDep, service: ConsumptionServiceDep, resource_id: str, range: RangeQuery = "BM"
) -> Response:
    """date, input tokens, output tokens per day; days with no consumption are not exported."""
    body = service.export_csv(actor, resource_id, range)
    filename = f"consumption-{resource_id}-{range}.csv"
    return Response(
        body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.post("/v1/gateway/usage", tags=["gateway"], responses=errors(NotFound))
def gateway_usage(
    principal: PrincipalDep, service: ConsumptionServiceDep, body: GatewayUsage
) -> GatewayUsageRecorded:
    """The model gateway reports one call's tokens, authenticated with the resource's API key."""
    units, usage = service.record_gateway_usage(principal.resource_id, body)
    return GatewayUsageRecorded(
        resource_id=principal.resource_id,
        genai_units=units,
        used_genai_units=usage.used_gu,
        allocation_genai_units=usage.allocation_gu,
        exhausted=usage.exhausted,
    )


def summary_out(summary: Summary) -> ConsumptionSummary:
    usage = summary.usage
    return ConsumptionSummary(
        resource_id=summary.resource.id,
        plan=summary.resource.plan,
        used_genai_units=usage.used_gu,
        allocation_genai_units=usage.allocation_gu,
        percent_used=summary.percent,
        display=summary.display,
        bundle_month_start=usage.period.start,
        refill_on=usage.period.end,
        exhausted=usage.exhausted,
    )


def series_out(series: Series, range_: Range) -> ConsumptionSeries:
    return ConsumptionSeries(
        resource_id=series.resource.id,
        range=range_,
        start=series.start,
        end=series.end,
        allocation_genai_units=series.allocation_gu,
        days=series.days,
    )
