"""Every ORM model, imported in one place so Alembic and tests see the whole schema."""

from kb_service.db import Base
from kb_service.keys.models import ApiKey
from kb_service.knowledge.models import ChunkJob, Collection, Document, DocumentBlob
from kb_service.metering.models import UsageEvent
from kb_service.resources.models import Resource

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "ChunkJob",
    "Collection",
    "Document",
    "DocumentBlob",
    "Resource",
    "UsageEvent",
    "metadata",
]
