"""The composition root: every service and repository of one unit of work is built here, once.

`Services(session, container, clock)` is what the API (`deps.ServicesDep`), the portal, every CLI
command, the scheduled work and the workers use. Each service gets its repositories and peer services
through `__init__`, so a rule that lives in a service (pair revocation, activity logging, the clock)
holds for every entry point: nothing else constructs a service.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import structlog
from sqlalchemy.orm import Session

from kb_service.activity.repository import ActivityRepository
from kb_service.activity.service import ActivityService
from kb_service.auth.access import Access
from kb_service.auth.principals import Principal
from kb_service.capacity.service import CapacityService
from kb_service.capacity.tally import usage_tally_for
from kb_service.clock import Clock, today
from kb_service.companies.repository import CompanyRepository
from kb_service.companies.service import CompanyService
from kb_service.consumption.service import ConsumptionService
from kb_service.container import Container
from kb_service.db import checkpoint, session_scope
from kb_service.errors import Gone, NotFound
from kb_service.evaluation.repository import EvaluationRepository
from kb_service.evaluation.service import EvaluationService
from kb_service.gateway.service import GatewayService
from kb_service.ingestion.service import IngestionService
from kb_service.keys.cache import key_cache_for
from kb_service.keys.repository import KeyRepository
from kb_service.keys.service import KeyService
from kb_service.knowledge.repository import KnowledgeRepository, WorkRepository
from kb_service.knowledge.service import KnowledgeService
from kb_service.metering.repository import UsageRepository
from kb_service.metering.service import MeteringService
from kb_service.openai_vector_stores.repository import VectorStoreRepository
from kb_service.openai_vector_stores.service import StoreSummary, VectorStoreService
from kb_service.queue.outbox import Outbox
from kb_service.resources.lifecycle import ensure_serving
from kb_service.resources.models import Resource
from kb_service.resources.repository import ResourceRepository
from kb_service.resources.service import ResourceService
from kb_service.retrieval.rerankers.factory import shared_reranker
from kb_service.retrieval.service import RetrievalService
from kb_service.teams.repository import TeamRepository
from kb_service.teams.service import TeamService
from kb_service.users.repository import UserRepository
from kb_service.users.service import UserService
from kb_service.users.throttle import SignInThrottle

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ScheduledWork:
    capacity_changes: int
    deprovisioned: int
    invitations_expired: int


class Services:
    def __init__(self, session: Session, container: Container, clock: Clock) -> None:
        self.session = session
        self.container = container
        self.clock = clock

    # --- repositories -------------------------------------------------------------------------

    @cached_property
    def resource_repository(self) -> ResourceRepository:
        return ResourceRepository(self.session)

    @cached_property
    def company_repository(self) -> CompanyRepository:
        return CompanyRepository(self.session)

    @cached_property
    def user_repository(self) -> UserRepository:
        return UserRepository(self.session)

    @cached_property
    def team_repository(self) -> TeamRepository:
        return TeamRepository(self.session)

    @cached_property
    def key_repository(self) -> KeyRepository:
        return KeyRepository(self.session)

    @cached_property
    def usage_repository(self) -> UsageRepository:
        return UsageRepository(self.session)

    @cached_property
    def activity_repository(self) -> ActivityRepository:
        return ActivityRepository(self.session)

    @cached_property
    def work(self) -> WorkRepository:
        """Leased work of the ingestion pipeline."""
        return WorkRepository(self.session)

    def knowledge_repository(self, kb_id: str) -> KnowledgeRepository:
        return KnowledgeRepository(self.session, kb_id)

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.session, self.container.dispatcher)

    # --- services -----------------------------------------------------------------------------

    @cached_property
    def access(self) -> Access:
        return Access(self.resource_repository, self.team_repository)

    @cached_property
    def companies(self) -> CompanyService:
        return CompanyService(self.company_repository, self.clock)

    @cached_property
    def users(self) -> UserService:
        return UserService(self.user_repository, self.clock)

    @cached_property
    def sign_in(self) -> SignInThrottle:
        return SignInThrottle(self.users, self.user_repository, self.clock, self.container.settings.portal)

    @cached_property
    def activity(self) -> ActivityService:
        return ActivityService(self.activity_repository, self.access, self.clock)

    @cached_property
    def keys(self) -> KeyService:
        return KeyService(
            self.key_repository,
            self.resource_repository,
            self.access,
            self.activity,
            self.clock,
            key_cache_for(self.container.sessions),
        )

    @cached_property
    def teams(self) -> TeamService:
        return TeamService(
            self.team_repository,
            self.user_repository,
            self.resource_repository,
            self.users,
            self.companies,
            self.access,
            self.activity,
            self.clock,
        )

    @cached_property
    def capacity(self) -> CapacityService:
        return CapacityService(
            self.resource_repository,
            self.usage_repository,
            self.companies,
            self.access,
            self.clock,
            activity=self.activity,
            tally=usage_tally_for(self.container.sessions),
        )

    @cached_property
    def metering(self) -> MeteringService:
        return MeteringService(self.usage_repository, self.clock)

    @cached_property
    def gateway(self) -> GatewayService:
        container = self.container
        return GatewayService(
            self.resource_repository,
            self.capacity,
            self.metering,
            lambda: container.text_provider,
            container.embedders,
            container.model_offer,
            self._metering_unit,
        )

    @contextmanager
    def _metering_unit(self) -> Iterator[MeteringService]:
        """Metering in a transaction of its own: a stream ends after the request's has committed."""
        with unit_of_work(self.container, self.clock) as services:
            yield services.metering

    @cached_property
    def consumption(self) -> ConsumptionService:
        return ConsumptionService(self.usage_repository, self.capacity, self.access, self.clock)

    @cached_property
    def resources(self) -> ResourceService:
        return ResourceService(
            self.resource_repository,
            self.team_repository,
            self.user_repository,
            self.knowledge_repository,
            self.companies,
            self.keys,
            self.access,
            self.container.store,
            self.clock,
            self.container.model_offer,
            team_service=self.teams,
            activity=self.activity,
        )

    def knowledge(self, kb: Resource, actor: str) -> KnowledgeService:
        """The KB's content as `actor` (a user's email, or `key:<id>`) changes it; a KB whose
        deprovisioning took effect is a 410 here, for every entry point (resources.lifecycle)."""
        ensure_serving(kb, today(self.clock))
        return KnowledgeService(
            kb,
            self.knowledge_repository(kb.id),
            self.container.store,
            self.outbox,
            self.activity,
            self.container.settings,
            actor=actor,
        )

    def retrieval(self, kb: Resource) -> RetrievalService:
        """Search over the KB; refused (410) once its deprovisioning took effect, before any
        embedding is made or metered."""
        ensure_serving(kb, today(self.clock))
        settings = self.container.settings
        return RetrievalService(
            kb,
            self.container.store,
            self.container.embedders,
            self.capacity,
            self.metering,
            shared_reranker(settings.rerank, settings.cohere),
        )

    def evaluation(self, kb: Resource, actor: str) -> EvaluationService:
        """The KB's stored evaluation runs, run as `actor`, searching through `retrieval(kb)`."""
        return EvaluationService(
            kb, EvaluationRepository(self.session, kb.id), self.retrieval(kb), self.clock, actor=actor
        )

    def vector_stores(self, kb: Resource, actor: str) -> VectorStoreService:
        """The KB as an OpenAI-compatible vector store, over `knowledge(kb)` and `retrieval(kb)`."""
        settings = self.container.settings
        return VectorStoreService(
            kb,
            VectorStoreRepository(self.session, kb.id),
            self.knowledge(kb, actor),
            lambda: self.retrieval(kb),
            max_upload_bytes=settings.max_upload_bytes,
            reranker_available=shared_reranker(settings.rerank, settings.cohere) is not None,
        )

    def reachable_vector_stores(self, principal: Principal) -> list[StoreSummary]:
        """The vector stores an API key reaches: its KB while it serves; none for other keys."""
        try:
            kb = self.resources.knowledge_base_of(principal, principal.resource_id)
            return [self.vector_stores(kb, principal.activity_actor).summary()]
        except (NotFound, Gone):
            return []

    # --- scheduled work -----------------------------------------------------------------------

    def apply_scheduled(self) -> ScheduledWork:
        """The periodic control-plane work (idempotent): deferred capacity changes at the new bundle
        month, then deprovisioning at the end of the bundle month, then invitation expiry."""
        # Changes first: a resource that is also deprovisioned today frees what it holds after them.
        work = ScheduledWork(
            self.capacity.apply_due_changes(),
            self.resources.carry_out_deprovisions(),
            self.team_repository.expire_invitations(self.clock.now()),
        )
        if work.capacity_changes or work.deprovisioned or work.invitations_expired:
            log.info(
                "controlplane.scheduled_applied",
                capacity_changes=work.capacity_changes,
                deprovisioned=work.deprovisioned,
                invitations_expired=work.invitations_expired,
            )
        return work


@contextmanager
def unit_of_work(container: Container, clock: Clock) -> Iterator[Services]:
    """One transaction: commits when the block ends, rolls back if it raises."""
    with session_scope(container.sessions) as session:
        yield Services(session, container, clock)


def ingestion_service(container: Container, clock: Clock, *, worker_id: str) -> IngestionService:
    """The pipeline the workers run; each of its steps is a unit of work of its own."""
    return IngestionService(
        lambda: unit_of_work(container, clock),
        container.store,
        container.embedders,
        container.settings,
        clock,
        worker_id=worker_id,
        checkpoint=lambda: checkpoint(container.engine),
    )
