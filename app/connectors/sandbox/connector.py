"""The sandbox connector: a translator to the built-in fake program (see app.connectors.sandbox.program)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, ClassVar

from app.connectors import rules
from app.connectors.base import Credentials, PushContext, PushItem, PushResult
from app.connectors.errors import PermanentError, TransientError
from app.connectors.limits import RateLimits
from app.entities import totals
from app.connectors.sandbox.program import REFUSED_EMAIL_DOMAIN, SandboxProgram, SandboxWrite


class SandboxSettings(rules.CommonSettings):
    pass


RETRY_AFTER_S = 1.0

KINDS = {
    "customer": "contact",
    "supplier": "vendor",
    "product": "item",
    "purchase_order": "purchase_order",
    "sale": "sales_receipt",
    "shift_report": "summary_receipt",
}


def to_sandbox(item: PushItem) -> dict[str, Any]:
    """The pure mapping: POS payload + resolved references → what the sandbox keeps."""
    data = dict(item.payload)
    name = rules.display_name(item.entity_type, item.payload)
    if name:
        data["name"] = name
    data["references"] = {f"{t}:{pos_id}": ext for (t, pos_id), ext in item.references.items()}
    if item.entity_type == "sale":
        data["document_lines"], data["payments_to_apply"] = _sale_document(item.payload)
    elif item.entity_type == "shift_report":
        data["document_lines"] = _shift_document(item.payload)
        data["payments_to_apply"] = [str(t["amount"]) for t in item.payload.get("totals_by_payment_type") or []]
    return data


def rounding_note(data: dict[str, Any]) -> str | None:
    rounding = [line for line in data.get("document_lines") or [] if line.get("kind") == "rounding"]
    if not rounding:
        return None
    return (f"Added a rounding line of {rounding[0]['amount']} so the document total equals the POS total "
            f"{totals.sale_total(data)}.")


def _sale_document(p: dict[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
    """Lines as the sandbox program adds them (each rounded to the cent), plus a rounding line where
    that would not come to the POS total; payments net of change given."""
    lines = [{"kind": "product", "description": line.get("description") or line["product_id"],
              "amount": str(totals.line_amount(line))} for line in p.get("lines") or []]
    lines += [{"kind": c["kind"], "description": c.get("description") or c["kind"], "amount": str(c["amount"])}
              for c in p.get("custom_lines") or []]
    if not p.get("prices_include_tax", True) and p.get("tax_total") is not None:
        lines.append({"kind": "tax", "description": "Tax", "amount": str(p["tax_total"])})
    wanted = totals.sale_total(p)
    computed = sum((totals.cents(line["amount"]) for line in lines), Decimal(0))
    if wanted is not None and wanted != computed:
        lines.append({"kind": "rounding", "description": "Rounding", "amount": str(wanted - computed)})
    payments = [str(totals.dec(pay["amount"]) - totals.dec(pay.get("change_given"))) for pay in p.get("payments") or []]
    return lines, payments


def _shift_document(p: dict[str, Any]) -> list[dict[str, str]]:
    by_rate = p.get("totals_by_tax_rate") or []
    if not by_rate:
        return [{"kind": "sales", "description": "POS sales", "amount": str(p["sales_total"])}]
    return [{"kind": "sales", "description": f"POS sales, {t['tax_rate']}",
             "amount": str(totals.dec(t["net"]) + totals.dec(t["tax"]))} for t in by_rate]


class SandboxConnector:
    name: ClassVar[str] = "sandbox"
    title: ClassVar[str] = "Sandbox (built-in demo program)"
    settings_model: ClassVar[type[SandboxSettings]] = SandboxSettings
    batch_size: ClassVar[int] = 50
    needs_oauth: ClassVar[bool] = False
    rate_limits: ClassVar[RateLimits | None] = None
    required_settings: ClassVar[tuple[str, ...]] = ()  # built in: always offered

    def __init__(self, program: SandboxProgram) -> None:
        self._program = program

    @classmethod
    def from_settings(cls, settings: Any, *, sandbox_program: SandboxProgram, **_: Any) -> "SandboxConnector":
        return cls(sandbox_program)

    def syncs(self, entity_type: str, settings: SandboxSettings) -> bool:
        return rules.syncs(entity_type, settings)

    def skip_reason(self, entity_type: str, payload: dict[str, Any], settings: SandboxSettings) -> str | None:
        return rules.common_skip_reason(entity_type, payload, settings)

    async def push(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        writes: list[tuple[PushItem, SandboxWrite]] = []
        for item in items:
            problem = _precheck(item)
            if problem:
                results[item.key] = PushResult(item.key, error=problem)
                continue
            writes.append(
                (
                    item,
                    SandboxWrite(
                        kind=KINDS[entity_type],
                        reference=item.pos_id,
                        data=to_sandbox(item),
                        object_id=item.external_id,
                        idempotency_key=item.idempotency_key,
                    ),
                )
            )
        outcomes = await self._program.write_many(uuid.UUID(ctx.connection_id), [w for _, w in writes])
        for (item, _), outcome in zip(writes, outcomes, strict=True):
            results[item.key] = _result(item, outcome)
        return [results[i.key] for i in items]

    async def retract(self, ctx: PushContext, entity_type: str, items: list[PushItem]) -> list[PushResult]:
        done = await self._program.undo_many(uuid.UUID(ctx.connection_id), [i.external_id for i in items])
        results = []
        for item, (action, refusal) in zip(items, done, strict=True):
            if refusal:
                results.append(PushResult(item.key, external_id=item.external_id, error=PermanentError(
                    refusal, code="undo_refused",
                    advice=f"Unreconcile the payment in the sandbox and press SYNC NOW, or void document "
                    f"{item.external_id} by hand there.")))
            else:
                results.append(PushResult(item.key, action=action, external_id=item.external_id))
        return results

    async def refresh_credentials(self, credentials: Credentials) -> Credentials:
        return credentials

    async def aclose(self) -> None:
        return None


def _precheck(item: PushItem) -> PermanentError | None:
    if item.entity_type == "customer" and not rules.display_name("customer", item.payload):
        return PermanentError(
            "Customer has no name.",
            code="missing_name",
            advice="Give the customer a first name, last name or company name in the POS.",
        )
    if item.entity_type == "shift_report":
        negative = rules.negative_payment_totals(item.payload)
        if negative:
            return PermanentError(
                f"Negative shift total for payment type(s): {', '.join(negative)}.",
                code="negative_payment_total",
                advice="A negative total per payment type cannot be sent through the API; "
                "record it by hand in the program.",
            )
    return None


def _result(item: PushItem, outcome) -> PushResult:
    if outcome.unavailable:
        return PushResult(
            item.key,
            error=TransientError("Sandbox is temporarily unavailable (503).", http_status=503, retry_after_s=RETRY_AFTER_S),
        )
    if outcome.refused:
        return PushResult(
            item.key,
            error=PermanentError(
                outcome.refused,
                code="invalid_email",
                http_status=400,
                advice=f"Correct the email address in the POS: the sandbox refuses addresses ending "
                f"in {REFUSED_EMAIL_DOMAIN}.",
            ),
        )
    action = "created" if outcome.created and not item.external_id else "updated"
    return PushResult(item.key, action=action, external_id=outcome.object_id, note=rounding_note(to_sandbox(item)))
