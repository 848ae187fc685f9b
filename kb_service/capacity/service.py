"""Capacity of text-generation and embeddings resources, per bundle month.

An increase applies at once and needs free Cloud Tokens. A decrease applies at once if the GU used so
far this bundle month are below the new allocation; otherwise the month keeps the old allocation and
the decrease (and the token release) happens at the next refill. A plan-era downgrade (L -> M -> S) is
always deferred, shows "PLAN DOWNGRADE SCHEDULED" and can be cancelled. KBs have no capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from kb_service.activity.service import ActivityService
from kb_service.auth.access import Access, Permission
from kb_service.auth.principals import Actor
from kb_service.capacity.periods import BundleMonth, bundle_month
from kb_service.capacity.plans import allocation_gu, resolve_size
from kb_service.capacity.tally import UsageTally
from kb_service.clock import Clock, today
from kb_service.companies.service import CompanyService
from kb_service.errors import CapacityExhausted, Conflict, InvalidInput, NotFound
from kb_service.metering.repository import UsageRepository
from kb_service.resources.models import Resource, ResourceStatus, ResourceType
from kb_service.resources.repository import ResourceRepository
from schemas.resources import CapacityChange

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Usage:
    """Where a resource stands in its current bundle month."""

    period: BundleMonth
    used_gu: float
    allocation_gu: int

    @property
    def exhausted(self) -> bool:
        return self.allocation_gu > 0 and self.used_gu >= self.allocation_gu


class CapacityService:
    def __init__(
        self,
        resources: ResourceRepository,
        usage: UsageRepository,
        companies: CompanyService,
        access: Access,
        clock: Clock,
        *,
        activity: ActivityService,
        tally: UsageTally | None = None,
    ) -> None:
        self._activity = activity
        # The process's running totals (`capacity.tally`); None sums the ledger on every check.
        self._tally = tally
        self._resources = resources
        self._usage = usage
        self._companies = companies
        self._access = access
        self._clock = clock

    def usage(self, resource: Resource) -> Usage:
        activated = resource.activated_on or resource.created_at.date()
        period = bundle_month(activated, today(self._clock))
        used = self._usage.genai_units(resource.id, period.start, period.end)
        return Usage(period, used, allocation_gu(resource.type, resource.capacity_tokens))

    def usage_of(self, resource_id: str) -> Usage:
        resource = self._resources.get(resource_id)
        if resource is None:
            raise NotFound(f"Resource {resource_id} not found.")
        return self.usage(resource)

    def check_capacity(self, resource: Resource) -> None:
        """Refuse a new call once a text-generation or embeddings resource has used its GU for the
        bundle month: 429 `capacity_exhausted` naming the resource and the refill date. Checked
        before any provider call, so a refused call spends nothing.

        Resources without an allocation (made by the data-plane CLI, outside any company) are not
        limited. With the process's tally the check reads no ledger and reserves a place for the
        call until the unit of work ends, so concurrent calls overshoot by at most one call
        (`capacity.tally`)."""
        usage = self._checked_usage(resource)
        if not usage.exhausted:
            return
        refill = usage.period.end.isoformat()
        kind = "Text-generation" if resource.type == ResourceType.TEXT_GENERATION else "Embeddings"
        raise CapacityExhausted(
            f"{kind} resource {resource.display_name} ({resource.id}) has used its "
            f"{usage.allocation_gu:,} GU for this bundle month; it refills on {refill}.",
            details={"resource_id": resource.id, "refill_on": refill},
        )

    def _checked_usage(self, resource: Resource) -> Usage:
        if self._tally is None:
            return self.usage(resource)
        allocation = allocation_gu(resource.type, resource.capacity_tokens)
        period = self._period(resource)
        if allocation <= 0:
            return Usage(period, 0.0, 0)  # not limited
        used = self._tally.admit(
            self._usage.session, resource.id, (period.start, period.end), allocation, self._usage.gu_stats
        )
        return Usage(period, used, allocation)

    def _period(self, resource: Resource) -> BundleMonth:
        return bundle_month(resource.activated_on or resource.created_at.date(), today(self._clock))

    def check_embeddings(self, resource: Resource) -> None:
        """Refuse new embedding once an embeddings resource has used its GU for the bundle month."""
        self.check_capacity(resource)

    def change(self, actor: Actor, resource_id: str, change: CapacityChange) -> Resource:
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_CAPACITY)
        if resource.type == ResourceType.KNOWLEDGE_BASE:
            raise InvalidInput("Knowledge bases have no capacity.")
        if resource.status in (ResourceStatus.DEPROVISIONING_SCHEDULED, ResourceStatus.DEPROVISIONED):
            raise Conflict("The capacity of a resource being deprovisioned cannot change.")
        plan, tokens = resolve_size(resource.type, change.plan, change.cloud_tokens)
        if tokens > resource.capacity_tokens:
            self._increase(resource, plan, tokens)
        elif tokens < resource.capacity_tokens:
            self._decrease(resource, plan, tokens)
        else:
            resource.plan = plan
            self._clear_pending(resource)
        self._activity.record(
            resource.id,
            actor.email,
            "capacity.changed",
            plan=resource.plan,
            cloud_tokens=resource.capacity_tokens,
            scheduled_on=resource.pending_change_on.isoformat() if resource.pending_change_on else None,
            scheduled_plan=resource.pending_plan,
            scheduled_cloud_tokens=resource.pending_capacity_tokens,
        )
        return resource

    def _increase(self, resource: Resource, plan: str | None, tokens: int) -> None:
        assert resource.company_id is not None
        extra = tokens - resource.capacity_tokens
        self._companies.require_free_tokens(resource.company_id, extra, "the increase")
        resource.capacity_tokens, resource.plan = tokens, plan
        self._clear_pending(resource)
        self._resources.flush()
        self._companies.record(resource.company_id, resource.id, -extra, "capacity_increase")
        log.info("capacity.increased", resource_id=resource.id, tokens=tokens)

    def _decrease(self, resource: Resource, plan: str | None, tokens: int) -> None:
        usage = self.usage(resource)
        plan_downgrade = resource.plan is not None and plan is not None
        if not plan_downgrade and usage.used_gu < allocation_gu(resource.type, tokens):
            self._apply(resource, plan, tokens, "capacity_decrease")
            return
        resource.pending_plan, resource.pending_capacity_tokens = plan, tokens
        resource.pending_change_on = usage.period.end
        if plan_downgrade:
            resource.status = ResourceStatus.PLAN_DOWNGRADE_SCHEDULED
        log.info("capacity.decrease_scheduled", resource_id=resource.id, on=usage.period.end.isoformat())

    def _apply(self, resource: Resource, plan: str | None, tokens: int, reason: str) -> None:
        assert resource.company_id is not None
        freed = resource.capacity_tokens - tokens
        resource.capacity_tokens, resource.plan = tokens, plan
        self._clear_pending(resource)
        self._resources.flush()
        self._companies.record(resource.company_id, resource.id, freed, reason)
        log.info("capacity.decreased", resource_id=resource.id, tokens=tokens, reason=reason)

    @staticmethod
    def _clear_pending(resource: Resource) -> None:
        resource.pending_plan = resource.pending_capacity_tokens = resource.pending_change_on = None
        if resource.status == ResourceStatus.PLAN_DOWNGRADE_SCHEDULED:
            resource.status = ResourceStatus.ACTIVE

    def cancel_scheduled(self, actor: Actor, resource_id: str) -> Resource:
        resource = self._access.resource(actor, resource_id, Permission.MANAGE_CAPACITY)
        if resource.pending_change_on is None:
            raise Conflict("No capacity change is scheduled for this resource.")
        self._clear_pending(resource)
        self._activity.record(resource.id, actor.email, "capacity.change_cancelled")
        return resource

    def apply_due_changes(self) -> int:
        """Carry out the deferred decreases and downgrades whose bundle month has started."""
        due = self._resources.due_for_change(today(self._clock))
        for resource in due:
            assert resource.pending_capacity_tokens is not None
            reason = "plan_downgrade" if resource.pending_plan and resource.plan else "capacity_decrease"
            self._apply(resource, resource.pending_plan, resource.pending_capacity_tokens, reason)
            self._activity.record(
                resource.id,
                "system",
                "capacity.changed",
                plan=resource.plan,
                cloud_tokens=resource.capacity_tokens,
            )
        return len(due)
