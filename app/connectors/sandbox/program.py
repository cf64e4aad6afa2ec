"""A fake accounting program kept in possync's own database, so every worker sees the same.

It behaves like the real ones where it matters to the engine: its own ids, create-then-update,
idempotency keys remembered, and two documented triggers:

- an email ending in `@invalid.example` is refused (a permanent validation error);
- a customer, supplier or product name containing `[flaky]` fails twice with a 503, then works;
- a sale whose note contains `[reconciled]` cannot be voided (its payment is reconciled).

For demos and the fault suite it can also answer slowly (POSSYNC_SANDBOX_LATENCY_MS) and fail a
share of its calls (POSSYNC_SANDBOX_FAULT_RATE): half refused before any work, half done with
the answer lost, which only idempotency keys keep from creating duplicates.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import transaction
from app.models import SandboxObject, SandboxRequest
from app.models.base import utcnow

FLAKY_MARK = "[flaky]"
# A document whose note carries this mark has a reconciled payment: the sandbox refuses to void it,
# as real programs do, so the panel's "do it by hand" advice can be tried.
RECONCILED_MARK = "[reconciled]"
UNDO = {"contact": "archived", "vendor": "archived", "item": "archived", "purchase_order": "deleted",
        "sales_receipt": "voided", "summary_receipt": "voided"}
FLAKY_FAILURES = 2
REFUSED_EMAIL_DOMAIN = "@invalid.example"


@dataclass(frozen=True)
class SandboxWrite:
    kind: str
    reference: str
    data: dict[str, Any]
    object_id: str | None
    idempotency_key: str


@dataclass(frozen=True)
class SandboxOutcome:
    object_id: str | None = None
    created: bool = False
    refused: str | None = None  # validation message
    unavailable: bool = False  # the [flaky] 503


class SandboxProgram:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], *, latency_s: float = 0.0,
                 fault_rate: float = 0.0) -> None:
        self._sessions = session_factory
        self._latency_s = latency_s
        self._fault_rate = fault_rate

    async def write_many(self, organisation_id: uuid.UUID, writes: list[SandboxWrite]) -> list[SandboxOutcome]:
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        fault = random.random() < self._fault_rate
        if fault and random.random() < 0.5:
            return [SandboxOutcome(unavailable=True) for _ in writes]  # refused before doing anything
        try:
            async with transaction(self._sessions) as session:
                done = [await self._write(session, organisation_id, w) for w in writes]
            # The other half of the faults: the work is done, the answer is lost on the way back.
            return [SandboxOutcome(unavailable=True) for _ in writes] if fault else done
        except IntegrityError:
            # Two requests with one idempotency key at once: like a real program's 409, try later.
            return [SandboxOutcome(unavailable=True) for _ in writes]

    async def undo_many(self, organisation_id: uuid.UUID, object_ids: list[str]) -> list[tuple[str | None, str | None]]:
        """Archive, void or delete each object as its kind allows: (what was done, why refused)."""
        out: list[tuple[str | None, str | None]] = []
        async with transaction(self._sessions) as session:
            for object_id in object_ids:
                obj = await session.get(SandboxObject, object_id)
                if obj is None or obj.organisation_id != organisation_id:
                    out.append((None, f"Object {object_id} does not exist."))
                    continue
                if RECONCILED_MARK in str(obj.data.get("note") or ""):
                    out.append((None, "Its payment is reconciled; the document cannot be voided."))
                    continue
                done = UNDO[obj.kind]
                obj.data = {**obj.data, "program_status": done}
                obj.version += 1
                obj.updated_at = utcnow()
                out.append((done, None))
        return out

    async def objects(self, organisation_id: uuid.UUID) -> list[SandboxObject]:
        async with self._sessions() as session:
            rows = await session.scalars(select(SandboxObject).where(SandboxObject.organisation_id == organisation_id))
            return list(rows)

    async def _write(self, session: AsyncSession, org: uuid.UUID, w: SandboxWrite) -> SandboxOutcome:
        request = await session.get(SandboxRequest, (org, w.idempotency_key))
        if request is None:
            request = SandboxRequest(organisation_id=org, idempotency_key=w.idempotency_key, tries=0)
            session.add(request)
        request.tries += 1
        if request.object_id is not None:
            # A repeated request: answer what the first one did, create nothing.
            return SandboxOutcome(object_id=request.object_id, created=request.created_object)
        if _is_flaky(w.data) and request.tries <= FLAKY_FAILURES:
            return SandboxOutcome(unavailable=True)
        refusal = _refusal(w.data)
        if refusal:
            return SandboxOutcome(refused=refusal)

        _keep_books(w.data)
        existing = None
        if w.object_id:
            existing = await session.get(SandboxObject, w.object_id)
        if existing is None:
            existing = await session.scalar(
                select(SandboxObject).where(
                    SandboxObject.organisation_id == org,
                    SandboxObject.kind == w.kind,
                    SandboxObject.reference == w.reference,
                )
            )
        now = utcnow()
        if existing is not None:
            existing.data = w.data
            existing.version += 1
            existing.updated_at = now
            request.object_id = existing.id
            return SandboxOutcome(object_id=existing.id, created=False)
        obj = SandboxObject(
            id=str(uuid.uuid4()), organisation_id=org, kind=w.kind, reference=w.reference, data=w.data,
            created_at=now, updated_at=now,
        )
        session.add(obj)
        request.object_id = obj.id
        request.created_object = True
        return SandboxOutcome(object_id=obj.id, created=True)


def _keep_books(data: dict[str, Any]) -> None:
    """A document's total as a program computes it: each line rounded to the cent, then summed;
    payments applied against it, the rest owed."""
    if "document_lines" not in data:
        return
    total = sum((_cents(line["amount"]) for line in data["document_lines"]), Decimal(0))
    paid = sum((Decimal(str(a)) for a in data.pop("payments_to_apply", [])), Decimal(0))
    data["program_total"] = str(total)
    data["amount_paid"] = str(_cents(paid))
    data["amount_due"] = str(total - _cents(paid))


def _cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _is_flaky(data: dict[str, Any]) -> bool:
    return any(FLAKY_MARK in str(data.get(f) or "") for f in ("name", "first_name", "last_name", "company_name"))


def _refusal(data: dict[str, Any]) -> str | None:
    email = str(data.get("email") or "")
    if email.lower().endswith(REFUSED_EMAIL_DOMAIN):
        return f"Email address '{email}' is not accepted."
    return None
