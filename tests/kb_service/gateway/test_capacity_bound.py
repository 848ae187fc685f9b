"""The capacity check from the process's running totals (kb_service.capacity.tally): concurrent calls
on a nearly used-up resource overshoot its allocation by at most one call, refused calls never reach
the provider, and a failed call frees its place."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import openai
import pytest
from sqlalchemy.orm import Session

from kb_service.capacity.tally import UsageTally, usage_tally_for
from kb_service.catalog import get_model
from kb_service.db import session_scope
from kb_service.metering.models import UsageEvent
from kb_service.services import unit_of_work
from tests.factories.controlplane import ControlPlane
from tests.kb_service.gateway.conftest import (
    HAIKU,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    FakeAnthropic,
    LiveServer,
    message_json,
    provision_text,
)

HI: list[Any] = [{"role": "user", "content": "hi"}]
CALLERS = 12


def test_concurrent_calls_overshoot_the_allocation_by_at_most_one_call(
    control_plane: ControlPlane, server: LiveServer, fake_anthropic: FakeAnthropic
) -> None:
    cp = control_plane
    text = provision_text(cp, plan="S")
    call_gu = get_model(HAIKU).genai_units(INPUT_TOKENS, OUTPUT_TOKENS)
    with unit_of_work(cp.container, cp.clock) as services:
        allocation = services.capacity.usage_of(text.resource_id).allocation_gu
    with session_scope(cp.container.sessions) as session:  # earlier use: room for 2.5 calls
        session.add(
            UsageEvent(
                resource_id=text.resource_id,
                day=cp.clock.now().date(),
                model_id=HAIKU,
                api_calls=1,
                genai_units=allocation - 2.5 * call_gu,
                source="gateway",
            )
        )
    provider_calls = 0
    lock = threading.Lock()

    def slow_answer(_body: dict[str, Any]) -> httpx2.Response:
        nonlocal provider_calls
        with lock:
            provider_calls += 1
        time.sleep(0.2)  # every caller checks capacity while the first calls are at the provider
        return httpx2.Response(200, json=message_json())

    fake_anthropic.answer = slow_answer
    start = threading.Barrier(CALLERS)

    def call(_: int) -> str:
        api = server.openai(text.key)
        start.wait()
        try:
            api.chat.completions.create(model=HAIKU, messages=HI)
        except openai.RateLimitError as refused:
            body = refused.body
            return f"refused:{body['code']}" if isinstance(body, dict) else "refused"
        return "answered"

    with ThreadPoolExecutor(CALLERS) as pool:
        outcomes = list(pool.map(call, range(CALLERS)))

    with unit_of_work(cp.container, cp.clock) as services:
        used = services.capacity.usage_of(text.resource_id).used_gu
    # 2.5 calls of room: the third call crosses the allocation, the rest are refused.
    assert outcomes.count("answered") == 3
    assert outcomes.count("refused:capacity_exhausted") == CALLERS - 3
    assert provider_calls == 3  # refused before any provider call
    assert 0 < used - allocation <= call_gu
    assert usage_tally_for(cp.container.sessions).in_flight(text.resource_id) == 0


def test_a_call_that_fails_at_the_provider_frees_its_place(
    control_plane: ControlPlane, server: LiveServer, fake_anthropic: FakeAnthropic
) -> None:
    cp = control_plane
    text = provision_text(cp, plan="S")
    fake_anthropic.answer = lambda _b: httpx2.Response(529, json={"type": "error", "error": {}})
    api = server.openai(text.key)
    with pytest.raises(openai.APIStatusError) as failed:
        api.chat.completions.create(model=HAIKU, messages=HI)
    assert failed.value.status_code == 502
    tally = usage_tally_for(cp.container.sessions)
    assert tally.in_flight(text.resource_id) == 0

    fake_anthropic.answer = None
    api.chat.completions.create(model=HAIKU, messages=HI)
    assert tally.in_flight(text.resource_id) == 0
    with unit_of_work(cp.container, cp.clock) as services:
        used = services.capacity.usage_of(text.resource_id).used_gu
    assert used == get_model(HAIKU).genai_units(INPUT_TOKENS, OUTPUT_TOKENS)  # the failure metered nothing


def test_the_tally_counts_committed_usage_once_and_rolled_back_usage_never(
    control_plane: ControlPlane,
) -> None:
    cp = control_plane
    text = provision_text(cp, plan="S")
    sessions = cp.container.sessions
    tally = UsageTally(refresh_s=3600.0)  # no refresh from the ledger during the test
    tally.listen(sessions)
    with unit_of_work(cp.container, cp.clock) as services:
        resource = services.resource_repository.get(text.resource_id)
        assert resource is not None
        period = services.capacity.usage(resource).period
    span = (period.start, period.end)

    def used() -> float:
        with unit_of_work(cp.container, cp.clock) as services:
            repository = services.usage_repository
            return tally.admit(repository.session, text.resource_id, span, 3000, repository.gu_stats)

    def event(units: float) -> UsageEvent:
        day = cp.clock.now().date()
        return UsageEvent(
            resource_id=text.resource_id, day=day, model_id=HAIKU, genai_units=units, source="gateway"
        )

    assert used() == 0.0  # seeded from the (empty) ledger
    session = sessions()
    session.add(event(10.0))
    session.flush()
    assert used() == 10.0  # written, not committed: counted at once...
    session.rollback()
    session.close()
    assert used() == 0.0  # ...and taken back when rolled back
    with session_scope(sessions) as committed:
        committed.add(event(7.0))
    assert used() == 7.0 and tally.in_flight(text.resource_id) == 0
    with Session(cp.container.engine) as elsewhere, elsewhere.begin():  # another process's write
        elsewhere.add(event(5.0))
    assert used() == 7.0  # not seen until the total is re-read from the ledger


def test_near_the_end_the_total_is_read_from_the_ledger_on_every_check(control_plane: ControlPlane) -> None:
    cp = control_plane
    text = provision_text(cp, plan="S")
    tally = UsageTally(refresh_s=3600.0)
    tally.listen(cp.container.sessions)
    with unit_of_work(cp.container, cp.clock) as services:
        resource = services.resource_repository.get(text.resource_id)
        assert resource is not None
        period = services.capacity.usage(resource).period
    span = (period.start, period.end)

    def used() -> float:
        with unit_of_work(cp.container, cp.clock) as services:
            repository = services.usage_repository
            return tally.admit(repository.session, text.resource_id, span, 3000, repository.gu_stats)

    def write_elsewhere(units: float) -> None:
        with Session(cp.container.engine) as elsewhere, elsewhere.begin():
            day = cp.clock.now().date()
            elsewhere.add(
                UsageEvent(
                    resource_id=text.resource_id, day=day, model_id=HAIKU, genai_units=units, source="x"
                )
            )

    write_elsewhere(2900.0)  # within 10 % of the 3,000 GU
    assert used() == 2900.0
    write_elsewhere(50.0)
    assert used() == 2950.0  # re-read at once, though the total is fresh
