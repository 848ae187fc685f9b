"""Fuzzing over the OpenAPI document: every operation, with a KB key, a personal access token and the
API keys of a text-generation and an embeddings resource (the model gateway).

Schemathesis generates requests from `app.openapi()` for every documented operation, in three modes:
valid data with the real ids of seeded resources in the path (so the request gets past the 404),
invalid data (negated schema) with the same ids, and valid data with generated ids. Each request is
sent in-process (ASGI) and checked: no 5xx and no unhandled exception, a documented status code,
a documented content type and headers, and a body that matches the documented schema. The gateway's
text provider is Anthropic, faked at the SDK's HTTP transport.

Bounded for CI: `KB_FUZZ_MAX_EXAMPLES` examples per operation and mode (default 20) and a wall-clock
budget `KB_FUZZ_BUDGET_S` (default 90 s, shared equally by the operations) after which no further
request is generated; Hypothesis is derandomized and keeps no database, so a run is repeatable.
Select it alone with `-m fuzz`, leave it out with `-m "not fuzz"`; it runs by default.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi import checks as openapi_checks

from kb_service.api import create_app
from kb_service.config import AnthropicTextSettings, Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.services import Services
from tests.conftest import KB, Drainer, create_kb, upload
from tests.factories.containers import container_with_fake_anthropic
from tests.factories.controlplane import ControlPlane, MovableClock

pytestmark = pytest.mark.fuzz

MAX_EXAMPLES = int(os.environ.get("KB_FUZZ_MAX_EXAMPLES", "20"))
BUDGET_S = float(os.environ.get("KB_FUZZ_BUDGET_S", "90"))
# Wall-clock limit of one in-process call (schemathesis: 10 s). Late in the suite on a loaded 2-core
# CI machine one call once took over 10 s (not reproduced here: the slowest here is the first text
# call, 3 s, most of it `import anthropic`); what the app itself can stall on — SQLite's busy
# timeout — is 30 s, and fails the call with a 500 of its own.
REQUEST_TIMEOUT_S = 30

# What must hold for every response. `not_a_server_error` covers 5xx; unhandled exceptions are
# caught around the call (the in-process transport re-raises them).
CHECKS: list[Callable[..., Any]] = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]
# Reported, not failed on: the API accepted a request that breaks the documented schema.
INFO_CHECKS: list[Callable[..., Any]] = [openapi_checks.negative_data_rejection]


# --- the world the requests land in ----------------------------------------------------------------


@dataclass
class World:
    kb: KB
    document_id: str
    job_id: str
    collection: str
    admin_token: str
    text_key: str  # the text-generation resource's API key (gateway, usage reports)
    embeddings_key: str  # the embeddings resource's API key (gateway embeddings)
    spare_token_id: str
    member_id: str
    # resource id -> the path ids that go with it (a spare key to revoke, an invitation)
    resources: dict[str, dict[str, str]]
    staged_file_id: str = ""  # a file uploaded with POST /v1/files, to attach to the vector store


def build_world(container: Container, client: TestClient, clock: MovableClock) -> World:
    """A KB with a key, a document and a chunk job (data plane); a company admin with a token, three
    provisioned resources with keys, a member and an invitation (control plane)."""
    kb = create_kb(container, "Fuzz")
    accepted = upload(
        client,
        kb,
        "manual.txt",
        b"The printer prints pages. " * 40,
        collection="Manuals",
        metadata={"Product": "Printer"},
    )
    assert accepted.status_code == 202, accepted.text
    job = client.post(
        kb.url("/collections/Manuals/chunks"),
        headers=kb.headers,
        json={
            "mode": "insert",
            "chunks": [
                {
                    "text": "Pushed chunk about toner.",
                    "human_readable_id": "T-1",
                    "mx_object_id": "obj-1",
                    "metadata": {"Product": "Toner", "Price": "12"},
                },
            ],
        },
    )
    assert job.status_code == 202, job.text
    staged = client.post(
        "/v1/files",
        headers=kb.headers,
        files={"file": ("staged.txt", b"A staged file about the fax machine.", "text/plain")},
        data={"purpose": "assistants"},
    )
    assert staged.status_code == 200, staged.text
    Drainer(container)()

    cp = ControlPlane(container, client, clock)
    admin = cp.admin("Acme", tokens=1000)
    with session_scope(container.sessions) as session:
        spare_token_id = Services(session, container, clock).users.issue_token(admin.id, "spare").token.id
    member = cp.user(admin.company_id, "member@acme.example")
    assert (
        client.patch(
            "/v1/company", headers=admin.headers, json={"external_invitations_enabled": True}
        ).status_code
        == 200
    )
    embeddings = cp.embeddings(admin)
    knowledge_base = cp.knowledge_base(admin, embeddings["id"])
    text = cp.provision(admin)
    resources: dict[str, dict[str, str]] = {}
    secrets: dict[str, str] = {}
    for resource in (text, embeddings, knowledge_base):
        rid = resource["id"]
        keys = client.post(f"/v1/resources/{rid}/keys", headers=admin.headers, json={"description": "k"})
        assert keys.status_code == 201, keys.text
        secrets[resource["type"]] = keys.json()["secret"]
        spare = client.post(f"/v1/resources/{rid}/keys", headers=admin.headers, json={"description": "s"})
        added = client.post(
            f"/v1/resources/{rid}/members", headers=admin.headers, json={"email": member.email}
        )
        assert added.status_code in (201, 409), added.text
        invited = client.post(
            f"/v1/resources/{rid}/invitations",
            headers=admin.headers,
            json={"email": f"ext-{rid[:6]}@other.example"},
        )
        assert invited.status_code == 201, invited.text
        resources[rid] = {
            "resource_id": rid,
            "key_id": spare.json()["key_id"],
            "user_id": member.id,
            "invitation_id": invited.json()["id"],
            "type": resource["type"],
        }
    return World(
        kb=kb,
        document_id=accepted.json()["id"],
        job_id=job.json()["id"],
        collection="Manuals",
        admin_token=admin.token,
        text_key=secrets["text_generation"],
        embeddings_key=secrets["embeddings"],
        spare_token_id=spare_token_id,
        member_id=member.id,
        resources=resources,
        staged_file_id=staged.json()["id"],
    )


def _fake_anthropic(request: httpx2.Request) -> httpx2.Response:
    """The Anthropic Messages API at the SDK's transport: one short answer, streamed when asked."""
    message: dict[str, Any] = {
        "id": "msg_fuzz",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 3},
    }
    if not json.loads(request.content).get("stream"):
        return httpx2.Response(200, json=message)
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**message, "content": [], "stop_reason": None}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 3},
        },
        {"type": "message_stop"},
    ]
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)


