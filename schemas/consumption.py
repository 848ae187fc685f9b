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


# The most tokens one reported model call may carry, in and out each: above every model's context
# window, and low enough that the ledger's sums stay far below 2^63 (SQLite's SUM() raises on
# overflow): 10M tokens a call would need ~9 * 10^11 calls to get there.
MAX_TOKENS_PER_CALL = 10_000_000


class GatewayUsage(Schema):
    model_id: str
    input_tokens: int = Field(
        ge=0, le=MAX_TOKENS_PER_CALL, strict=True, description=f"At most {MAX_TOKENS_PER_CALL:,}."
    )
    output_tokens: int = Field(
        ge=0, le=MAX_TOKENS_PER_CALL, strict=True, description=f"At most {MAX_TOKENS_PER_CALL:,}."
    )


class GatewayUsageRecorded(Schema):
    resource_id: str
    genai_units: float
    used_genai_units: float
    allocation_genai_units: int
    exhausted: bool
