"""Remote commands, through the Python client: `ingest` (a folder into a KB, with progress and a
summary), `search`, `collections` and `documents`."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kb_service.cli._common import (
    KbOption,
    KeyOption,
    ProfileOption,
    UrlOption,
    answer,
    err_console,
    runtime,
    table,
)
from kb_service.cli._connection import connection
from kb_service.cli.evaluate import json_option
from kb_service.client import KBClient, KBServiceError, NotFound
from kb_service.client._calls import WorkStatus
from kb_service.errors import InvalidInput
from schemas.knowledge import DocumentOut

SUFFIXES = {".txt", ".pdf"}
LIST_PAGE = 1000
SNIPPET = 240

Collection = Annotated[str | None, typer.Option("--collection", help="The collection (default: `default`).")]


def register(app: typer.Typer) -> None:
    app.command("ingest", help="Upload TXT and PDF files (folders recursed) into a KB; --wait for indexed.")(
        ingest
    )
    app.command("search", help="Search a KB.")(search)
    app.command("collections", help="A KB's collections.")(collections)
    app.command("documents", help="A KB's documents and their status.")(documents)


# --- ingest -----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What became of one file."""

    path: str
    name: str  # as the summary shows it: relative to the folder given, or the file as given
    status: str  # indexed | unchanged | queued (without --wait) | failed
    document_id: str | None = None
    chunks: int | None = None
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def files_of(paths: Sequence[Path]) -> Iterator[tuple[Path, str, str | None]]:
    """Each file to ingest, the name the summary shows, and why it cannot be ingested (None when it
    can): folders are recursed for TXT and PDF files (sorted, hidden ones left out); a file named
    explicitly must be one."""
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                relative = found.relative_to(path)
                hidden = any(part.startswith(".") for part in relative.parts)
                if found.is_file() and found.suffix.lower() in SUFFIXES and not hidden:
                    yield found, str(relative), None
        elif path.is_file():
            yield path, str(path), None if path.suffix.lower() in SUFFIXES else "not a TXT or PDF file"
        else:
            yield path, str(path), "no such file or folder"


def parse_metadata(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--metadata takes KEY=VALUE, not {pair!r}.", details={"field": "metadata"})
        out[key.strip()] = value
    return out


def _existing(client: KBClient, kb_id: str, collection: str | None) -> dict[tuple[str, str], DocumentOut]:
    """The collection's documents by (filename, sha256): what a re-run can skip without uploading."""
    found: dict[tuple[str, str], DocumentOut] = {}
    offset = 0
    while True:
        try:
            page = client.list_documents(
                kb_id, collection=collection or "default", offset=offset, limit=LIST_PAGE
            )
        except NotFound:  # a collection the upload will create
            return found
        for document in page.items:
            found.setdefault((document.filename, document.sha256), document)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return found


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (recursed for *.txt and *.pdf).")],
    kb: KbOption = None,
    collection: Collection = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", help="KEY=VALUE on every document; repeat for several.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until every file is indexed or failed.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds --wait waits at most.")] = 3600.0,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between status checks.")] = 0.5,
    url: UrlOption = None,
    key: KeyOption = None,
    profile: ProfileOption = None,
) -> int:
    target = connection(url, key, profile, kb)
    kb_id = target.kb_id()
    fields = parse_metadata(metadata or [])
    planned = list(files_of(paths))
    outcomes: list[Outcome] = []
    pending: dict[str, Outcome] = {}
    quiet = runtime().json
    with target.client() as client, _progress(quiet) as progress:
        known = _existing(client, kb_id, collection)
        files_task = progress.add_task("files", total=len(planned))
        chunks_task = progress.add_task("chunks", total=None)
        for path, shown, problem in planned:
            outcome = Outcome(str(path), shown, "failed", reason=problem)
            outcomes.append(outcome)
            if problem is None:
                _upload(client, kb_id, path, collection, fields, known, outcome, pending)
            if outcome.document_id not in pending:
                progress.advance(files_task)
        if wait:
            _wait(client, kb_id, pending, progress, files_task, chunks_task, timeout, poll)
    failed = sum(o.failed for o in outcomes)
    summary = {
        "knowledge_base_id": kb_id,
        "collection": collection or "default",
        "files": [asdict(o) for o in outcomes],
        **{
            status: sum(o.status == status for o in outcomes) for status in ("indexed", "unchanged", "queued")
        },
        "failed": failed,
    }
    answer(summary, _summary_table(outcomes))
    return 1 if failed else 0


def _upload(
    client: KBClient,
    kb_id: str,
    path: Path,
    collection: str | None,
    fields: dict[str, str],
    known: dict[tuple[str, str], DocumentOut],
    outcome: Outcome,
    pending: dict[str, Outcome],
) -> None:
    try:
        content = path.read_bytes()
    except OSError as exc:
        outcome.reason = f"cannot read it: {exc.strerror}"
        return
    done = known.get((path.name, hashlib.sha256(content).hexdigest()))
    # Indexed, unchanged and with the metadata asked for: nothing to send.
    if (
        done is not None
        and done.status == "indexed"
        and all(done.metadata.get(k) == v for k, v in fields.items())
    ):
        outcome.status, outcome.document_id, outcome.chunks = "unchanged", done.id, done.chunk_count
        return
    try:
        accepted = client.upload_document(
            kb_id, path.name, content, collection=collection, metadata=fields or None
        )
    except KBServiceError as exc:
        outcome.reason = exc.message
        return
    outcome.document_id = accepted.id
    if accepted.unchanged and accepted.status in ("indexed", "failed"):
        document = client.get_document(kb_id, accepted.id)
        outcome.status = "unchanged" if document.status == "indexed" else "failed"
        outcome.chunks, outcome.reason = document.chunk_count, document.error
        return
    outcome.status = "queued"
    pending[accepted.id] = outcome


