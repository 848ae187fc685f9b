"""The ingestion pipeline, run by the Celery workers: parse → chunk → embed (batched) → index.

Each step commits its progress, so the API shows a live status. Work is held under a lease that is
renewed after every embedding batch; losing the lease (the document was deleted or replaced, or the
worker stalled and another took over) stops the holder. Chunk ids are derived from the source id and
position, so running a document twice overwrites, never duplicates. The final status is set with a
conditional update: if it no longer applies, the worker removes what it wrote.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

import numpy as np
import structlog

from kb_service.capacity.service import CapacityService
from kb_service.clock import Clock
from kb_service.config import Settings
from kb_service.embedders.base import Embedder, EmbedderError, TransientEmbedderError
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.errors import CapacityExhausted
from kb_service.ingestion.chunking import chunk_pages
from kb_service.ingestion.lease import Heartbeat
from kb_service.ingestion.parsing import ParseError, parse_document
from kb_service.ingestion.records import (
    DELETE_MODE,
    ChunkDeletion,
    DocumentSnapshot,
    MetadataEdit,
    file_chunk,
    job_replaces,
    pushed_chunk,
)
from kb_service.knowledge.models import ChunkJob, Document, EmbeddedBatch, WorkStatus
from kb_service.knowledge.repository import Leased, WorkRepository
from kb_service.metering.service import MeteringService
from kb_service.queue.broker import PROCESS_CHUNK_JOB, PROCESS_DOCUMENT
from kb_service.queue.outbox import Outbox
from kb_service.resources.lifecycle import deprovisioned_on, gone_message
from kb_service.resources.repository import ResourceRepository
from kb_service.vectorstores.base import (
    ChunkWrite,
    Eq,
    In,
    TransientVectorStoreError,
    VectorStore,
    VectorStoreError,
)

log = structlog.get_logger(__name__)

# Orphaned work a worker takes over before its own message (bounded: its message must run too).
_MAX_ORPHANS_PER_TASK = 5


class PipelineUnit(Protocol):
    """What one unit of work of the pipeline uses (the composition root's `Services` provides it)."""

    @property
    def work(self) -> WorkRepository: ...

    @property
    def resource_repository(self) -> ResourceRepository: ...

    @property
    def capacity(self) -> CapacityService: ...

    @property
    def metering(self) -> MeteringService: ...

    @property
    def outbox(self) -> Outbox: ...


class LeaseLost(Exception):
    """The work was deleted, replaced or taken over; stop without finishing."""


@dataclass(frozen=True, slots=True)
class _Target:
    kb_id: str
    embeddings_resource_id: str
    model_id: str


class IngestionService:
    def __init__(
        self,
        units: Callable[[], AbstractContextManager[PipelineUnit]],
        store: VectorStore,
        embedders: EmbedderRegistry,
        settings: Settings,
        clock: Clock,
        *,
        worker_id: str,
        checkpoint: Callable[[], None] | None = None,
    ) -> None:
        self._units = units
        self._checkpoint = checkpoint
        self._store = store
        self._embedders = embedders
        self._settings = settings
        self._worker_id = worker_id
        self._now = clock.now
        self._lease = timedelta(seconds=settings.worker.lease_s)

    # --- documents ----------------------------------------------------------------------------

    def process_document(self, document_id: str) -> None:
        self._resume_orphans()
        self._process_document(document_id)

    def _resume_orphans(self) -> None:
        """Before its next message, a worker takes over work whose holder died mid-way (its lease
        expired): so that work resumes within one lease period, from the batches already embedded,
        instead of waiting behind the whole queue for the sweep's re-sent message."""
        for _ in range(_MAX_ORPHANS_PER_TASK):
            with self._units() as unit:
                now = self._now()
                model: type[Document] | type[ChunkJob] = Document
                found = unit.work.orphaned(Document, now)
                if found is None:
                    model, found = ChunkJob, unit.work.orphaned(ChunkJob, now)
            if found is None:
                return
            work_id = found
            log.info("ingestion.orphan.resumed", kind=model.__tablename__, work_id=work_id)
            try:
                if model is Document:
                    self._process_document(work_id)
                else:
                    self._process_chunk_job(work_id)
            except (TransientEmbedderError, TransientVectorStoreError):
                # Released: the sweep sends it again; this worker goes on with its own message.
                log.info("ingestion.orphan.deferred", kind=model.__tablename__, work_id=work_id)

    def _process_document(self, document_id: str) -> None:
        with self._units() as unit:
            work = unit.work
            if not work.claim(Document, document_id, self._worker_id, self._now(), self._lease):
                log.info("ingestion.document.not_claimed", document_id=document_id)
                return
            document = work.document(document_id)
            assert document is not None
            refusal = self._refusal(unit, document.kb_id)
            target = self._target(unit, document.kb_id)
            blob = work.blob(document_id)
            snapshot = DocumentSnapshot.of(document)
        if refusal is not None:
            self._fail(Document, document_id, refusal)
            return
        if blob is None:
            self._fail(Document, document_id, "The uploaded file is no longer available; upload it again.")
            return
        log.info("ingestion.document.started", document_id=document_id, kind=snapshot.kind, bytes=len(blob))
        with self._outcome(Document, document_id):
            self._run_document(snapshot, blob, target)

    def _run_document(self, doc: DocumentSnapshot, blob: bytes, target: _Target) -> None:
        self._check_capacity(target)
        embedder = self._embedders.get(target.model_id)
        started = time.perf_counter()
        parsed = parse_document(blob, doc.kind, password=doc.password)
        chunks = chunk_pages(parsed.pages, count_tokens=embedder.count_tokens, max_tokens=embedder.max_tokens)
        if not chunks:
            raise ParseError("no_text", "The file contains no extractable text.")
        cap = self._settings.max_chunks_per_document
        if len(chunks) > cap:
            # Before any embedding: nothing is metered for a document that cannot be indexed.
            raise ParseError(
                "too_large",
                f"The file makes {len(chunks):,} chunks, more than the {cap:,} a document may have "
                "(KB_MAX_CHUNKS_PER_DOCUMENT); split it into smaller files.",
            )
        self._renew(
            Document,
            doc.id,
            status=WorkStatus.EMBEDDING,
            page_count=parsed.page_count if doc.kind == "pdf" else None,
            chunk_count=len(chunks),
            parsed_at=self._now(),
            error=None,
        )
        log.info("ingestion.document.parsed", document_id=doc.id, chunks=len(chunks), pages=parsed.page_count)
        records = [file_chunk(doc, chunk) for chunk in chunks]
        vectors = self._embed(Document, doc.id, target, embedder, [c.text for c in chunks], "ingestion")
        self._renew(Document, doc.id, status=WorkStatus.INDEXING, embedded_at=self._now())
        with self._units() as unit:
            current = _load(unit.work, doc.id)
            replaced = [d.id for d in unit.work.indexed_predecessors(current)]
            # The metadata may have been edited while the file was parsed and embedded.
            metadata = dict(current.doc_metadata)
        writes = [
            ChunkWrite(replace(record, metadata=metadata), vector)
            for record, vector in zip(records, vectors, strict=True)
        ]
        self._store.write(
            target.kb_id, writes, delete_where=In("document_id", tuple(replaced)) if replaced else None
        )
        self._finish_indexed(Document, doc.id, target.kb_id, replaced=replaced, written_metadata=metadata)
        log.info(
            "ingestion.document.indexed",
            document_id=doc.id,
            chunks=len(chunks),
            replaced=len(replaced),
            seconds=round(time.perf_counter() - started, 3),
        )

    # --- chunk jobs ---------------------------------------------------------------------------

    def process_chunk_job(self, job_id: str) -> None:
        """A job that cannot be claimed is held by another worker or waits for an earlier job of
        its collection; that job's end (or the sweep) sends it again."""
        self._resume_orphans()
        self._process_chunk_job(job_id)

    def _process_chunk_job(self, job_id: str) -> None:
        with self._units() as unit:
            work = unit.work
            job = work.job(job_id)
            if job is None or job.status not in WorkStatus.unfinished():
                return
            if not work.claim(ChunkJob, job_id, self._worker_id, self._now(), self._lease):
                return
            refusal = self._refusal(unit, job.kb_id)
            target = self._target(unit, job.kb_id)
            collection_id, collection = job.collection_id, job.collection.name
            mode, payload = job.mode, job.payload
        if refusal is not None:
            self._fail(ChunkJob, job_id, refusal)
            self._send_next_job(collection_id)
            return
        with self._outcome(ChunkJob, job_id):
            if mode == DELETE_MODE and isinstance(payload, dict):
                self._run_delete_job(job_id, collection, ChunkDeletion.from_payload(payload), target)
            elif isinstance(payload, dict):
                self._run_metadata_job(job_id, collection, MetadataEdit.from_payload(payload), target)
            else:
                self._run_chunk_job(job_id, mode, collection, list(payload or []), target)
        self._send_next_job(collection_id)

    def _run_chunk_job(
        self, job_id: str, mode: str, collection: str, payload: list[dict[str, Any]], target: _Target
    ) -> None:
        embedder = self._embedders.get(target.model_id)
        # Out of the queued state first: a paused job must not be picked as its collection's next.
        self._renew(ChunkJob, job_id, status=WorkStatus.EMBEDDING, error=None)
        records = [pushed_chunk(job_id, collection, i, item) for i, item in enumerate(payload)]
        vectors = self._embed(ChunkJob, job_id, target, embedder, [r.text for r in records], "chunk_job")
        self._renew(ChunkJob, job_id, status=WorkStatus.INDEXING, embedded_at=self._now())
        writes = [ChunkWrite(record, vector) for record, vector in zip(records, vectors, strict=True)]
        self._store.write(target.kb_id, writes, delete_where=job_replaces(mode, collection, records))
        self._finish_indexed(ChunkJob, job_id, target.kb_id, payload=None)
        log.info("ingestion.chunk_job.indexed", job_id=job_id, mode=mode, chunks=len(records))

    def _run_metadata_job(self, job_id: str, collection: str, edit: MetadataEdit, target: _Target) -> None:
        """A metadata edit in place: no embedder, no capacity check, nothing metered."""
        self._renew(ChunkJob, job_id, status=WorkStatus.INDEXING, error=None)
        matched = self._store.update_metadata(
            target.kb_id, edit.target(collection), edit.set, edit.remove, edit.replace
        )
        self._finish_indexed(ChunkJob, job_id, target.kb_id, chunk_count=matched)
        log.info("ingestion.metadata_job.indexed", job_id=job_id, chunks=matched)

    def _run_delete_job(self, job_id: str, collection: str, deletion: ChunkDeletion, target: _Target) -> None:
        """App objects' chunks removed, in the collection's job order: no embedder, nothing metered."""
        self._renew(ChunkJob, job_id, status=WorkStatus.INDEXING, error=None)
        deleted = self._store.delete(target.kb_id, deletion.target(collection))
        self._finish_indexed(ChunkJob, job_id, target.kb_id, chunk_count=deleted)
        log.info("ingestion.delete_job.indexed", job_id=job_id, chunks=deleted)

    def _send_next_job(self, collection_id: str) -> None:
        with self._units() as unit:
            next_job = unit.work.next_queued_job(collection_id)
            if next_job is not None:
                unit.outbox.send(PROCESS_CHUNK_JOB, next_job)

    # --- shared steps -------------------------------------------------------------------------

    @contextmanager
    def _outcome(self, model: type[Leased], work_id: str) -> Iterator[None]:
        """How a failure ends the work: transient ones give the lease back and propagate (the task
        retries with backoff); permanent ones fail the work with their reason."""
        heartbeat = Heartbeat(lambda: self._extend_lease(model, work_id), self._lease.total_seconds() / 3)
        try:
            with heartbeat:
                yield
        except LeaseLost:
            log.info("ingestion.lease_lost", kind=model.__tablename__, work_id=work_id)
            self._forget_batches_if_gone(model, work_id)
        except CapacityExhausted as exc:
            # Paused, nothing lost: the work keeps its bytes, shows `paused` and why in `error`, and
            # the sweep re-sends it until a refill or a capacity increase lets it through.
            self._release(model, work_id, f"Paused: {exc.message}", status=WorkStatus.PAUSED)
            log.info("ingestion.paused", kind=model.__tablename__, work_id=work_id, **exc.details)
        except (TransientEmbedderError, TransientVectorStoreError) as exc:
            self._release(model, work_id, f"Waiting to retry: {exc}")
            raise
        except (ParseError, EmbedderError, VectorStoreError) as exc:
            self._fail(model, work_id, str(exc))
        except Exception:
            # A bug: fail visibly rather than leave the work to be retried forever.
            log.exception("ingestion.internal_error", kind=model.__tablename__, work_id=work_id)
            self._fail(model, work_id, "An internal error stopped processing; it has been logged.")

    def _embed(
        self,
        model: type[Leased],
        work_id: str,
        target: _Target,
        embedder: Embedder,
        texts: Sequence[str],
        source: str,
    ) -> np.ndarray:
        batch = self._settings.worker.embed_batch_size
        with self._units() as unit:
            # Resuming (after a pause, a crash or a transient failure): the batches already embedded
            # are reused, never embedded — nor metered — again.
            done = {
                start: (kept.count, kept.input_tokens, kept.vectors)
                for start, kept in unit.work.embedded_batches(work_id).items()
            }
        parts: list[np.ndarray] = []
        tokens = 0
        reused = 0
        for start in range(0, len(texts), batch):
            size = len(texts[start : start + batch])
            kept = done.get(start)
            if kept is not None and kept[0] == size:
                vectors = np.frombuffer(kept[2], dtype=np.float32).reshape(size, embedder.dimension)
                parts.append(vectors)
                tokens += kept[1]
                reused += size
                continue
            self._check_capacity(target)
            embeddings = embedder.embed(texts[start : start + batch], "search_document")
            tokens += embeddings.input_tokens
            vectors = np.ascontiguousarray(embeddings.vectors, dtype=np.float32)
            parts.append(vectors)
            with self._units() as unit:
                # A billed call is recorded even if the lease turns out to be lost; its vectors are
                # kept in the same transaction, so a resumed run reuses exactly what was billed.
                unit.metering.record_embeddings(
                    embeddings_resource_id=target.embeddings_resource_id,
                    model_id=target.model_id,
                    embeddings=embeddings,
                    source=source,
                    reference_id=work_id,
                )
                unit.work.keep_embedded_batch(
                    EmbeddedBatch(
                        source_id=work_id,
                        start=start,
                        count=size,
                        input_tokens=embeddings.input_tokens,
                        vectors=vectors.tobytes(),
                    )
                )
            extra: dict[str, object] = {"input_tokens": tokens}
            if model is Document:
                extra["chunks_embedded"] = start + size
            self._renew(model, work_id, **extra)
        if reused:
            resumed: dict[str, object] = {"input_tokens": tokens}
            if model is Document:
                resumed["chunks_embedded"] = len(texts)
            self._renew(model, work_id, **resumed)
            log.info("ingestion.resumed", kind=model.__tablename__, work_id=work_id, chunks_reused=reused)
        if not parts:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        return np.concatenate(parts)

    def _finish_indexed(
        self,
        model: type[Leased],
        work_id: str,
        kb_id: str,
        *,
        replaced: list[str] | None = None,
        written_metadata: dict[str, str] | None = None,
        **values: object,
    ) -> None:
        if model is Document:
            values["password"] = None  # kept until now: a resumed run parses the file again
        with self._units() as unit:
            work = unit.work
            finished = work.finish(
                model,
                work_id,
                self._worker_id,
                self._now(),
                status=WorkStatus.INDEXED,
                error=None,
                **values,
            )
            gone = (
                not finished and (work.document(work_id) if model is Document else work.job(work_id)) is None
            )
            if finished or gone:
                # Indexed, or deleted meanwhile: the kept batches are of no more use (a takeover by
                # another worker keeps them, for it to resume from).
                work.drop_embedded_batches(work_id)
            if finished and model is Document:
                work.drop_blob(work_id)
                work.delete_documents(replaced or [])
                self._catch_up_metadata(work, work_id, kb_id, written_metadata)
        if not finished:
            # Deleted or replaced while we were writing: take back what we wrote (the row may be gone).
            self._store.delete(kb_id, Eq("source_id", work_id))
            raise LeaseLost(work_id)

    def _catch_up_metadata(
        self, work: WorkRepository, document_id: str, kb_id: str, written: dict[str, str] | None
    ) -> None:
        """An edit that landed after the chunks were written: apply it before this unit commits. The
        finishing UPDATE holds the document's row, so a later edit waits for the commit and its own
        job then finds the chunks; this one is never overwritten by stale metadata."""
        document = work.document(document_id)
        if document is None or written is None or document.doc_metadata == written:
            return
        self._store.update_metadata(kb_id, Eq("source_id", document_id), {}, (), document.doc_metadata)
        log.info("ingestion.document.metadata_caught_up", document_id=document_id)

    def _forget_batches_if_gone(self, model: type[Leased], work_id: str) -> None:
        """Kept batches of work deleted meanwhile go too (a takeover keeps them for the new holder)."""
        with self._units() as unit:
            work = unit.work
            if (work.document(work_id) if model is Document else work.job(work_id)) is None:
                work.drop_embedded_batches(work_id)

    def _check_capacity(self, target: _Target) -> None:
        with self._units() as unit:
            resource = unit.resource_repository.get(target.embeddings_resource_id)
            if resource is not None:
                unit.capacity.check_embeddings(resource)

    def _extend_lease(self, model: type[Leased], work_id: str) -> bool:
        with self._units() as unit:
            return unit.work.renew(model, work_id, self._worker_id, self._now(), self._lease)

    def _renew(self, model: type[Leased], work_id: str, **values: object) -> None:
        with self._units() as unit:
            if not unit.work.renew(model, work_id, self._worker_id, self._now(), self._lease, **values):
                raise LeaseLost(work_id)

    def _release(self, model: type[Leased], work_id: str, note: str, **values: object) -> None:
        with self._units() as unit:
            unit.work.release(model, work_id, self._worker_id, self._now(), note, **values)

    def fail(self, model: type[Leased], work_id: str, reason: str) -> None:
        """Mark work failed whoever holds it (e.g. after the task's retries ran out)."""
        self._fail(model, work_id, reason, any_holder=True)

    def _fail(self, model: type[Leased], work_id: str, reason: str, *, any_holder: bool = False) -> None:
        owner = None if any_holder else self._worker_id
        # A failed document keeps neither its bytes nor its password.
        extra: dict[str, object] = {"password": None} if model is Document else {}
        with self._units() as unit:
            work = unit.work
            failed = work.finish(
                model, work_id, owner, self._now(), status=WorkStatus.FAILED, error=reason, **extra
            )
            if failed:
                work.drop_embedded_batches(work_id)
            if failed and model is Document:
                work.drop_blob(work_id)
        log.info("ingestion.failed", kind=model.__tablename__, work_id=work_id, reason=reason)

    # --- sweep --------------------------------------------------------------------------------

    def sweep(self) -> int:
        """Re-send unfinished work nobody holds: after a worker crash, a lost message or a broker outage."""
        now = self._now()
        grace = timedelta(seconds=self._settings.worker.sweep_interval_s)
        with self._units() as unit:
            work = unit.work
            documents = work.stale(Document, now, grace)
            jobs = work.stale(ChunkJob, now, grace)
            for document_id in documents:
                unit.outbox.send(PROCESS_DOCUMENT, document_id)
            for job_id in jobs:
                unit.outbox.send(PROCESS_CHUNK_JOB, job_id)
        if documents or jobs:
            log.info("ingestion.sweep.resent", documents=len(documents), jobs=len(jobs))
        if self._checkpoint is not None:
            # Deleted content leaves the state database's write-ahead log within one sweep.
            try:
                self._checkpoint()
            except Exception:
                log.warning("ingestion.sweep.checkpoint_failed", exc_info=True)
        return len(documents) + len(jobs)

    # --- plumbing -----------------------------------------------------------------------------

    def _refusal(self, unit: PipelineUnit, kb_id: str) -> str | None:
        """Why queued work of this KB must fail unprocessed (its deprovisioning took effect: nothing
        is embedded or metered for it), or None."""
        kb = unit.resource_repository.get(kb_id)
        on = deprovisioned_on(kb, self._now().date()) if kb is not None else None
        return gone_message(kb_id, on) if on is not None else None

    @staticmethod
    def _target(unit: PipelineUnit, kb_id: str) -> _Target:
        kb = unit.resource_repository.get(kb_id)
        if kb is None or kb.embeddings_resource is None or kb.embeddings_resource.model_id is None:
            raise VectorStoreError(f"Knowledge base {kb_id} has no linked embeddings resource.")
        return _Target(kb.id, kb.embeddings_resource.id, kb.embeddings_resource.model_id)


def _load(work: WorkRepository, document_id: str) -> Document:
    document = work.document(document_id)
    if document is None:
        raise LeaseLost(document_id)
    return document
