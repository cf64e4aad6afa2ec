"""Bounded logs: old attempts and runs are pruned in batches; the latest attempt of a link stays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.models import Attempt, Link, Record, Run, RunStatus
from app.models.base import utcnow
from app.sync.pruning import prune_attempts, prune_logs, prune_runs
from tests.conftest import make_settings


async def _attempts(deps) -> list[tuple[str, int]]:
    async with deps.sessions() as session:
        rows = await session.execute(
            select(Record.pos_id, Attempt.id).join(Link, Link.id == Attempt.link_id)
            .join(Record, Record.id == Link.record_id).order_by(Attempt.id)
        )
        return [(pos_id, attempt_id) for pos_id, attempt_id in rows.all()]


async def _age(deps, model, ids, days: int) -> None:
    async with deps.sessions() as session, session.begin():
        await session.execute(update(model).where(model.id.in_(ids)).values(created_at=utcnow() - timedelta(days=days)))


async def _three_tries_of_c1_and_one_of_c2(api) -> list[tuple[str, int]]:
    await api.connect_sandbox()
    for name in ("First", "Second", "Third"):
        await api.put("/v1/customers/C-1", {"first_name": name})
        await api.settle()
    await api.put("/v1/customers/C-2", {"first_name": "Once"})
    await api.settle()
    attempts = await _attempts(api.deps)
    assert [p for p, _ in attempts] == ["C-1", "C-1", "C-1", "C-2"]
    return attempts


@pytest.mark.parametrize("batch", [1, 2, 1000])
async def test_old_attempts_go_but_each_links_latest_stays(api, batch):
    attempts = await _three_tries_of_c1_and_one_of_c2(api)
    (c1_first, c1_second, c1_latest, c2_only) = [a for _, a in attempts]
    await _age(api.deps, Attempt, [c1_first, c1_second, c2_only], days=100)
    await _age(api.deps, Attempt, [c1_latest], days=89)

    assert await prune_attempts(api.deps, keep_days=90, batch=batch) == 2
    assert [a for _, a in await _attempts(api.deps)] == [c1_latest, c2_only]
    assert await prune_attempts(api.deps, keep_days=90, batch=batch) == 0  # nothing more to do
    # REFRESH LOGS still shows C-2's only try.
    assert len((await api.get("/v1/customers/C-2/sync/logs")).json()["items"]) == 1


async def test_attempts_younger_than_the_cut_off_are_kept(api):
    attempts = await _three_tries_of_c1_and_one_of_c2(api)
    await _age(api.deps, Attempt, [a for _, a in attempts], days=10)
    assert await prune_attempts(api.deps, keep_days=90, batch=2) == 0
    assert await _attempts(api.deps) == attempts


async def test_runs_are_kept_longer_and_unfinished_ones_stay(api):
    await _three_tries_of_c1_and_one_of_c2(api)
    async with api.deps.sessions() as session:
        runs = list((await session.scalars(select(Run).order_by(Run.created_at))).all())
    assert len(runs) == 4 and {r.status for r in runs} == {RunStatus.FINISHED}
    old, ancient, stuck, recent = runs
    await _age(api.deps, Run, [old.id], days=200)  # older than the attempts' limit, younger than the runs'
    await _age(api.deps, Run, [ancient.id, stuck.id], days=400)
    async with api.deps.sessions() as session, session.begin():
        await session.execute(update(Run).where(Run.id == stuck.id).values(status=RunStatus.RUNNING))

    assert await prune_runs(api.deps, keep_days=365, batch=1) == 1
    async with api.deps.sessions() as session:
        left = set((await session.scalars(select(Run.id))).all())
    assert left == {old.id, stuck.id, recent.id}


async def test_the_periodic_pass_reads_its_limits_from_the_settings(api, migrated):
    attempts = await _three_tries_of_c1_and_one_of_c2(api)
    await _age(api.deps, Attempt, [a for _, a in attempts], days=8)
    api.deps.settings = make_settings(migrated, POSSYNC_ATTEMPTS_KEEP_DAYS=7, POSSYNC_RUNS_KEEP_DAYS=30)
    pruned = await prune_logs(api.deps)
    assert (pruned.attempts, pruned.runs) == (2, 0)


def test_runs_must_be_kept_at_least_as_long_as_attempts(migrated):
    with pytest.raises(ValueError, match="POSSYNC_RUNS_KEEP_DAYS"):
        make_settings(migrated, POSSYNC_ATTEMPTS_KEEP_DAYS=90, POSSYNC_RUNS_KEEP_DAYS=30)
