"""Every ORM model, imported in one place so Alembic and tests see the whole schema."""

from kb_service.activity.models import ActivityEntry
from kb_service.companies.models import Company, TokenTransaction
from kb_service.db import Base
from kb_service.evaluation.models import Evaluation
from kb_service.keys.models import ApiKey
from kb_service.knowledge.models import ChunkJob, Collection, Document, DocumentBlob
from kb_service.metering.models import UsageEvent
from kb_service.openai_vector_stores.models import StagedFile
from kb_service.resources.models import Resource, ResourceModel
from kb_service.teams.models import Invitation, TeamMember
from kb_service.users.models import PersonalAccessToken, User

metadata = Base.metadata

__all__ = [
    "ActivityEntry",
    "ApiKey",
    "ChunkJob",
    "Collection",
    "Company",
    "Document",
    "DocumentBlob",
    "Evaluation",
    "Invitation",
    "PersonalAccessToken",
    "Resource",
    "ResourceModel",
    "StagedFile",
    "TeamMember",
    "TokenTransaction",
    "UsageEvent",
    "User",
    "metadata",
]
