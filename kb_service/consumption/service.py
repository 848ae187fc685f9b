"""Consumption of text and embeddings resources: the bundle month so far, daily series for the
portal's ranges and the CSV export (read from what `metering` wrote).

A knowledge base has none of its own: its uploads and searches meter on its embeddings resource.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta

from kb_service.auth.access import Access, Permission
from kb_service.auth.principals import Actor
from kb_service.capacity.formatting import used_of_allocation
from kb_service.capacity.periods import add_months, bundle_month
from kb_service.capacity.service import CapacityService, Usage
from kb_service.clock import Clock, today
from kb_service.errors import InvalidInput
from kb_service.metering.repository import UsageRepository
from kb_service.resources.models import Resource, ResourceType
from schemas.consumption import DayUsage, Range


@dataclass(frozen=True, slots=True)
class Summary:
    resource: Resource
    usage: Usage

    @property
    def percent(self) -> float:
        allocation = self.usage.allocation_gu
        return round(100 * self.usage.used_gu / allocation, 1) if allocation else 0.0

    @property
    def display(self) -> str:
        return used_of_allocation(self.usage.used_gu, self.usage.allocation_gu)


@dataclass(frozen=True, slots=True)
class Series:
    resource: Resource
    start: date
    end: date
    allocation_gu: int
    days: list[DayUsage]


class ConsumptionService:
    def __init__(
        self, usage: UsageRepository, capacity: CapacityService, access: Access, clock: Clock
    ) -> None:
        self._usage = usage
        self._capacity = capacity
        self._access = access
        self._clock = clock

    def summary(self, actor: Actor, resource_id: str) -> Summary:
        resource = self._metered(actor, resource_id)
        return Summary(resource, self._capacity.usage(resource))

    def series(self, actor: Actor, resource_id: str, range_: Range) -> Series:
        resource = self._metered(actor, resource_id)
        start, end = self._range(resource, range_)
        totals = {
            d: (i, o, c, g)
            for d, i, o, c, g in self._usage.daily_totals(resource.id, start, end + timedelta(1))
        }
        days = []
        day = start
        while day <= end:
            i, o, c, g = totals.get(day, (0, 0, 0, 0.0))
            days.append(DayUsage(date=day, genai_units=g, input_tokens=i, output_tokens=o, api_calls=c))
            day += timedelta(days=1)
        return Series(resource, start, end, self._capacity.usage(resource).allocation_gu, days)

    def export_csv(self, actor: Actor, resource_id: str, range_: Range) -> str:
        """date, input tokens, output tokens — days with no consumption are left out."""
        series = self.series(actor, resource_id, range_)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["date", "input_tokens", "output_tokens"])
        for day in series.days:
            if day.input_tokens or day.output_tokens or day.api_calls:
                writer.writerow([day.date.isoformat(), day.input_tokens, day.output_tokens])
        return buffer.getvalue()

    def _metered(self, actor: Actor, resource_id: str) -> Resource:
        resource = self._access.resource(actor, resource_id, Permission.VIEW_CONSUMPTION)
        if resource.type == ResourceType.KNOWLEDGE_BASE:
            raise InvalidInput(
                "A knowledge base has no consumption of its own; its uploads and searches meter on "
                f"its embeddings resource {resource.embeddings_resource_id}."
            )
        return resource

    def _range(self, resource: Resource, range_: Range) -> tuple[date, date]:
        end = today(self._clock)
        match range_:
            case "W":
                return end - timedelta(days=6), end
            case "BM":
                return bundle_month(resource.activated_on or resource.created_at.date(), end).start, end
            case "MTD":
                return end.replace(day=1), end
            case "6M":
                return add_months(end, -6) + timedelta(days=1), end
