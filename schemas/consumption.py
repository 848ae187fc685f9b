from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from schemas._base import Schema

Range = Literal["W", "BM", "MTD", "6M"]


class ConsumptionSummary(Schema):
    resource_id: str
    plan: str | None
    used_genai_units: float
    allocation_genai_units: int
    percent_used: float
    display: str = Field(description='As the portal shows it, e.g. "1,521 / 1.6k".')
    bundle_month_start: date
    refill_on: date
    exhausted: bool


class DayUsage(Schema):
    date: date
    genai_units: float
    input_tokens: int
    output_tokens: int
    api_calls: int


class ConsumptionSeries(Schema):
    resource_id: str
    range: Range
    start: date
    end: date = Field(description="Inclusive: today.")
    allocation_genai_units: int = Field(description="The dashed allocation line of the GU chart.")
    days: list[DayUsage] = Field(description="Every day of the range, zeros included.")


class GatewayUsage(Schema):
    model_id: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)


class GatewayUsageRecorded(Schema):
    resource_id: str
    genai_units: float
    used_genai_units: float
    allocation_genai_units: int
    exhausted: bool
