"""Switching the sales mode never counts a sale twice: each sale reaches the books exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.books.conftest import PRODUCT, ago, iso, sale, shift
from tests.books.programs import PROGRAMS


@pytest.fixture(params=sorted(PROGRAMS))
async def program(request, api):
    return PROGRAMS[request.param](api)


async def put(api, collection: str, pos_id: str, body: dict) -> None:
    response = await api.put(f"/v1/{collection}/{pos_id}", body)
    assert response.status_code in (200, 201), response.text


async def panel_entry(api, collection: str, pos_id: str) -> dict:
    (entry,) = (await api.get(f"/v1/{collection}/{pos_id}/sync")).json()["connections"]
    return entry


def assert_exactly_once(documents: dict, sales_by_shift: dict[str, list[str]]) -> None:
    for shift_id, sales in sales_by_shift.items():
        for sale_id in sales:
            assert (sale_id in documents) != (shift_id in documents), (sale_id, shift_id, sorted(documents))


async def test_shift_totals_to_individual(program, api):
    await program.connect({"sales_mode": "shift_totals"})
    await put(api, "products", "P-1", PRODUCT)
    # A: closed and summarised before the switch; F: its summary refused (negative total).
    await put(api, "shift-reports", "A", shift(opened=ago(hours=9), closed=ago(hours=8)))
    for s in ("A1", "A2"):
        await put(api, "sales", s, sale(s, shift="A", date=ago(hours=8, minutes=30)))
    await put(api, "shift-reports", "F", shift(opened=ago(hours=7), closed=ago(hours=6), cash="-5.00"))
    await put(api, "sales", "F1", sale("F1", shift="F", date=ago(hours=6, minutes=30)))
    # O: a shift still open at the switch, one of its sales already skipped.
    await put(api, "sales", "O1", sale("O1", shift="O", date=ago(minutes=30)))
    await api.settle()
    assert (await panel_entry(api, "shift-reports", "A"))["state"] == "synced"
    assert (await panel_entry(api, "shift-reports", "F"))["state"] == "failed"
    assert (await panel_entry(api, "sales", "O1"))["state"] == "skipped"
    # Q: closed before the switch, still pending when it happens.
    await put(api, "shift-reports", "Q", shift(opened=ago(hours=3), closed=ago(hours=2)))
    await put(api, "sales", "Q1", sale("Q1", shift="Q", date=ago(hours=2, minutes=30)))

    switched = await program.settings({"sales_mode": "individual"})
    assert switched.status_code == 200, switched.text
    assert switched.json()["mode_history"][-1]["sales_mode"] == "individual"
    await api.settle()
    await put(api, "shift-reports", "O", shift(opened=ago(hours=1), closed=iso(datetime.now(UTC))))
    await put(api, "sales", "N1", sale("N1", shift="N", date=iso(datetime.now(UTC))))
    await put(api, "shift-reports", "N", shift(opened=ago(minutes=1), closed=iso(datetime.now(UTC) + timedelta(seconds=1))))
    await api.settle()
    # The refused summary is fixed in the POS: it goes through, still as a summary.
    await put(api, "shift-reports", "F", shift(opened=ago(hours=7), closed=ago(hours=6), cash="10.00"))
    await api.settle()

    documents = await program.documents()
    assert sorted(documents) == ["A", "F", "N1", "O1", "Q"]
    assert_exactly_once(documents, {"A": ["A1", "A2"], "F": ["F1"], "Q": ["Q1"], "O": ["O1"], "N": ["N1"]})
    a1 = await panel_entry(api, "sales", "A1")
    assert a1["state"] == "skipped" and "shift report A" in a1["advice"]
    for closed_after_switch in ("O", "N"):
        # Skipped for the mode at its close, or because its sale already went one by one (whichever
        # the worker met first): either way the panel says why.
        entry = await panel_entry(api, "shift-reports", closed_after_switch)
        assert entry["state"] == "skipped"
        assert "individual sales since" in entry["advice"] or "one by one" in entry["advice"]


async def test_individual_to_shift_totals(program, api):
    await program.connect({"sales_mode": "individual"})
    await put(api, "products", "P-1", PRODUCT)
    await put(api, "shift-reports", "A", shift(opened=ago(hours=9), closed=ago(hours=8)))
    for s in ("A1", "A2"):
        await put(api, "sales", s, sale(s, shift="A", date=ago(hours=8, minutes=30)))
    await put(api, "sales", "O1", sale("O1", shift="O", date=ago(minutes=30)))
    # D: closed before the switch; its sale is red (its customer has no name) when the switch comes.
    await put(api, "customers", "C-BAD", {"email": "nameless@example.com"})
    await put(api, "shift-reports", "D", shift(opened=ago(hours=7), closed=ago(hours=6), cash="10.00"))
    await put(api, "sales", "D1", sale("D1", shift="D", date=ago(hours=6, minutes=30), customer_id="C-BAD"))
    await api.settle()
    assert (await panel_entry(api, "sales", "A1"))["state"] == "synced"
    assert (await panel_entry(api, "shift-reports", "A"))["state"] == "skipped"
    assert (await panel_entry(api, "sales", "D1"))["state"] == "failed"

    switched = await program.settings({"sales_mode": "shift_totals"})
    assert switched.status_code == 200, switched.text
    await api.settle()
    # The open shift O already sent a sale one by one: its other sales follow, its summary does not.
    await put(api, "sales", "O2", sale("O2", shift="O", date=ago(minutes=5)))
    await put(api, "shift-reports", "O", shift(opened=ago(hours=1), closed=iso(datetime.now(UTC))))
    # C closed before the switch; its sale arrives late and is judged by the mode at C's close.
    await put(api, "shift-reports", "C", shift(opened=ago(hours=5), closed=ago(hours=4)))
    await put(api, "sales", "C1", sale("C1", shift="C", date=ago(hours=4, minutes=30)))
    # B opens after the switch.
    for s in ("B1", "B2"):
        await put(api, "sales", s, sale(s, shift="B", date=iso(datetime.now(UTC))))
    await api.settle()
    assert (await panel_entry(api, "sales", "B1"))["state"] == "skipped"
    await put(api, "shift-reports", "B", shift(opened=ago(minutes=1), closed=iso(datetime.now(UTC) + timedelta(seconds=1))))
    await api.settle()
    assert (await panel_entry(api, "sales", "D1"))["state"] == "failed"  # still red: judged by D's close
    await put(api, "customers", "C-BAD", {"first_name": "Named", "email": "nameless@example.com"})
    await api.settle()  # the fixed customer wakes D1, which goes one by one as D's mode says

    documents = await program.documents()
    assert sorted(documents) == ["A1", "A2", "B", "C1", "D1", "O1", "O2"]
    assert_exactly_once(documents, {"A": ["A1", "A2"], "O": ["O1", "O2"], "C": ["C1"], "B": ["B1", "B2"],
                                    "D": ["D1"]})
    o = await panel_entry(api, "shift-reports", "O")
    assert o["state"] == "skipped" and "one by one" in o["advice"]
    b1 = await panel_entry(api, "sales", "B1")
    assert "shift totals since" in b1["advice"]

    # Switching back and forth again changes nothing in the books.
    assert (await program.settings({"sales_mode": "individual"})).status_code == 200
    await api.settle()
    assert sorted(await program.documents()) == ["A1", "A2", "B", "C1", "D1", "O1", "O2"]


async def test_turning_sales_off_and_on_follows_the_same_rule(program, api):
    await program.connect({"sales_mode": "individual"})
    await put(api, "products", "P-1", PRODUCT)
    await put(api, "sales", "S1", sale("S1", shift=None, date=ago(hours=2)))
    await api.settle()
    without_sales = ["customer", "supplier", "product", "purchase_order", "shift_report"]
    assert (await program.settings({"entity_types": without_sales})).status_code == 200
    await put(api, "sales", "S2", sale("S2", shift=None, date=iso(datetime.now(UTC))))
    await api.settle()
    s2 = await panel_entry(api, "sales", "S2")
    assert s2["state"] == "skipped" and "turned off" in s2["advice"]
    assert (await program.settings({"entity_types": [*without_sales, "sale"]})).status_code == 200
    await api.settle()
    # S2 was made while sales were off: turning them on again does not send it backwards.
    assert sorted(await program.documents()) == ["S1"]
    await put(api, "sales", "S3", sale("S3", shift=None, date=iso(datetime.now(UTC) + timedelta(seconds=1))))
    await api.settle()
    assert sorted(await program.documents()) == ["S1", "S3"]


async def test_a_change_dated_in_the_past_is_refused_and_a_future_one_is_scheduled(program, api):
    await program.connect({"sales_mode": "individual"})
    past = await program.settings({"sales_mode": "shift_totals", "effective_from": ago(hours=1)})
    assert past.status_code == 422 and "past" in past.json()["detail"]
    at = datetime.now(UTC) + timedelta(hours=2)
    scheduled = await program.settings({"sales_mode": "shift_totals", "effective_from": iso(at)})
    assert scheduled.status_code == 200, scheduled.text
    history = scheduled.json()["mode_history"]
    assert [p["sales_mode"] for p in history] == ["individual", "shift_totals"]
    assert datetime.fromisoformat(history[-1]["effective_from"].replace("Z", "+00:00")) == at
    assert scheduled.json()["effective_from"] is None
    await put(api, "products", "P-1", PRODUCT)
    # A sale now (no shift) is judged by the mode in force now; one dated after the switch is covered.
    await put(api, "sales", "NOW", sale("NOW", shift=None, date=iso(datetime.now(UTC))))
    await put(api, "sales", "LATER", sale("LATER", shift=None, date=iso(at + timedelta(minutes=1))))
    await api.settle()
    assert sorted(await program.documents()) == ["NOW"]


async def test_history_is_possyncs_to_keep(program, api):
    await program.connect({"sales_mode": "individual", "effective_from": ago(hours=5),
                           "mode_history": [{"effective_from": ago(hours=9), "sales_mode": "shift_totals",
                                             "entity_types": ["sale"]}]})
    settings = (await api.get(f"/v1/connections/{program.connection_id}/settings")).json()
    assert settings["effective_from"] is None and settings["mode_history"] == []
    # A later change of another setting is not refused for a moment nobody gave.
    assert (await program.settings({"sales_mode": "individual"})).status_code == 200
    changed = await program.settings({"sales_mode": "shift_totals",
                                      "mode_history": [{"effective_from": ago(hours=9), "sales_mode": "individual",
                                                        "entity_types": []}]})
    assert [p["sales_mode"] for p in changed.json()["mode_history"]] == ["individual", "shift_totals"]


async def test_a_summary_waits_while_a_sale_of_its_shift_is_being_pushed(api):
    import asyncio
    import uuid

    from sqlalchemy import select, update

    from app.models import Link, Record, SandboxObject
    from app.models.base import utcnow
    from app.sync.runner import sync_connection

    connection_id = uuid.UUID(await api.connect_sandbox({"sales_mode": "shift_totals"}))
    api.deps.bell._sync = lambda *a: asyncio.sleep(0)  # noqa: SLF001 - the test runs the jobs by hand
    await put(api, "products", "P-1", PRODUCT)
    await put(api, "sales", "O1", sale("O1", shift="O", date=ago(minutes=30)))
    await put(api, "shift-reports", "O", shift(opened=ago(hours=1), closed=ago(minutes=1)))
    async with api.deps.sessions() as session, session.begin():
        o1 = select(Record.id).where(Record.pos_id == "O1").scalar_subquery()
        # Another job holds O1 right now (it judged it before the shift closed, and is pushing it).
        await session.execute(update(Link).where(Link.record_id == o1)
                              .values(claimed_until=utcnow() + __import__("datetime").timedelta(minutes=5),
                                      claim_token="another-job"))
    await sync_connection(api.deps, connection_id)
    waiting = await panel_entry(api, "shift-reports", "O")
    assert waiting["state"] == "pending" and "sale O1" in waiting["error"]

    async with api.deps.sessions() as session, session.begin():
        # That job's result: O1 went to the program on its own.
        await session.execute(update(Link).where(Link.record_id == o1).values(
            claimed_until=None, claim_token=None, state="synced", external_id="sandbox-o1"))
        o = select(Record.id).where(Record.pos_id == "O").scalar_subquery()
        await session.execute(update(Link).where(Link.record_id == o).values(next_attempt_at=utcnow()))
    await sync_connection(api.deps, connection_id)
    skipped = await panel_entry(api, "shift-reports", "O")
    assert skipped["state"] == "skipped" and "one by one" in skipped["advice"]
    async with api.deps.sessions() as session:
        kinds = [o.kind for o in (await session.scalars(select(SandboxObject))).all()]
    assert "summary_receipt" not in kinds


async def test_a_skipped_shift_rejudges_sales_skipped_before_its_close_was_known(api):
    import asyncio
    import uuid

    from sqlalchemy import select, update

    from app.models import Connection, Link, Record
    from app.sync.runner import sync_connection

    connection_id = uuid.UUID(await api.connect_sandbox({"sales_mode": "individual"}))
    api.deps.bell._sync = lambda *a: asyncio.sleep(0)  # noqa: SLF001 - the test runs the jobs by hand
    async with api.deps.sessions() as session, session.begin():
        connection = await session.get(Connection, connection_id)
        # Individual until ten minutes ago, shift totals since.
        connection.settings = {**connection.settings, "sales_mode": "shift_totals", "mode_history": [
            {"effective_from": ago(days=1), "sales_mode": "individual", "entity_types": ["sale", "shift_report", "product"]},
            {"effective_from": ago(minutes=10), "sales_mode": "shift_totals",
             "entity_types": ["sale", "shift_report", "product"]}]}
    await put(api, "products", "P-1", PRODUCT)
    await put(api, "sales", "H1", sale("H1", shift="H", date=ago(minutes=30)))
    await sync_connection(api.deps, connection_id)
    assert (await panel_entry(api, "sales", "H1"))["state"] == "skipped"  # judged "now": shift totals
    await put(api, "shift-reports", "H", shift(opened=ago(hours=1), closed=ago(minutes=20)))
    async with api.deps.sessions() as session, session.begin():
        h1 = select(Record.id).where(Record.pos_id == "H1").scalar_subquery()
        # As if a job still holding H1 wrote its skip after the shift's arrival re-queued it.
        await session.execute(update(Link).where(Link.record_id == h1).values(state="skipped"))
    await sync_connection(api.deps, connection_id)
    shift_entry = await panel_entry(api, "shift-reports", "H")
    assert shift_entry["state"] == "skipped" and "individual sales" in shift_entry["advice"]
    assert (await panel_entry(api, "sales", "H1"))["state"] == "synced"
