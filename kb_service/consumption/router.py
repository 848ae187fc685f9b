"""Consumption per resource (portal) and the usage endpoint of the model gateway."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from kb_service.auth.deps import ActorDep, PrincipalDep
from kb_service.consumption.presenters import series_out, summary_out
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import CapacityExhausted, NotFound, documented
from schemas.consumption import (
    ConsumptionSeries,
    ConsumptionSummary,
    GatewayUsage,
    GatewayUsageRecorded,
    Range,
)

router = APIRouter(route_class=UnitOfWorkRoute, tags=["consumption"])

RangeQuery = Annotated[Range, Query(description="W (7 days), BM (bundle month), MTD, 6M.")]


@router.get("/v1/resources/{resource_id}/consumption", responses=documented(NotFound))
def consumption(actor: ActorDep, services: ServicesDep, resource_id: str) -> ConsumptionSummary:
    """GU used this bundle month against the allocation, and the refill date."""
    return summary_out(services.consumption.summary(actor, resource_id))


@router.get("/v1/resources/{resource_id}/consumption/daily", responses=documented(NotFound))
def daily(
    actor: ActorDep, services: ServicesDep, resource_id: str, range: RangeQuery = "BM"
) -> ConsumptionSeries:
    return series_out(services.consumption.series(actor, resource_id, range), range)


@router.get(
    "/v1/resources/{resource_id}/consumption/export.csv",
    responses=documented(NotFound) | {200: {"content": {"text/csv": {}}}},
    response_class=Response,
)
def export_csv(
    actor: ActorDep, services: ServicesDep, resource_id: str, range: RangeQuery = "BM"
) -> Response:
    """date, input tokens, output tokens per day; days with no consumption are not exported."""
    body = services.consumption.export_csv(actor, resource_id, range)
    filename = f"consumption-{resource_id}-{range}.csv"
    return Response(
        body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.post("/v1/gateway/usage", tags=["gateway"], responses=documented(NotFound, CapacityExhausted))
def gateway_usage(principal: PrincipalDep, services: ServicesDep, body: GatewayUsage) -> GatewayUsageRecorded:
    """An external gateway reports one call's tokens, authenticated with the resource's API key;
    refused (429) once the resource's GU for the bundle month are used up."""
    recorded = services.gateway.report_usage(principal, body.model_id, body.input_tokens, body.output_tokens)
    return GatewayUsageRecorded(
        resource_id=principal.resource_id,
        genai_units=recorded.genai_units,
        used_genai_units=recorded.used_gu,
        allocation_genai_units=recorded.allocation_gu,
        exhausted=recorded.exhausted,
    )