def build_app(data_dir: Path, embedders: EmbedderRegistry) -> tuple[FastAPI, Container, MovableClock]:
    settings = Settings(
        data_dir=data_dir / "data",
        log_json=False,
        database_url=f"sqlite:///{data_dir / 'state.sqlite3'}",
        text=AnthropicTextSettings(
            provider="anthropic", api_key="sk-fuzz", base_url="http://anthropic.test", max_retries=0
        ),
    )
    container = container_with_fake_anthropic(settings, embedders, _fake_anthropic)
    app = create_app(container=container)
    clock = MovableClock(datetime(2026, 1, 15, 12, tzinfo=UTC))
    app.state.clock = clock
    return app, container, clock


# --- the fuzzing loop ------------------------------------------------------------------------------


@dataclass
class Finding:
    operation: str
    kind: str  # check name, or "unhandled_exception"
    status: int | None
    message: str
    request: str  # curl-like reproducer
    count: int = 1


@dataclass
class Report:
    requests: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    # operation -> status -> count, and credential -> status class -> count
    operation_statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    credential_statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    findings: dict[tuple[str, ...], Finding] = field(default_factory=dict)
    info: dict[tuple[str, ...], Finding] = field(default_factory=dict)
    out_of_budget: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, store: dict[tuple[str, ...], Finding], finding: Finding, key: tuple[str, ...]) -> None:
        if key in store:
            store[key].count += 1
        else:
            store[key] = finding

    def summary(self) -> str:
        statuses = dict(sorted(self.statuses.items()))
        lines = [f"{self.requests} requests in {self.seconds:.0f} s; statuses {statuses}"]
        lines.append(f"by credential: {self.credential_statuses}")
        never_2xx = [
            op for op, codes in self.operation_statuses.items() if not any(200 <= c < 300 for c in codes)
        ]
        lines.append(f"operations without any 2xx answer: {never_2xx}")
        for f in self.findings.values():
            lines.append(f"FAIL {f.operation} [{f.kind}] status={f.status} x{f.count}: {f.message[:300]}")
            lines.append(f"     {f.request[:400]}")
        for f in self.info.values():
            lines.append(f"INFO {f.operation} [{f.kind}] status={f.status} x{f.count}: {f.message[:200]}")
        if self.out_of_budget:
            lines.append(f"not reached within the budget: {self.out_of_budget}")
        return "\n".join(lines)