def _wait(
    client: KBClient,
    kb_id: str,
    pending: dict[str, Outcome],
    progress: Progress,
    files_task: Any,
    chunks_task: Any,
    timeout: float,
    poll: float,
) -> None:
    deadline = time.monotonic() + timeout
    embedded: dict[str, tuple[int, int]] = {}
    while pending:
        for document_id, outcome in list(pending.items()):
            try:
                document = client.get_document(kb_id, document_id)
            except KBServiceError as exc:
                outcome.status, outcome.reason = "failed", exc.message
                del pending[document_id]
                progress.advance(files_task)
                continue
            embedded[document_id] = (document.chunks_embedded, document.chunk_count or 0)
            if document.status in ("indexed", "failed"):
                outcome.status, outcome.chunks, outcome.reason = (
                    document.status,
                    document.chunk_count,
                    document.error,
                )
                del pending[document_id]
                progress.advance(files_task)
        progress.update(
            chunks_task,
            completed=sum(done for done, _ in embedded.values()),
            total=sum(total for _, total in embedded.values()) or None,
        )
        if not pending:
            return
        if time.monotonic() >= deadline:
            for outcome in pending.values():
                outcome.status, outcome.reason = (
                    "failed",
                    f"not indexed within {timeout:g} s (still processing)",
                )
            return
        time.sleep(poll)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:>6}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
        disable=quiet,
        transient=False,
    )


def _summary_table(outcomes: Sequence[Outcome]) -> Any:
    rows = [(o.name, o.status, o.chunks, o.document_id, o.reason) for o in outcomes]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("indexed", "unchanged", "queued", "failed")}
    title = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing to ingest"
    return table(title, ["File", "Status", "Chunks", "Document", "Reason"], rows)


# --- search and listings -----------------------------------------------------------------------------


def search(
    query: Annotated[str, typer.Argument(help="The question.")],
    kb: KbOption = None,
    mode: Annotated[
        Literal["vector", "keyword", "hybrid"] | None,
        typer.Option("--mode", help="Search mode (default: vector)."),
    ] = None,
    max_results: Annotated[int | None, typer.Option("--max-results", help="Results to answer.")] = None,
    collections: Annotated[
        list[str] | None, typer.Option("--collection", help="Search this collection; repeat for several.")
    ] = None,
    filter: Annotated[
        str | None, typer.Option("--filter", help='A JSON filter, e.g. {"key": "Type", "eq": "Bug"}.')
    ] = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", help="KEY=VALUE exact match; repeat for several.")
    ] = None,
    min_similarity: Annotated[float | None, typer.Option("--min-similarity")] = None,
    rerank: Annotated[bool, typer.Option("--rerank", help="Rerank with the cross-encoder.")] = False,
    url: UrlOption = None,
    key: KeyOption = None,
    profile: ProfileOption = None,
) -> int:
    target = connection(url, key, profile, kb)
    with target.client() as client:
        found = client.search(
            target.kb_id(),
            query,
            mode=mode,
            max_results=max_results,
            collections=collections or None,
            filter=json_option(filter, "--filter"),
            metadata=parse_metadata(metadata) if metadata else None,
            min_similarity=min_similarity,
            rerank=rerank or None,
        )
    rows = [
        (
            rank,
            f"{hit.score:.4f}",
            "" if hit.similarity is None else f"{hit.similarity:.4f}",
            hit.collection,
            _source(hit.human_readable_id, hit.document_id, hit.page),
            _snippet(hit.text),
        )
        for rank, hit in enumerate(found.results, 1)
    ]
    title = f"{len(found.results)} results ({found.mode}, {found.input_tokens} input tokens)"
    answer(
        found.model_dump(mode="json"),
        table(title, ["#", "Score", "Similarity", "Collection", "Source", "Text"], rows),
    )
    return 0


def _source(human_id: str | None, document_id: str | None, page: int | None) -> str:
    where = human_id or document_id or ""
    return f"{where} p.{page}" if page is not None else where


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET else flat[: SNIPPET - 1] + "…"


def collections(
    kb: KbOption = None, url: UrlOption = None, key: KeyOption = None, profile: ProfileOption = None
) -> int:
    target = connection(url, key, profile, kb)
    with target.client() as client:
        found = client.list_collections(target.kb_id())
    rows = [
        (c.name, "yes" if c.is_default else "", c.document_count, c.chunk_count, c.created_at) for c in found
    ]
    answer(
        [c.model_dump(mode="json") for c in found],
        table(None, ["Collection", "Default", "Documents", "Chunks", "Created"], rows),
    )
    return 0


def documents(
    kb: KbOption = None,
    collection: Collection = None,
    status: Annotated[
        WorkStatus | None,
        typer.Option("--status", help="Only documents in this status."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Documents per page.")] = 100,
    offset: Annotated[int, typer.Option("--offset", help="Documents to skip.")] = 0,
    url: UrlOption = None,
    key: KeyOption = None,
    profile: ProfileOption = None,
) -> int:
    target = connection(url, key, profile, kb)
    with target.client() as client:
        page = client.list_documents(
            target.kb_id(),
            collection=collection,
            status=status,
            offset=offset,
            limit=limit,
        )
    rows = [(d.id, d.filename, d.collection, d.status, d.chunk_count, d.error) for d in page.items]
    title = f"{len(page.items)} of {page.total} documents"
    answer(
        page.model_dump(mode="json"),
        table(title, ["Document", "File", "Collection", "Status", "Chunks", "Reason"], rows),
    )
    return 0
