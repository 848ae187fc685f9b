"""Consumption of text and embeddings resources: the bundle month so far, daily series for the
portal's ranges, the CSV export, and text-generation usage reported by the model gateway.

A knowledge base has none of its own: its uploads and searches meter on its embeddings resource.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta

import structlog
from sqlalchemy.orm import Session

from kb_service.capacity.formatting import used_of_allocation
from kb_service.capacity.periods import add_months, bundle_month
from kb_service.capacity.service import CapacityService, Usage
from kb_service.catalog import get_model
from kb_service.clock import Clock, today
from kb_service.errors import InvalidInput, NotFound
from kb_service.metering.models import UsageEvent
from kb_service.metering.repository import UsageRepository
from kb_service.provisioning.repository import ProvisioningRepository
from kb_service.resources.models import Resource, ResourceType
from kb_service.resources.repository import ResourceRepository
from kb_service.teams.access import Access, Permission
from kb_service.users.service import Actor
from schemas.consumption import DayUsage, GatewayUsage, Range

log = structlog.get_logger(__name__)


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
    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._clock = clock
        self._usage = UsageRepository(session)
        self._capacity = CapacityService(session, clock)
        self._access = Access(session)

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

    # --- the model gateway ----------------------------------------------------------------------

    def record_gateway_usage(self, resource_id: str, usage: GatewayUsage) -> tuple[float, Usage]:
        """Input + output tokens of one text-generation call, at the model's in/out rates."""
        resource = ResourceRepository(self._session).get(resource_id)
        if resource is None or resource.type != ResourceType.TEXT_GENERATION:
            raise NotFound("Usage is reported with the key of a text-generation resource.")
        if usage.model_id not in ProvisioningRepository(self._session).models_of(resource.id):
            raise InvalidInput(f"Model {usage.model_id!r} is not enabled on this resource.")
        units = get_model(usage.model_id).genai_units(usage.input_tokens, usage.output_tokens)
        now = self._clock.now()
        self._usage.add(
            UsageEvent(
                resource_id=resource.id,
                occurred_at=now,
                day=now.date(),
                model_id=usage.model_id,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                api_calls=1,
                genai_units=units,
                source="gateway",
                reference_id=None,
            )
        )
        self._session.flush()
        log.info("consumption.gateway_usage", resource_id=resource.id, genai_units=round(units, 4))
        return units, self._capacity.usage(resource)
