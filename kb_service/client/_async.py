"""`AsyncKBClient`: the asynchronous client (httpx). Every operation of the HTTP API is a method (built from
`kb_service.client._calls`), plus helpers that upload and wait for `indexed`."""

from __future__ import annotations

import asyncio
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
    async_op,
    auth_headers,
    build_request,
    document_outcome,
    job_outcome,
    read,
    resolve,
    transport_error,
)
from kb_service.client._calls import Call
from kb_service.client.errors import WaitTimeout, error_from_response
from schemas.knowledge import ChunkJobOut, DocumentAccepted, DocumentOut

T = TypeVar("T")


class AsyncKBClient:
    """An asynchronous connection to one kb-service (`async with AsyncKBClient(url, key)`), or
    `AsyncKBClient()` to read `KB_URL` and `KB_API_KEY`. A KB key reaches its knowledge base's
    data-plane routes; a personal access token the control plane (`/v1/resources`, `/v1/company`...)."""

    def __init__(
        self,
        url: str | None = None,
        key: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url, self.key = resolve(url, key)
        self.retry = retry or RetryPolicy()
        self._http = http or httpx.AsyncClient(
            base_url=self.url, headers=auth_headers(self.key), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncKBClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        """Send one request, retrying 429/503 as `retry` says; the typed answer or a typed error."""
        attempt = 0
        while True:
            try:
                response = await self._http.send(build_request(self._http, call))
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
            await asyncio.sleep(delay)
            attempt += 1

    # --- helpers ----------------------------------------------------------------------------------

    async def upload_file(
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
        return await self.upload_document(
            kb_id,
            source.name,
            source.read_bytes(),
            collection=collection,
            metadata=metadata,
            password=password,
        )

    async def wait_for_document(
        self, kb_id: str, document_id: str, *, timeout: float = 600.0, poll: float = 0.5
    ) -> DocumentOut:
        """Poll until the document is `indexed`; `DocumentFailed` (with the reason) if it failed,
        `WaitTimeout` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            document = await self.get_document(kb_id, document_id)
            done = document_outcome(document)
            if done is not None:
                return done
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"Document {document_id} is still {document.status} after {timeout:g} s.", code="timeout"
                )
            await asyncio.sleep(poll)

    async def upload_and_wait(
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
        accepted = await self.upload_file(
            kb_id, path, collection=collection, metadata=metadata, password=password
        )
        return await self.wait_for_document(kb_id, accepted.id, timeout=timeout, poll=poll)

    async def wait_for_job(
        self, kb_id: str, job_id: str, *, timeout: float = 600.0, poll: float = 0.5
    ) -> ChunkJobOut:
        """Poll a chunk job until it is `indexed` (`DocumentFailed` / `WaitTimeout` as for documents)."""
        deadline = time.monotonic() + timeout
        while True:
            job = await self.get_job(kb_id, job_id)
            done = job_outcome(job)
            if done is not None:
                return done
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"Job {job_id} is still {job.status} after {timeout:g} s.", code="timeout")
            await asyncio.sleep(poll)

    async def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any other request, with this client's base URL and key (no retries, no error mapping)."""
        return await self._http.request(method, path, **kwargs)

    # --- the operations (one per route; see kb_service.client._calls) -----------------------------

    health = async_op(ops.health)
    ready = async_op(ops.ready)
    metrics = async_op(ops.metrics)
    upload_document = async_op(ops.upload_document)
    list_documents = async_op(ops.list_documents)
    get_document = async_op(ops.get_document)
    update_document_metadata = async_op(ops.update_document_metadata)
    delete_document = async_op(ops.delete_document)
    list_collections = async_op(ops.list_collections)
    delete_collection = async_op(ops.delete_collection)
    push_chunks = async_op(ops.push_chunks)
    list_chunks = async_op(ops.list_chunks)
    delete_object_chunks = async_op(ops.delete_object_chunks)
    update_object_metadata = async_op(ops.update_object_metadata)
    get_job = async_op(ops.get_job)
    search = async_op(ops.search)
    run_evaluation = async_op(ops.run_evaluation)
    list_evaluations = async_op(ops.list_evaluations)
    get_evaluation = async_op(ops.get_evaluation)
    list_models = async_op(ops.list_models)
    create_embeddings = async_op(ops.create_embeddings)
    chat_completions = async_op(ops.chat_completions)
    messages = async_op(ops.messages)
    record_gateway_usage = async_op(ops.record_gateway_usage)
    me = async_op(ops.me)
    list_tokens = async_op(ops.list_tokens)
    create_token = async_op(ops.create_token)
    revoke_token = async_op(ops.revoke_token)
    get_company = async_op(ops.get_company)
    update_company = async_op(ops.update_company)
    cloud_tokens = async_op(ops.cloud_tokens)
    preview_resource = async_op(ops.preview_resource)
    provision_resource = async_op(ops.provision_resource)
    list_resources = async_op(ops.list_resources)
    get_resource = async_op(ops.get_resource)
    update_resource = async_op(ops.update_resource)
    resource_settings = async_op(ops.resource_settings)
    deprovision_resource = async_op(ops.deprovision_resource)
    cancel_deprovision = async_op(ops.cancel_deprovision)
    change_models = async_op(ops.change_models)
    change_capacity = async_op(ops.change_capacity)
    cancel_scheduled_capacity = async_op(ops.cancel_scheduled_capacity)
    consumption = async_op(ops.consumption)
    daily_consumption = async_op(ops.daily_consumption)
    export_consumption_csv = async_op(ops.export_consumption_csv)
    create_key = async_op(ops.create_key)
    list_keys = async_op(ops.list_keys)
    revoke_key = async_op(ops.revoke_key)
    activity = async_op(ops.activity)
    list_members = async_op(ops.list_members)
    add_member = async_op(ops.add_member)
    remove_member = async_op(ops.remove_member)
    invite = async_op(ops.invite)
    pending_invitations = async_op(ops.pending_invitations)
    withdraw_invitation = async_op(ops.withdraw_invitation)
    my_invitations = async_op(ops.my_invitations)
    accept_invitation_link = async_op(ops.accept_invitation_link)
    accept_invitation = async_op(ops.accept_invitation)
    decline_invitation = async_op(ops.decline_invitation)
