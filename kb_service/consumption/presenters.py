"""Consumption as it reads on the wire."""

from __future__ import annotations

from kb_service.consumption.service import Series, Summary
from schemas.consumption import ConsumptionSeries, ConsumptionSummary, Range


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
