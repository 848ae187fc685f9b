"""Bulk writes: batching, reading the per-item answers, and error messages that name chunk ids.

A `_bulk` answer has one item per document; an item can fail alone. 429s mean "try again later"
(a full write queue) and are re-sent on their own; any other failure is permanent and is reported
by chunk id and OpenSearch's reason, never with document content.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kb_service.vectorstores._opensearch_client import clean_reason
from kb_service.vectorstores._opensearch_schema import JSON

# Below the default http.max_content_length (100 MB) with a wide margin, and small enough that a
# retried batch costs little.
_BULK_MAX_DOCS: Final = 500
_BULK_MAX_BYTES: Final = 10 * 1024 * 1024
_IDS_IN_MESSAGE: Final = 5


@dataclass(frozen=True, slots=True)
class ItemFailure:
    chunk_id: str
    status: int
    error_type: str
    reason: str


def batches(documents: list[tuple[str, JSON]], dimension: int) -> Iterator[list[tuple[str, JSON]]]:
    """Bulk requests of at most _BULK_MAX_DOCS documents and roughly _BULK_MAX_BYTES."""
    batch: list[tuple[str, JSON]] = []
    size = 0
    for document in documents:
        # About 20 JSON characters per float, plus the text and some room for the other fields.
        estimate = 20 * dimension + len(document[1]["text"]) * 2 + 512
        if batch and (len(batch) >= _BULK_MAX_DOCS or size + estimate > _BULK_MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(document)
        size += estimate
    if batch:
        yield batch


def bulk_outcome(
    pending: list[tuple[str, JSON]], response: Mapping[str, Any]
) -> tuple[list[tuple[str, JSON]], list[ItemFailure]]:
    throttled: list[tuple[str, JSON]] = []
    failures: list[ItemFailure] = []
    if not response.get("errors"):
        return throttled, failures
    for document, item in zip(pending, response["items"], strict=True):
        result = next(iter(item.values()))
        status = int(result.get("status", 500))
        if status < 300:
            continue
        if status == 429:
            throttled.append(document)
            continue
        error = result.get("error") or {}
        reason = clean_reason(str(error.get("reason", "")))
        if isinstance(cause := error.get("caused_by"), Mapping) and cause.get("reason"):
            reason = f"{reason} ({clean_reason(str(cause['reason']))})"
        failures.append(ItemFailure(document[0], status, str(error.get("type", "unknown")), reason))
    return throttled, failures


def rejection_message(failures: list[ItemFailure], sent: int) -> str:
    details = "; ".join(
        f"{failure.chunk_id} ({failure.error_type}: {failure.reason})"
        for failure in failures[:_IDS_IN_MESSAGE]
    )
    more = f"; and {len(failures) - _IDS_IN_MESSAGE} more" if len(failures) > _IDS_IN_MESSAGE else ""
    return f"OpenSearch rejected {len(failures)} of {sent} chunks: {details}{more}"


def id_list(ids: Collection[str]) -> str:
    shown = ", ".join(list(ids)[:_IDS_IN_MESSAGE])
    return shown + (f" and {len(ids) - _IDS_IN_MESSAGE} more" if len(ids) > _IDS_IN_MESSAGE else "")