class _OutOfBudget(Exception):
    pass


def _credential(operation: Any, world: World) -> str | None:
    security = operation.definition.raw.get("security") or []
    names = {name for requirement in security for name in requirement}
    if "PersonalAccessToken" in names:
        return world.admin_token
    if "HTTPBearer" not in names:
        return None
    if operation.path.startswith(("/v1/knowledge-bases/", "/v1/vector_stores", "/v1/files")):
        return world.kb.key
    # The model gateway: each resource's own key.
    return world.embeddings_key if operation.path == "/v1/embeddings" else world.text_key


def _credential_name(token: str | None, world: World) -> str:
    names = {
        world.kb.key: "kb_key",
        world.admin_token: "personal_token",
        world.text_key: "text_key",
        world.embeddings_key: "embeddings_key",
    }
    return "none" if token is None else names[token]


def _real_paths(operation: Any, world: World) -> list[dict[str, str]]:
    """Every combination of real ids for the operation's path parameters."""
    names = [p.name for p in operation.path_parameters]
    if not names:
        return [{}]
    data_plane = {
        "kb_id": world.kb.id,
        "vector_store_id": world.kb.id,  # the OpenAI-compatible routes: a KB is a vector store
        "file_id": world.document_id,
        "document_id": world.document_id,
        "job_id": world.job_id,
        "name": world.collection,
        "token_id": world.spare_token_id,
        "user_id": world.member_id,
    }
    combos = list(world.resources.values()) if "resource_id" in names else [{}]
    if "invitation_id" in names and "resource_id" not in names:
        combos = [{"invitation_id": r["invitation_id"]} for r in world.resources.values()]
    out = []
    for combo in combos:
        values = {**data_plane, **combo}
        out.append({n: values[n] for n in names if n in values and n != "type"})
    return out


def _order(operation: Any) -> tuple[int, str, str]:
    """Reads and creations first; what removes or revokes a seeded resource last."""
    destructive = operation.method.upper() == "DELETE" or operation.path.endswith(
        ("/deprovision", "/decline")
    )
    # A collection goes after the documents in it, so deleting a document can still find one.
    whole_collection = operation.method.upper() == "DELETE" and operation.path.endswith("/collections/{name}")
    return (2 if whole_collection else 1 if destructive else 0, operation.path, operation.method)


def _app_frame(exc: BaseException) -> str:
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if "/kb_service/" in f.filename or "/schemas/" in f.filename
    ]
    where = frames[-1] if frames else traceback.extract_tb(exc.__traceback__)[-1]
    return f"{where.filename.split('/repo/')[-1]}:{where.lineno}"


HAIKU = "anthropic.claude-haiku-4-5"


