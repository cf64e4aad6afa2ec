"""Back-off of transient failures: it grows while the program answers nothing, and stays a few
seconds while the program answers other calls of the connection."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.entities import ENTITY_TYPES
from app.models import Link, Record
from app.models.base import utcnow
from app.sync.backoff import SPORADIC_CAP_S, ProgramAnswers, next_attempt


def test_the_back_off_stops_growing_while_the_program_answers():
    now = utcnow()
    grown = next_attempt(now, 10, group=7) - now
    capped = next_attempt(now, 10, group=7, program_answering=True) - now
    assert grown >= timedelta(seconds=1024)
    assert timedelta(seconds=SPORADIC_CAP_S / 2) <= capped <= timedelta(seconds=SPORADIC_CAP_S)
    # What the program asked for (Retry-After) still comes first.
    assert next_attempt(now, 10, 30.0, group=7, program_answering=True) - now == timedelta(seconds=30)


def test_an_answer_counts_for_its_own_connection_and_only_for_a_while(monkeypatch):
    import uuid
    answers = ProgramAnswers(window_s=30)
    seen, other = uuid.uuid4(), uuid.uuid4()
    clock = [1000.0]
    monkeypatch.setattr("app.sync.backoff.time.monotonic", lambda: clock[0])
    answers.saw_answer(seen)
    assert answers.answering(seen) and not answers.answering(other)
    clock[0] += 31
    assert not answers.answering(seen)


def test_answers_older_than_the_window_are_dropped_as_connections_come_and_go(monkeypatch):
    import uuid
    answers = ProgramAnswers(window_s=30)
    clock = [1000.0]
    monkeypatch.setattr("app.sync.backoff.time.monotonic", lambda: clock[0])
    for _ in range(5000):  # connections seen once each, a second apart
        answers.saw_answer(uuid.uuid4())
        clock[0] += 1
    recent = uuid.uuid4()
    answers.saw_answer(recent)
    assert answers.answering(recent)
    assert len(answers._last) <= 2 * 512 + 1  # noqa: SLF001 - what is kept is the point


async def _fail_again_after_many_retries(api) -> timedelta:
    await api.put("/v1/products/P-9", {"sku": "FLAKY-1", "name": "Beans [flaky]"})
    await api.settle()
    async with api.deps.sessions() as session:
        async with session.begin():
            product = select(Record.id).where(Record.pos_id == "P-9")
            await session.execute(update(Link).where(Link.record_id.in_(product))
                                  .values(retries=10, next_attempt_at=utcnow()))
            connection_id = await session.scalar(select(Link.connection_id).limit(1))
    await api.deps.bell.ring(connection_id, trigger="schedule")
    await api.settle()
    async with api.deps.sessions() as session:
        link = await session.scalar(select(Link).where(Link.record_id.in_(select(Record.id).where(Record.pos_id == "P-9"))))
    assert link.state == "pending" and link.retries == 11
    return link.next_attempt_at - link.updated_at


async def test_a_sporadic_failure_of_an_answering_program_is_retried_in_seconds(api, monkeypatch):
    monkeypatch.setattr("app.connectors.sandbox.connector.RETRY_AFTER_S", 0.0)
    await api.connect_sandbox()
    await api.put("/v1/customers/C-1001", ENTITY_TYPES["customer"].example)
    await api.settle()
    assert await _fail_again_after_many_retries(api) <= timedelta(seconds=SPORADIC_CAP_S + 1)


async def test_a_program_that_answers_nothing_gets_the_growing_back_off(api, monkeypatch):
    monkeypatch.setattr("app.connectors.sandbox.connector.RETRY_AFTER_S", 0.0)
    await api.connect_sandbox()
    assert await _fail_again_after_many_retries(api) >= timedelta(seconds=1024)
