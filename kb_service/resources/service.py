"""The resource lifecycle: provisioning (company admins), the overview, settings, changes and
deprovisioning — and the creation of the embeddings resources and knowledge bases they stand for.

The four prerequisites (platform account, price list, enterprise subscription, free Cloud Tokens) are
checked before anything is created; `preview` runs every check and returns the specification without
creating anything. Resources made by `kb-service kb create` go through `create_knowledge_base` too.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import structlog

from kb_service.activity.service import ActivityService
from kb_service.auth.access import Access, Permission
from kb_service.auth.principals import Actor, Principal
from kb_service.capacity.periods import bundle_month
from kb_service.capacity.plans import allocation_gu, resolve_size
from kb_service.catalog import EVERYTHING, Offer, UnknownModelError, all_models, embedding_models, get_model
from kb_service.clock import Clock, today
from kb_service.companies.models import Company
from kb_service.companies.service import CompanyService
from kb_service.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from kb_service.keys.service import KeyService
from kb_service.knowledge.models import DEFAULT_COLLECTION
from kb_service.knowledge.repository import KnowledgeRepository
from kb_service.resources import validation
from kb_service.resources.models import Resource, ResourceStatus, ResourceType
from kb_service.resources.repository import ResourceRepository
from kb_service.teams.models import TeamMember
from kb_service.teams.repository import TeamRepository
from kb_service.teams.service import IssuedInvitation, TeamService
from kb_service.users.repository import UserRepository
from kb_service.vectorstores.base import VectorStore
from schemas.resources import ModelsChange, ProvisionRequest, ResourceUpdate, Specification

log = structlog.get_logger(__name__)

ENDED = (ResourceStatus.DEPROVISIONING_SCHEDULED, ResourceStatus.DEPROVISIONED)


@dataclass(frozen=True, slots=True)
class ResourceView:
    resource: Resource
    models: list[str]
    # Provisioning for someone outside the company: the external invitation sent to them.
    invitation: IssuedInvitation | None = None


@dataclass(frozen=True, slots=True)
class SettingsView:
    view: ResourceView
    company: Company
    linked_knowledge_base_ids: list[str]
    refill_on: date | None
    # The catalog's models of the resource's kind in its region (what `change_models` may enable).
    region_models: list[str]


@dataclass(frozen=True, slots=True)
class KnowledgeBaseHandle:
    knowledge_base: Resource
    embeddings: Resource


class ResourceService:
    def __init__(
        self,
        resources: ResourceRepository,
        teams: TeamRepository,
        users: UserRepository,
        knowledge: Callable[[str], KnowledgeRepository],
        companies: CompanyService,
        keys: KeyService,
        access: Access,
        store: VectorStore,
        clock: Clock,
        offer: Offer = EVERYTHING,
        *,
        team_service: TeamService,
        activity: ActivityService,
    ) -> None:
        self._resources = resources
        self._teams = teams
        self._users = users
        self._knowledge = knowledge
        self._companies = companies
        self._keys = keys
        self._access = access
        self._store = store
        self._clock = clock
        self._offer = offer  # the models this deployment can call (provisioning refuses the rest)
        self._team_service = team_service
        self._activity = activity

    # --- provisioning ---------------------------------------------------------------------------

    def preview(self, actor: Actor, request: ProvisionRequest) -> Specification:
        if not actor.is_admin:
            raise Forbidden("Only company admins provision resources.")
        validation.check_platform(self._companies.get(actor.company_id))
        plan, tokens = resolve_size(request.type, request.plan, request.cloud_tokens)
        models, default_model = validation.validate_models(request, self._offer)
        if ResourceType(request.type) == ResourceType.KNOWLEDGE_BASE:
            self._linkable_embeddings(actor, request)
        self._check_created_for(actor, request.created_for.email)
        available = self._companies.require_free_tokens(actor.company_id, tokens, "this resource")
        return Specification(
            type=request.type,
            display_name=request.display_name,
            environment=request.environment,
            region=request.region,
            cross_region_inference=validation.cross_region_inference(request),
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
            self._resources.set_models(resource.id, spec.models)
        self._resources.flush()
        self._companies.record(actor.company_id, resource.id, -spec.cloud_tokens, "provisioned")
        self._activity.record(
            resource.id, actor.email, "resource.provisioned", plan=spec.plan, cloud_tokens=spec.cloud_tokens
        )
        invitation = self._add_created_for(actor, resource)
        log.info("resource.provisioned", resource_id=resource.id, type=spec.type, tokens=spec.cloud_tokens)
        return ResourceView(resource, self.view(resource).models, invitation)

    def _create(self, spec: Specification) -> Resource:
        if ResourceType(spec.type) == ResourceType.EMBEDDINGS:
            return self.create_embeddings_resource(spec.display_name, spec.models[0])
        if ResourceType(spec.type) == ResourceType.KNOWLEDGE_BASE:
            handle = self.create_knowledge_base(
                spec.display_name, embeddings_resource_id=spec.embeddings_resource_id
            )
            return handle.knowledge_base
        return self._resources.add(
            Resource(type=ResourceType.TEXT_GENERATION, display_name=spec.display_name)
        )

    def prerequisite_problem(self, actor: Actor) -> str | None:
        """Why the caller's company cannot provision (the platform warning, an old price list), or None.

        Read-only: the control center shows it before any form is filled in."""
        try:
            validation.check_platform(self._companies.get(actor.company_id))
        except validation.PrerequisiteNotMet as exc:
            return exc.message
        return None

    def _linkable_embeddings(self, actor: Actor, request: ProvisionRequest) -> Resource:
        field = {"field": "embeddings_resource_id"}
        if request.embeddings_resource_id is None:
            raise InvalidInput("A knowledge base must be linked to an embeddings resource.", details=field)
        embeddings = self._resources.get(request.embeddings_resource_id)
        if (
            embeddings is None
            or embeddings.company_id != actor.company_id
            or embeddings.type != ResourceType.EMBEDDINGS
        ):
            raise NotFound(
                f"Embeddings resource {request.embeddings_resource_id} not found.",
                field="embeddings_resource_id",
            )
        if embeddings.region != request.region:
            raise InvalidInput(
                f"The embeddings resource is in {embeddings.region}; a linked knowledge base must be too.",
                details=field,
            )
        if embeddings.status in ENDED:
            raise Conflict(
                "That embeddings resource is being deprovisioned; link another one.",
                field="embeddings_resource_id",
            )
        return embeddings

    def _is_company_user(self, actor: Actor, email: str) -> bool:
        user = self._users.get_by_email(email)
        return user is not None and user.company_id == actor.company_id

    def _check_created_for(self, actor: Actor, email: str) -> None:
        """Someone outside the company can only be given the resource by an external invitation."""
        if self._is_company_user(actor, email):
            return
        company = self._companies.get(actor.company_id)
        if not company.external_invitations_enabled:
            raise InvalidInput(
                f"{email} is not a user of {company.name}, and external invitations are off, so they "
                "could not be given access: provision for a user of the company, or enable external "
                "invitations to have them invited.",
                details={"field": "created_for.email", "external_invitations_enabled": False},
            )

    def _add_created_for(self, actor: Actor, resource: Resource) -> IssuedInvitation | None:
        """The user it is created for joins its team; someone outside the company is invited."""
        email = resource.created_for_email or ""
        user = self._users.get_by_email(email)
        if user is not None and user.company_id == actor.company_id:
            self._teams.add_member(
                TeamMember(resource_id=resource.id, user_id=user.id, added_at=self._clock.now())
            )
            self._activity.record(resource.id, actor.email, "member.added", email=user.email)
            return None
        return self._team_service.invite(actor, resource.id, email)

    # --- creating the data-plane resources ------------------------------------------------------

    def create_embeddings_resource(self, name: str, model_id: str) -> Resource:
        try:
            model = get_model(model_id)
        except UnknownModelError:
            known = ", ".join(m.id for m in embedding_models())
            raise InvalidInput(
                f"Unknown embedding model {model_id!r}; choose one of {known}.", details={"field": "models"}
            ) from None
        if model.kind != "embeddings" or model.dimension is None:
            raise InvalidInput(f"{model_id!r} is not an embeddings model.", details={"field": "models"})
        return self._resources.add(
            Resource(
                type=ResourceType.EMBEDDINGS, display_name=name, model_id=model.id, dimension=model.dimension
            )
        )

    def create_knowledge_base(
        self, name: str, *, model_id: str | None = None, embeddings_resource_id: str | None = None
    ) -> KnowledgeBaseHandle:
        """A KB linked to an existing embeddings resource, or to a new one for `model_id`."""
        if embeddings_resource_id is not None:
            embeddings = self._resources.get(embeddings_resource_id)
            if embeddings is None or embeddings.type != ResourceType.EMBEDDINGS:
                raise NotFound(f"Embeddings resource {embeddings_resource_id} not found.")
        else:
            embeddings = self.create_embeddings_resource(f"{name} embeddings", model_id or "")
        kb = self._resources.add(
            Resource(
                type=ResourceType.KNOWLEDGE_BASE,
                display_name=name,
                embeddings_resource_id=embeddings.id,
                region=embeddings.region,
            )
        )
        self._knowledge(kb.id).get_or_create_collection(DEFAULT_COLLECTION)
        assert embeddings.dimension is not None
        self._store.create_index(kb.id, embeddings.dimension)
        return KnowledgeBaseHandle(kb, embeddings)

    def create_local_knowledge_base(
        self,
        company: str,
        name: str,
        *,
        model_id: str | None = None,
        embeddings_resource_id: str | None = None,
    ) -> KnowledgeBaseHandle:
        """`kb-service kb create`: a KB (and its new embeddings resource, or one of the company's) in the
        company `company` (an id or a name; created if new), active from today, so the control center
        and the portal show both and a company admin can size them there. No Cloud Tokens are booked:
        the allocation starts at none."""
        existing = self._companies.find(company)
        if embeddings_resource_id is not None:
            linked = self._resources.get(embeddings_resource_id)
            if linked is None or linked.company_id not in (None, existing.id if existing else None):
                raise NotFound(f"Embeddings resource {embeddings_resource_id} not found.")
        # The KB first: a bad model is refused before any company is made.
        handle = self.create_knowledge_base(
            name, model_id=model_id, embeddings_resource_id=embeddings_resource_id
        )
        company_id = (existing or self._companies.create(company)).id
        for resource in (handle.embeddings, handle.knowledge_base):
            if resource.company_id is None:
                resource.company_id = company_id
                resource.activated_on = resource.activated_on or today(self._clock)
        self._resources.flush()
        log.info("resource.created_locally", resource_id=handle.knowledge_base.id, company_id=company_id)
        return handle

    def knowledge_base_of(self, principal: Principal, kb_id: str) -> Resource:
        """The KB an API key reaches; any other id (another customer's KB, or none) is a 404."""
        kb = self._resources.get_knowledge_base(kb_id) if principal.resource_id == kb_id else None
        if kb is None:
            raise NotFound(f"Knowledge base {kb_id} not found.")
        return kb

    def knowledge_bases(self) -> list[Resource]:
        """Every knowledge base (operator commands, warming the store at start)."""
        return self._resources.of_type(ResourceType.KNOWLEDGE_BASE)

    # --- reading --------------------------------------------------------------------------------

    def get(self, actor: Actor, resource_id: str) -> ResourceView:
        return self.view(self._access.resource(actor, resource_id, Permission.VIEW))

    def settings(self, actor: Actor, resource_id: str) -> SettingsView:
        resource = self._access.resource(actor, resource_id, Permission.VIEW)
        linked = (
            [kb.id for kb in self._resources.linked_knowledge_bases(resource.id)]
            if resource.type == ResourceType.EMBEDDINGS
            else []
        )
        assert resource.company_id is not None
        company = self._companies.get(resource.company_id)
        return SettingsView(
            self.view(resource), company, linked, self.refill_on(resource), self.region_models(resource)
        )

    def refill_on(self, resource: Resource) -> date | None:
        """When a sized resource's next bundle month starts; None for a KB or an ended resource."""
        if not resource.activated_on or resource.type == ResourceType.KNOWLEDGE_BASE:
            return None
        if resource.status == ResourceStatus.DEPROVISIONED:
            return None
        return bundle_month(resource.activated_on, today(self._clock)).end

    def view(self, resource: Resource) -> ResourceView:
        if resource.type == ResourceType.TEXT_GENERATION:
            models = self._resources.models_of(resource.id)
        elif resource.type == ResourceType.EMBEDDINGS:
            models = [resource.model_id] if resource.model_id else []
        else:
            linked = resource.embeddings_resource
            models = [linked.model_id] if linked is not None and linked.model_id else []
        return ResourceView(resource, models)

    def region_models(self, resource: Resource) -> builtins.list[str]:
        """The catalog's models of the resource's kind in its region that this deployment offers."""
        kind = {"text_generation": "text", "embeddings": "embeddings"}.get(resource.type)
        return sorted(
            m.id
            for m in all_models().values()
            if m.kind == kind and resource.region in m.regions and self._offer.offers(m)
        )

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
            field = {"field": "default_model"}
            if resource.type != ResourceType.TEXT_GENERATION:
                raise InvalidInput("Only text-generation resources have a default model.", details=field)
            if change.default_model not in self._resources.models_of(resource.id):
                raise InvalidInput("The default model must be one of the resource's models.", details=field)
            resource.default_model_id = change.default_model
        if change.display_name is not None:
            resource.display_name = change.display_name
        if change.environment is not None:
            resource.environment = change.environment
        changed = change.model_dump(exclude_none=True)
        self._activity.record(resource.id, actor.email, "settings.changed", **changed)
        return self.view(resource)

    def change_models(self, actor: Actor, resource_id: str, change: ModelsChange) -> ResourceView:
        """Enable other models on a resource (company admins): models of its own region only; an
        embeddings resource's model only while no knowledge base depends on it (their vectors would
        no longer match); a text resource's default stays among the enabled."""
        resource = self._access.resource(actor, resource_id, Permission.CHANGE_MODELS)
        if resource.status == ResourceStatus.DEPROVISIONED:
            raise Gone(f"Resource {resource_id} has been deprovisioned.")
        before = self.view(resource).models
        models = list(dict.fromkeys(change.models))
        if resource.type == ResourceType.KNOWLEDGE_BASE:
            raise InvalidInput(
                "A knowledge base has no models of its own; it embeds with its embeddings resource.",
                details={"field": "models"},
            )
        if resource.type == ResourceType.EMBEDDINGS:
            self._change_embeddings_model(resource, models, change.default_model)
        else:
            for model_id in models:
                validation.check_model(model_id, "text", resource.region, self._offer)
            default = change.default_model or (
                resource.default_model_id if resource.default_model_id in models else None
            )
            if default is None and len(models) == 1:
                default = models[0]
            if default not in models:
                raise InvalidInput(
                    "The default model must stay among the enabled models: choose one of "
                    f"{', '.join(models)} as `default_model`.",
                    details={"field": "default_model"},
                )
            self._resources.set_models(resource.id, models)
            resource.default_model_id = default
        after = self.view(resource)
        if after.models != before or change.default_model is not None:
            self._activity.record(
                resource.id,
                actor.email,
                "models.changed",
                models=after.models,
                previous=before,
                default_model=resource.default_model_id,
            )
        log.info("resource.models_changed", resource_id=resource.id, models=after.models)
        return after

    def _change_embeddings_model(self, resource: Resource, models: list[str], default: str | None) -> None:
        if len(models) != 1:
            raise InvalidInput(
                "An embeddings resource has exactly one embeddings model.", details={"field": "models"}
            )
        if default not in (None, models[0]):
            raise InvalidInput(
                "Only text-generation resources have a default model.", details={"field": "default_model"}
            )
        (model_id,) = models
        if model_id == resource.model_id:
            return
        linked = self._resources.linked_knowledge_bases(resource.id)
        if linked:
            names = ", ".join(kb.display_name for kb in linked)
            raise Conflict(
                f"Knowledge base(s) {names} embed with this resource's model; their vectors would no "
                "longer match another model. Deprovision them, or link them to another embeddings "
                "resource, first.",
                details={"knowledge_base_ids": [kb.id for kb in linked]},
            )
        validation.check_model(model_id, "embeddings", resource.region, self._offer)
        spec = get_model(model_id)
        resource.model_id = spec.id
        resource.dimension = spec.dimension

    def deprovision(self, actor: Actor, resource_id: str) -> ResourceView:
        """Schedule deprovisioning at the end of the current bundle month; usable until then."""
        resource = self._access.resource(actor, resource_id, Permission.DEPROVISION)
        if resource.status in ENDED:
            raise Conflict(f"Resource {resource_id} is already {resource.status.replace('_', ' ')}.")
        on = bundle_month(resource.activated_on or resource.created_at.date(), today(self._clock)).end
        if resource.type == ResourceType.EMBEDDINGS:
            on = self._after_linked_knowledge_bases(resource, on)
        resource.status = ResourceStatus.DEPROVISIONING_SCHEDULED
        resource.deprovision_on = on
        self._activity.record(resource.id, actor.email, "deprovision.scheduled", on=on.isoformat())
        log.info("resource.deprovision_scheduled", resource_id=resource.id, on=on.isoformat())
        return self.view(resource)

    def cancel_deprovision(self, actor: Actor, resource_id: str) -> ResourceView:
        """Cancel a scheduled deprovisioning, until it has taken effect (then a 410)."""
        resource = self._access.resource(actor, resource_id, Permission.DEPROVISION)
        if resource.status == ResourceStatus.DEPROVISIONED:
            raise Gone(f"Resource {resource_id} has been deprovisioned; that can no longer be undone.")
        if resource.status != ResourceStatus.DEPROVISIONING_SCHEDULED:
            raise Conflict(f"Resource {resource_id} has no deprovisioning scheduled.")
        if resource.type == ResourceType.KNOWLEDGE_BASE:
            embeddings = resource.embeddings_resource
            if embeddings is not None and embeddings.status in ENDED:
                raise Conflict(
                    f"Its embeddings resource {embeddings.display_name} is being deprovisioned too; "
                    "cancel that first.",
                    details={"embeddings_resource_id": embeddings.id},
                )
        was = resource.deprovision_on
        resource.status = (
            ResourceStatus.PLAN_DOWNGRADE_SCHEDULED
            if resource.pending_plan is not None and resource.pending_change_on is not None
            else ResourceStatus.ACTIVE
        )
        resource.deprovision_on = None
        self._activity.record(
            resource.id, actor.email, "deprovision.cancelled", on=was.isoformat() if was else None
        )
        log.info("resource.deprovision_cancelled", resource_id=resource.id)
        return self.view(resource)

    def _after_linked_knowledge_bases(self, embeddings: Resource, on: date) -> date:
        """A KB may go in the same month as its embeddings resource, but never outlive it."""
        linked = self._resources.linked_knowledge_bases(embeddings.id)
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
        due = self._resources.due_for_deprovisioning(today(self._clock))
        for resource in due:
            resource.status = ResourceStatus.DEPROVISIONED
            resource.pending_change_on = None
            self._keys.revoke_all(resource.id)
            self._resources.flush()
            if resource.company_id is not None:
                self._companies.record(
                    resource.company_id, resource.id, resource.capacity_tokens, "deprovisioned"
                )
            if resource.type == ResourceType.KNOWLEDGE_BASE:
                self._store.drop_index(resource.id)
            self._activity.record(resource.id, "system", "resource.deprovisioned")
            log.info("resource.deprovisioned", resource_id=resource.id, tokens_freed=resource.capacity_tokens)
        return len(due)

    def list(self, actor: Actor, resource_type: str | None = None) -> list[ResourceView]:
        resources = self._resources.visible_to(
            actor.company_id, actor.user_id, is_admin=actor.is_admin, resource_type=resource_type
        )
        return [self.view(r) for r in resources]
