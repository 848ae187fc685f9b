"""Ingestion tasks. Thin: ids in, the service does the work; transient failures retry with
exponential backoff and jitter, and when the retries run out the work fails with the reason."""

from __future__ import annotations

from celery import Task

from kb_service.embedders.base import TransientEmbedderError
from kb_service.knowledge.models import ChunkJob, Document
from kb_service.queue.broker import PROCESS_CHUNK_JOB, PROCESS_DOCUMENT
from kb_service.vectorstores.base import TransientVectorStoreError
from workers.app import app
from workers.context import ingestion_service

TRANSIENT = (TransientEmbedderError, TransientVectorStoreError)


class _IngestionTask(Task):  # type: ignore[misc]
    acks_late = True
    autoretry_for = TRANSIENT
    # Exponential backoff from 2 s, capped at 5 min, with full jitter; 8 retries span ~15 min.
    max_retries = 8
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple[str, ...], kwargs: object, einfo: object
    ) -> None:
        # Reached when retries ran out (or on a bug): the work must not stay "in progress".
        reason = f"Gave up after {self.request.retries} retries: {exc}"
        if self.name == PROCESS_DOCUMENT:
            ingestion_service().fail(Document, args[0], reason)
        else:
            ingestion_service().fail(ChunkJob, args[0], reason)


@app.task(name=PROCESS_DOCUMENT, base=_IngestionTask, bind=True)
def process_document(self: Task, document_id: str) -> None:
    ingestion_service().process_document(document_id)


@app.task(name=PROCESS_CHUNK_JOB, base=_IngestionTask, bind=True)
def process_chunk_job(self: Task, job_id: str) -> None:
    ingestion_service().process_chunk_job(job_id)
