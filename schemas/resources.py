from __future__ import annotations

from datetime import datetime

from schemas._base import Schema


class EmbeddingsResourceOut(Schema):
    id: str
    display_name: str
    model_id: str
    dimension: int
    status: str
    created_at: datetime


class KnowledgeBaseOut(Schema):
    id: str
    display_name: str
    embeddings_resource_id: str
    model_id: str
    dimension: int
    status: str
    created_at: datetime


class KnowledgeBaseCreated(Schema):
    knowledge_base_id: str
    embeddings_resource_id: str
    model_id: str
    dimension: int
