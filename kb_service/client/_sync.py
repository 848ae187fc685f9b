"""`KBClient`: the synchronous client (httpx). Every operation of the HTTP API is a method (built from
`kb_service.client._calls`), plus helpers that upload and wait for `indexed`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from kb_service.client import _calls as ops
from kb_service.client._base import (
    RETRY_STATUSES,
    RetryPolicy,
    auth_headers,
    build_request,
    document_outcome,
    job_outcome,
    read,
    resolve,
    sync_op,
    transport_error,
)
from kb_service.client._calls import Call
from kb_service.client.errors import WaitTimeout, error_from_response
from schemas.knowledge import ChunkJobOut, DocumentAccepted, DocumentOut

T = TypeVar("T")


class KBClient:
    """A connection to one kb-service: `KBClient(url, key)`, or `KBClient()` to read `KB_URL` and
    `KB_API_KEY`. A KB key reaches its knowledge base's data-plane routes; a personal access token the
    control plane (`/v1/resources`, `/v1/company`...)."""

    def __init__(
        self,
        url: str | None = None,
        key: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.url, self.key = resolve(url, key)
        self.retry = retry or RetryPolicy()
        self._http = http or httpx.Client(
            base_url=self.url, headers=auth_headers(self.key), timeout=timeout, transport=transport
        )

    def __enter__(self) -> KBClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        """Send one request, retrying 429/503 as `retry` says; the typed answer or a typed error."""
        attempt = 0
        while True:
            try:
                response = self._http.send(build_request(self._http, call))
            except httpx.TransportError as exc:
                delay = self.retry.delay(attempt, None) if call.method == "GET" else None
                if delay is None:
                    raise transport_error(exc, self.url) from exc
            else:
                if response.status_code not in RETRY_STATUSES:
                    return read(call, response)
                delay = self.retry.delay(attempt, response)
                if delay is None:
                    raise error_from_response(response)
            time.sleep(delay)
            attempt += 1

    # --- helpers ----------------------------------------------------------------------------------

    def upload_file(
        self,
        kb_id: str,
        path: str | Path,
        *,
        collection: str | None = None,
        metadata: Mapping[str, str] | None = None,
        password: str | None = None,
    ) -> DocumentAccepted:
        """Upload a file from disk (its name is the document's filename)."""
        source = Path(path)
        return self.upload_document(
            kb_id,
            source.name,
            source.read_bytes(),
            collection=collection,
            metadata=metadata,
            password=password,
        )

    def wait_for_document(
        self, kb_id: str, document_id: str, *, timeout: float = 600.0, poll: float = 0.5
    ) -> DocumentOut:
        """Poll until the document is `indexed`; `DocumentFailed` (with the reason) if it failed,
        `WaitTimeout` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            document = self.get_document(kb_id, document_id)
            done = document_outcome(document)
            if done is not None:
                return done
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"Document {document_id} is still {document.status} after {timeout:g} s.", code="timeout"
                )
            time.sleep(poll)

    def upload_and_wait(
        self,
        kb_id: str,
        path: str | Path,
        *,
        collection: str | None = None,
        metadata: Mapping[str, str] | None = None,
        password: str | None = None,
        timeout: float = 600.0,
        poll: float = 0.5,
    ) -> DocumentOut:
        """Upload a file and wait until it is `indexed` (an unchanged re-upload answers at once)."""
        accepted = self.upload_file(kb_id, path, collection=collection, metadata=metadata, password=password)
        return self.wait_for_document(kb_id, accepted.id, timeout=timeout, poll=poll)

    def wait_for_job(
        self, kb_id: str, job_id: str, *, timeout: float = 600.0, poll: float = 0.5
    ) -> ChunkJobOut:
        """Poll a chunk job until it is `indexed` (`DocumentFailed` / `WaitTimeout` as for documents)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(kb_id, job_id)
            done = job_outcome(job)
            if done is not None:
                return done
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"Job {job_id} is still {job.status} after {timeout:g} s.", code="timeout")
            time.sleep(poll)

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any other request, with this client's base URL and key (no retries, no error mapping)."""
        return self._http.request(method, path, **kwargs)

    # --- the operations (one per route; see kb_service.client._calls) -----------------------------

    health = sync_op(ops.health)
    ready = sync_op(ops.ready)
    metrics = sync_op(ops.metrics)
    upload_document = sync_op(ops.upload_document)
    list_documents = sync_op(ops.list_documents)
    get_document = sync_op(ops.get_document)
    update_document_metadata = sync_op(ops.update_document_metadata)
    delete_document = sync_op(ops.delete_document)
    list_collections = sync_op(ops.list_collections)
    delete_collection = sync_op(ops.delete_collection)
    push_chunks = sync_op(ops.push_chunks)
    list_chunks = sync_op(ops.list_chunks)
    delete_object_chunks = sync_op(ops.delete_object_chunks)
    update_object_metadata = sync_op(ops.update_object_metadata)
    get_job = sync_op(ops.get_job)
    search = sync_op(ops.search)
    run_evaluation = sync_op(ops.run_evaluation)
    list_evaluations = sync_op(ops.list_evaluations)
    get_evaluation = sync_op(ops.get_evaluation)
    list_models = sync_op(ops.list_models)
    create_embeddings = sync_op(ops.create_embeddings)
    chat_completions = sync_op(ops.chat_completions)
    messages = sync_op(ops.messages)
    record_gateway_usage = sync_op(ops.record_gateway_usage)
    me = sync_op(ops.me)
    list_tokens = sync_op(ops.list_tokens)
    create_token = sync_op(ops.create_token)
    revoke_token = sync_op(ops.revoke_token)
    get_company = sync_op(ops.get_company)
    update_company = sync_op(ops.update_company)
    cloud_tokens = sync_op(ops.cloud_tokens)
    preview_resource = sync_op(ops.preview_resource)
    provision_resource = sync_op(ops.provision_resource)
    list_resources = sync_op(ops.list_resources)
    get_resource = sync_op(ops.get_resource)
    update_resource = sync_op(ops.update_resource)
    resource_settings = sync_op(ops.resource_settings)
    deprovision_resource = sync_op(ops.deprovision_resource)
    cancel_deprovision = sync_op(ops.cancel_deprovision)
    change_models = sync_op(ops.change_models)
    change_capacity = sync_op(ops.change_capacity)
    cancel_scheduled_capacity = sync_op(ops.cancel_scheduled_capacity)
    consumption = sync_op(ops.consumption)
    daily_consumption = sync_op(ops.daily_consumption)
    export_consumption_csv = sync_op(ops.export_consumption_csv)
    create_key = sync_op(ops.create_key)
    list_keys = sync_op(ops.list_keys)
    revoke_key = sync_op(ops.revoke_key)
    activity = sync_op(ops.activity)
    list_members = sync_op(ops.list_members)
    add_member = sync_op(ops.add_member)
    remove_member = sync_op(ops.remove_member)
    invite = sync_op(ops.invite)
    pending_invitations = sync_op(ops.pending_invitations)
    withdraw_invitation = sync_op(ops.withdraw_invitation)
    my_invitations = sync_op(ops.my_invitations)
    accept_invitation_link = sync_op(ops.accept_invitation_link)
    accept_invitation = sync_op(ops.accept_invitation)
    decline_invitation = sync_op(ops.decline_invitation)