def _documented_spec(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, with one testing aid: the upload's file part gets a `.txt` filename
    (schemathesis otherwise names it after the field, which is always a 415)."""
    import copy

    spec = copy.deepcopy(app.openapi())
    for path in ("/v1/knowledge-bases/{kb_id}/documents", "/v1/files"):
        multipart = spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]
        multipart["encoding"] = {
            "file": {
                "headers": {
                    "Content-Disposition": {
                        "schema": {"type": "string", "example": 'form-data; name="file"; filename="fuzz.txt"'}
                    }
                }
            }
        }
    return spec


def _hint(label: str, world: World) -> Callable[[Any], Any] | None:
    """Real values for the fields a generator cannot guess, so valid requests reach the service logic.
    Applied to half of the valid cases; the numbers and free texts stay generated."""

    def body_update(**values: Any) -> Callable[[Any], Any]:
        def apply(case: Any) -> Any:
            if isinstance(case.body, dict):
                case.body = {**case.body, **values}
            return case

        return apply

    if label == "POST /v1/gateway/usage":
        return body_update(model_id=HAIKU)
    if label in ("POST /v1/chat/completions", "POST /v1/messages"):
        return body_update(model=HAIKU)
    if label == "POST /v1/embeddings":
        return body_update(model="all-minilm-l6-v2")
    if label == "POST /v1/knowledge-bases/{kb_id}/documents":
        return body_update(metadata='{"Product": "Printer"}', password=None)
    if label == "POST /v1/files":
        return body_update(purpose="assistants")
    if label == "POST /v1/vector_stores/{vector_store_id}/files":
        return body_update(file_id=world.staged_file_id)
    if label == "POST /v1/vector_stores/{vector_store_id}/search":
        return body_update(rewrite_query=False, filters=None)
    if label in ("POST /v1/resources", "POST /v1/resources/preview"):

        def provision(case: Any) -> Any:
            if isinstance(case.body, dict):
                kind = case.body.get("type")
                extra: dict[str, Any] = {
                    "region": "eu-central-1",
                    "created_for": {"name": "Dana", "email": "dana@acme.example"},
                }
                if kind == "text_generation":
                    extra["models"] = [HAIKU]
                elif kind == "embeddings":
                    extra["models"] = ["all-minilm-l6-v2"]
                elif kind == "knowledge_base":
                    extra["embeddings_resource_id"] = next(
                        rid for rid, ids in world.resources.items() if ids.get("type") == "embeddings"
                    )
                case.body = {**case.body, **extra}
            return case

        return provision
    if label in ("POST /v1/resources/{resource_id}/members", "POST /v1/resources/{resource_id}/invitations"):
        return body_update(email="member@acme.example")
    return None


@dataclass(frozen=True)
class _Target:
    """One operation in one mode, as sent: its label, credential and send-by deadline."""

    label: str
    token: str | None
    credential: str
    deadline: float


def _send(app: FastAPI, case: Any, target: _Target, report: Report, info_checks: bool) -> None:
    if time.monotonic() > target.deadline:
        raise _OutOfBudget
    if target.token:
        # The negative mode may drop or mangle the credential; keep it fixed.
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {target.token}"}
    label = target.label
    report.requests += 1
    report.by_operation[label] = report.by_operation.get(label, 0) + 1
    try:
        response = case.call(app=app, timeout=REQUEST_TIMEOUT_S)
    except Exception as exc:  # the app raised: the client got a plain 500
        report.statuses[500] = report.statuses.get(500, 0) + 1
        where = _app_frame(exc)
        message = f"{type(exc).__name__}: {exc} at {where}"
        finding = Finding(label, "unhandled_exception", 500, message, case.as_curl_command())
        report.add(report.findings, finding, (label, "exc", type(exc).__name__, where))
        return
    status = response.status_code
    report.statuses[status] = report.statuses.get(status, 0) + 1
    per_op = report.operation_statuses.setdefault(label, {})
    per_op[status] = per_op.get(status, 0) + 1
    per_credential = report.credential_statuses.setdefault(target.credential, {})
    per_credential[f"{status // 100}xx"] = per_credential.get(f"{status // 100}xx", 0) + 1
    for checks, store in ((CHECKS, report.findings), (INFO_CHECKS if info_checks else [], report.info)):
        if not checks:
            continue
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as group:
            for failure in group.exceptions:
                assert isinstance(failure, Failure)
                message = f"{failure.message} | body: {response.text[:300]}"
                finding = Finding(label, failure.title, status, message, case.as_curl_command())
                report.add(store, finding, (label, failure.title, str(status)))


def _run_mode(
    app: FastAPI, strategy: Any, target: _Target, report: Report, hypothesis_settings: settings, info: bool
) -> None:
    @hypothesis_settings
    @given(case=strategy)
    def send(case: Any) -> None:
        _send(app, case, target, report, info)

    send()


def run_fuzz(
    app: FastAPI, world: World, *, max_examples: int, budget_s: float, info_checks: bool = True
) -> Report:
    schema = schemathesis.openapi.from_dict(_documented_spec(app))
    # Reproducers keep bodies readable (token counts are "sensitive" by name); the credential stays hidden.
    schema.config.output.sanitization.keys_to_sanitize = ("authorization",)
    schema.config.output.sanitization.sensitive_markers = ("authorization",)
    report = Report()
    started = time.monotonic()
    operations = sorted((r.ok() for r in schema.get_all_operations()), key=_order)  # type: ignore[union-attr]
    hypothesis_settings = settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    # Each operation gets an equal share of the budget, so a slow machine trims every operation a little
    # instead of starving the last ones (the deletions) entirely.
    share = budget_s / max(1, len(operations))
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        operation_started = time.monotonic()
        token = _credential(operation, world)
        headers = {"Authorization": f"Bearer {token}"} if token else None
        real = _real_paths(operation, world)
        # Generated ids keep only the KB / resource fixed, so deeper ids and names are fuzzed.
        kept = ("kb_id", "resource_id", "vector_store_id")
        partial = [{k: v for k, v in p.items() if k in kept} for p in real]
        modes = [
            ("positive", schemathesis.GenerationMode.POSITIVE, real),
            ("negative", schemathesis.GenerationMode.NEGATIVE, real),
        ]
        if any(len(p) < len(operation.path_parameters) for p in partial):
            modes.append(("generated-ids", schemathesis.GenerationMode.POSITIVE, partial))
        for mode_index, (mode, generation_mode, paths) in enumerate(modes):
            # The operation's share is split between its modes, so the negative cases always get their turn.
            deadline = min(started + budget_s, operation_started + share * (mode_index + 1) / len(modes))
            if time.monotonic() > deadline:
                report.out_of_budget.append(f"{label} ({mode})")
                continue
            strategies = [
                operation.as_strategy(
                    generation_mode=generation_mode, path_parameters=p or None, headers=headers
                )
                for p in paths
            ]
            hint = _hint(label, world)
            if hint is not None and generation_mode == schemathesis.GenerationMode.POSITIVE:
                strategies += [strategy.map(hint) for strategy in strategies]
            target = _Target(label, token, _credential_name(token, world), deadline)
            try:
                _run_mode(app, st.one_of(strategies), target, report, hypothesis_settings, info_checks)
            except _OutOfBudget:
                report.out_of_budget.append(f"{label} ({mode}, partly)")
            except Unsatisfiable:
                # Nothing to negate (no parameters or body): there is no negative case to send.
                report.not_applicable.append(f"{label} ({mode})")
    report.seconds = time.monotonic() - started
    return report


# --- the test -------------------------------------------------------------------------------------


@pytest.fixture
def fuzz_world(tmp_path: Path, embedders: EmbedderRegistry) -> Iterator[tuple[FastAPI, World]]:
    app, container, clock = build_app(tmp_path, embedders)
    with TestClient(app) as client:
        world = build_world(container, client, clock)
        yield app, world
    container.close()


@pytest.mark.timeout(600)
def test_every_operation_answers_as_documented(fuzz_world: tuple[FastAPI, World]) -> None:
    app, world = fuzz_world
    report = run_fuzz(app, world, max_examples=MAX_EXAMPLES, budget_s=BUDGET_S)
    sys.stdout.write(report.summary() + "\n")  # shown with -s / on failure
    assert report.requests > 0
    # Every credential got past authentication and the 404 of its routes.
    for credential in ("kb_key", "personal_token", "text_key", "embeddings_key"):
        assert report.credential_statuses.get(credential, {}).get("2xx", 0) > 0, report.summary()
    assert not report.findings, report.summary()
