"""Provisioning, overview, settings, rename and deprovisioning of control-plane resources.

Only company admins provision and deprovision. The four prerequisites (platform account, price list,
enterprise subscription, free Cloud Tokens) are checked before anything is created; `preview` runs
every check and returns the specification without creating anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import structlog
from sqlalchemy.orm import Session

from kb_service.capacity.periods import bundle_month
from kb_service.capacity.plans import allocation_gu, resolve_size
from kb_service.catalog import UnknownModelError, all_models, get_model
from kb_service.clock import Clock, today
from kb_service.companies.models import Company
from kb_service.companies.service import CompanyService
from kb_service.errors import Conflict, Forbidden, InvalidInput, NotFound
from kb_service.keys.repository import KeyRepository
from kb_service.provisioning.repository import ProvisioningRepository
from kb_service.resources.models import Resource, ResourceStatus, ResourceType
from kb_service.resources.repository import ResourceRepository
from kb_service.resources.service import ResourceService
from kb_service.teams.access import Access, Permission
from kb_service.teams.models import TeamMember
from kb_service.teams.repository import TeamRepository
from kb_service.users.repository import UserRepository
from kb_service.users.service import Actor
from kb_service.vectorstores.base import VectorStore
from schemas.provisioning import ProvisionRequest, ResourceUpdate, Specification

log = structlog.get_logger(__name__)

# Verbatim from the product documentation; shown when the platform account cannot be determined.
PLATFORM_ACCOUNT_WARNING = (
    "We couldn't retrieve your correct platform account, which is required to access available tokens "
    "and create resources. Please contact Mendix Support for assistance."
)
MIN_PRICE_LIST_YEAR = 2021


class PrerequisiteNotMet(Forbidden):
    code = "prerequisite_not_met"


class InsufficientCloudTokens(Conflict):
    code = "insufficient_cloud_tokens"


@dataclass(frozen=True, slots=True)
class ResourceView:
    resource: Resource
    models: list[str]


@dataclass(frozen=True, slots=True)
class SettingsView:
    view: ResourceView
    company: Company
    linked_knowledge_base_ids: list[str]
    refill_on: date | None


class ProvisioningService:
    def __init__(self, session: Session, store: VectorStore, clock: Clock) -> None:
        self._session = session
        self._store = store
        self._clock = clock
        self._repo = ProvisioningRepository(session)
        self._companies = CompanyService(session, clock)
        self._access = Access(session)

    # --- provisioning ---------------------------------------------------------------------------

    def preview(self, actor: Actor, request: ProvisionRequest) -> Specification:
        if not actor.is_admin:
            raise Forbidden("Only company admins provision resources.")
        self._check_platform(self._companies.get(actor.company_id))
        plan, tokens = resolve_size(request.type, request.plan, request.cloud_tokens)
        models, default_model = self._validate_models(request)
        if ResourceType(request.type) == ResourceType.KNOWLEDGE_BASE:
            self._linkable_embeddings(actor, request)
        available = self._companies.balance(actor.company_id).available
        if available < tokens:
            raise InsufficientCloudTokens(
                f"Not enough Cloud Tokens: this resource needs {tokens}, {available} are free "
                f"({tokens - available} missing).",
                details={"required": tokens, "available": available, "missing": tokens - available},
            )
        return Specification(
            type=request.type,
            display_name=request.display_name,
            environment=request.environment,
            region=request.region,
            cross_region_inference=self._cri(request),
            models=models,
            default_model=default_model,
            plan=plan,
            cloud_tokens=tokens,
            genai_units_per_month=allocation_gu(request.type, tokens),
            balance_before=available,
            balance_after=available - tokens,
            embeddings_resource_id=request.embeddings_resource_id,
            created_for=request.created_for,
        )

    def provision(self, actor: Actor, request: ProvisionRequest) -> ResourceView:
        spec = self.preview(actor, request)
        resource = self._create(spec)
        resource.company_id = actor.company_id
        resource.environment = spec.environment
        resource.region = spec.region
        resource.cross_region_inference = spec.cross_region_inference
        resource.plan = spec.plan
        resource.capacity_tokens = spec.cloud_tokens
        resource.default_model_id = spec.default_model
        resource.created_for_name = spec.created_for.name
        resource.created_for_email = spec.created_for.email
        resource.activated_on = today(self._clock)
        if ResourceType(spec.type) == ResourceType.TEXT_GENERATION:
            self._repo.set_models(resource.id, spec.models)
        self._session.flush()
        self._companies.record(actor.company_id, resource.id, -spec.cloud_tokens, "provisioned")
        self._add_created_for(actor, resource)
        log.info("resource.provisioned", resource_id=resource.id, type=spec.type, tokens=spec.cloud_tokens)
        return self.view(resource)

    def _create(self, spec: Specification) -> Resource:
        resources = ResourceService(self._session, self._store)
        if ResourceType(spec.type) == ResourceType.EMBEDDINGS:
            return resources.create_embeddings_resource(spec.display_name, spec.models[0])
        if ResourceType(spec.type) == ResourceType.KNOWLEDGE_BASE:
            handle = resources.create_knowledge_base(
                spec.display_name, embeddings_resource_id=spec.embeddings_resource_id
            )
            return handle.knowledge_base
        resource = Resource(type=ResourceType.TEXT_GENERATION, display_name=spec.display_name)
        self._session.add(resource)
        self._session.flush()
        return resource

    def prerequisite_problem(self, actor: Actor) -> str | None:
        """Why the caller's company cannot provision (the platform warning, an old price list), or None.

        Read-only: the control center shows it before any form is filled in."""
        try:
            self._check_platform(self._companies.get(actor.company_id))
        except PrerequisiteNotMet as exc:
            return exc.message
        return None

    def _check_platform(self, company: Company) -> None:
        if company.accounts != 1 or company.enterprise_subscriptions != 1:
            raise PrerequisiteNotMet(
                PLATFORM_ACCOUNT_WARNING,
                details={
                    "accounts": company.accounts,
                    "enterprise_subscriptions": company.enterprise_subscriptions,
                },
            )
        if company.price_list_year < MIN_PRICE_LIST_YEAR:
            raise PrerequisiteNotMet(
                f"Provisioning needs a subscription on the FY{MIN_PRICE_LIST_YEAR % 100} price list or "
                f"newer; yours is on FY{company.price_list_year % 100}.",
                details={"price_list_year": company.price_list_year},
            )

    @staticmethod
    def _cri(request: ProvisionRequest) -> bool:
        if request.cross_region_inference is not None:
            return request.cross_region_inference
        return ResourceType(request.type) == ResourceType.TEXT_GENERATION

    def _validate_models(self, request: ProvisionRequest) -> tuple[list[str], str | None]:
        if ResourceType(request.type) == ResourceType.KNOWLEDGE_BASE:
            if request.models or request.default_model:
                raise InvalidInput("A knowledge base has no models; it embeds with its embeddings resource.")
            return [], None
        kind = "text" if ResourceType(request.type) == ResourceType.TEXT_GENERATION else "embeddings"
        models = list(dict.fromkeys(request.models))
        if kind == "embeddings" and len(models) != 1:
            raise InvalidInput("An embeddings resource has exactly one embeddings model.")
        if not models:
            raise InvalidInput("Select at least one model.")
        for model_id in models:
            self._check_model(model_id, kind, request.region)
        if kind == "embeddings":
            if request.default_model not in (None, models[0]):
                raise InvalidInput("Only text-generation resources have a default model.")
            return models, None
        default_model = request.default_model or (models[0] if len(models) == 1 else None)
        if default_model not in models:
            raise InvalidInput("The default model must be one of the selected models.")
        return models, default_model

    @staticmethod
    def _check_model(model_id: str, kind: str, region: str) -> None:
        try:
            model = get_model(model_id)
        except UnknownModelError:
            known = ", ".join(m.id for m in all_models().values() if m.kind == kind)
            raise InvalidInput(f"Unknown model {model_id!r}; choose from {known}.") from None
        if model.kind != kind:
            raise InvalidInput(f"{model_id!r} is not a {kind} model.")
        if region not in model.regions:
            raise InvalidInput(f"{model.display_name} is not available in {region}.")

    def _linkable_embeddings(self, actor: Actor, request: ProvisionRequest) -> Resource:
        if request.embeddings_resource_id is None:
            raise InvalidInput("A knowledge base must be linked to an embeddings resource.")
        embeddings = ResourceRepository(self._session).get(request.embeddings_resource_id)
        if (
            embeddings is None
            or embeddings.company_id != actor.company_id
            or embeddings.type != ResourceType.EMBEDDINGS
        ):
            raise NotFound(f"Embeddings resource {request.embeddings_resource_id} not found.")
        if embeddings.region != request.region:
            raise InvalidInput(
                f"The embeddings resource is in {embeddings.region}; a linked knowledge base must be too."
            )
        if embeddings.status in (ResourceStatus.DEPROVISIONING_SCHEDULED, ResourceStatus.DEPROVISIONED):
            raise Conflict("That embeddings resource is being deprovisioned; link another one.")
        return embeddings

    def _add_created_for(self, actor: Actor, resource: Resource) -> None:
        user = UserRepository(self._session).get_by_email(resource.created_for_email or "")
        if user is not None and user.company_id == actor.company_id:
            TeamRepository(self._session).add_member(TeamMember(resource_id=resource.id, user_id=user.id))

    # --- reading --------------------------------------------------------------------------------

    def list(self, actor: Actor, resource_type: str | None = None) -> list[ResourceView]:
        resources = self._repo.visible(
            actor.company_id, actor.user_id, is_admin=actor.is_admin, resource_type=resource_type
        )
        return [self.view(r) for r in resources]

    def get(self, actor: Actor, resource_id: str) -> ResourceView:
        return self.view(self._access.resource(actor, resource_id, Permission.VIEW))

    def settings(self, actor: Actor, resource_id: str) -> SettingsView:
        resource = self._access.resource(actor, resource_id, Permission.VIEW)
        linked = (
            [kb.id for kb in self._repo.linked_knowledge_bases(resource.id)]
            if resource.type == ResourceType.EMBEDDINGS
            else []
        )
        refill = (
            bundle_month(resource.activated_on, today(self._clock)).end
            if resource.activated_on and resource.type != ResourceType.KNOWLEDGE_BASE
            else None
        )
        assert resource.company_id is not None
        return SettingsView(self.view(resource), self._companies.get(resource.company_id), linked, refill)

    def view(self, resource: Resource) -> ResourceView:
        if resource.type == ResourceType.TEXT_GENERATION:
            models = self._repo.models_of(resource.id)
        elif resource.type == ResourceType.EMBEDDINGS:
            models = [resource.model_id] if resource.model_id else []
        else:
            linked = resource.embeddings_resource
            models = [linked.model_id] if linked is not None and linked.model_id else []
        return ResourceView(resource, models)

    # --- changes --------------------------------------------------------------------------------

    def update(self, actor: Actor, resource_id: str, change: ResourceUpdate) -> ResourceView:
        needed = [
            permission
            for permission, value in (
                (Permission.RENAME, change.display_name),
                (Permission.CHANGE_ENVIRONMENT, change.environment),
                (Permission.CHANGE_MODEL, change.default_model),
            )
            if value is not None
        ]
        if not needed:
            raise InvalidInput("Nothing to change: give display_name, environment or default_model.")
        for permission in needed:
            resource = self._access.resource(actor, resource_id, permission)
        if change.default_model is not None:
            if resource.type != ResourceType.TEXT_GENERATION:
                raise InvalidInput("Only text-generation resources have a default model.")
            if change.default_model not in self._repo.models_of(resource.id):
                raise InvalidInput("The default model must be one of the resource's models.")
            resource.default_model_id = change.default_model
        if change.display_name is not None:
            resource.display_name = change.display_name
        if change.environment is not None:
            resource.environment = change.environment
        return self.view(resource)

    def deprovision(self, actor: Actor, resource_id: str) -> ResourceView:
        """Schedule deprovisioning at the end of the current bundle month; usable until then."""
        resource = self._access.resource(actor, resource_id, Permission.DEPROVISION)
        if resource.status in (ResourceStatus.DEPROVISIONING_SCHEDULED, ResourceStatus.DEPROVISIONED):
            raise Conflict(f"Resource {resource_id} is already {resource.status.replace('_', ' ')}.")
        on = bundle_month(resource.activated_on or resource.created_at.date(), today(self._clock)).end
        if resource.type == ResourceType.EMBEDDINGS:
            on = self._after_linked_knowledge_bases(resource, on)
        resource.status = ResourceStatus.DEPROVISIONING_SCHEDULED
        resource.deprovision_on = on
        log.info("resource.deprovision_scheduled", resource_id=resource.id, on=on.isoformat())
        return self.view(resource)

    def _after_linked_knowledge_bases(self, embeddings: Resource, on: date) -> date:
        """A KB may go in the same month as its embeddings resource, but never outlive it."""
        linked = self._repo.linked_knowledge_bases(embeddings.id)
        blocking = [kb for kb in linked if kb.deprovision_on is None]
        if blocking:
            names = ", ".join(kb.display_name for kb in blocking)
            raise Conflict(
                f"Knowledge base(s) {names} still use this embeddings resource; deprovision them first "
                "(they may go in the same month).",
                details={"knowledge_base_ids": [kb.id for kb in blocking]},
            )
        return max([on, *(kb.deprovision_on for kb in linked if kb.deprovision_on)])

    def carry_out_deprovisions(self) -> int:
        """Deprovision whatever is due: keys revoked, KB content dropped, Cloud Tokens freed."""
        due = self._repo.due_for_deprovisioning(today(self._clock))
        keys = KeyRepository(self._session)
        for resource in due:
            resource.status = ResourceStatus.DEPROVISIONED
            resource.pending_change_on = None
            for key in keys.list_for_resource(resource.id):
                key.revoked_at = key.revoked_at or self._clock.now()
            self._session.flush()
            if resource.company_id is not None:
                self._companies.record(
                    resource.company_id, resource.id, resource.capacity_tokens, "deprovisioned"
                )
            if resource.type == ResourceType.KNOWLEDGE_BASE:
                self._store.drop_index(resource.id)
            log.info("resource.deprovisioned", resource_id=resource.id, tokens_freed=resource.capacity_tokens)
        return len(due)
