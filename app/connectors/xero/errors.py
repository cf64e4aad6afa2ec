"""Xero's refusals turned into the engine's classes, with advice a shop owner can act on.

Two layers: `from_response` classifies a whole HTTP answer (429, 5xx, 401…) and `element_error`
reads one element's `ValidationErrors` (HTTP 200 with summarizeErrors=false, or the Elements of
a 400 ValidationException). The message text is matched here, once; the engine only sees the
class and the stable `code`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import httpx

from app.connectors.errors import (
    ConnectionBroken,
    PermanentError,
    RateLimited,
    SettingMissing,
    SyncError,
    TokenRefused,
    TransientError,
)

DEFAULT_RETRY_AFTER_S = 60.0
KEY_REUSED = "idempotency_key_reused"
DAY_PAUSE_S = 3600.0  # Xero's day window rolls; without Retry-After, look again in an hour


def advice_error(code: str, message: str, advice: str, **kwargs) -> PermanentError:
    return PermanentError(message, code=code, advice=advice, **kwargs)


def missing_payment_mapping(payment_type: str) -> SettingMissing:
    return SettingMissing(
        f"Payment type '{payment_type}' has no Xero account.",
        code="payment_type_unmapped", setting="payment_accounts", key=payment_type, pos_kind="payment_type",
        advice=f"Map payment type {payment_type} to an account in the Xero sync settings (payment_accounts).",
    )


def missing_custom_line_mapping(kind: str) -> SettingMissing:
    return SettingMissing(
        f"Custom line kind '{kind}' has no Xero account.",
        code="custom_line_unmapped", setting="custom_line_accounts", key=kind, pos_kind="custom_line_kind",
        advice=f"Map custom line kind {kind} to an account in the Xero sync settings (custom_line_accounts).",
    )


def missing_tax_mapping(tax_rate: str, direction: str) -> SettingMissing:
    setting = "sales_tax_types" if direction == "sales" else "purchase_tax_types"
    return SettingMissing(
        f"Tax rate '{tax_rate}' has no Xero tax type for {direction}.",
        code="tax_rate_unmapped", setting=setting, key=tax_rate, pos_kind="tax_rate",
        advice=f"Map tax rate {tax_rate} to a Xero tax type for {direction} in the Xero sync settings ({setting}).",
    )


def item_code_too_long(sku: str) -> PermanentError:
    return advice_error(
        "item_code_too_long",
        f"SKU '{sku}' has {len(sku)} characters; Xero item codes hold at most 30.",
        "Shorten the product's SKU to 30 characters or fewer in the POS, then sync it again.",
    )


def negative_shift_totals(payment_types: Iterable[str]) -> PermanentError:
    names = ", ".join(payment_types)
    return advice_error(
        "negative_payment_total",
        f"Negative shift total for payment type(s): {names}.",
        "Xero's API cannot record a negative payment, so this shift summary cannot be sent. "
        f"Record the {names} refund by hand in Xero (a spend-money transaction), or sync individual sales.",
    )


def reference_not_synced(entity_type: str, pos_id: str) -> PermanentError:
    # The engine holds back a record until what it refers to is in Xero, for every type this
    # connection syncs; a reference still unknown here is of a type it does not sync.
    what = entity_type.replace("_", " ")
    return advice_error(
        "reference_not_synced",
        f"This record refers to {what} {pos_id}, which this connection does not send to Xero.",
        f"Turn {what}s on in the Xero sync settings; this record is then tried again by itself.",
    )


# (pattern over Xero's message, code, advice). First match wins; {0} is the first group.
_ADVICE: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"contact name (.+?) is already assigned to another contact", re.I),
        "duplicate_contact_name",
        "Xero already has an active contact called '{0}'. Rename this record in the POS, rename or archive "
        "the other contact in Xero, or choose 'add POS id' for duplicate names in the Xero sync settings.",
    ),
    (
        re.compile(r"archived", re.I),
        "archived_in_xero",
        "Something this record uses is archived in Xero: {msg} Restore it in Xero, or pick another "
        "account in the Xero sync settings, then SYNC NOW.",
    ),
    (
        re.compile(r"TaxType code '?([A-Z0-9_]+)'? .*?(cannot be used|not valid|does not exist)", re.I),
        "tax_type_invalid",
        "Xero refuses tax type {0} here: check the tax rate → tax type mapping in the Xero sync settings "
        "(the tax type must exist and be allowed for the account it is used with).",
    ),
    (
        re.compile(
            r"Account code '?([^' ]+)'? is not a valid code|account code .*?(does not exist|is not valid)", re.I
        ),
        "account_code_invalid",
        "Xero has no usable account {0}: check the account codes in the Xero sync settings against "
        "Xero's chart of accounts.",
    ),
    (
        re.compile(r"(Invoice|Credit ?Note|PurchaseOrder) ?# must be unique|number .*already (exists|been used)", re.I),
        "duplicate_document_number",
        "Xero already has a document with this number. Change the invoice number prefix in the Xero "
        "sync settings, or remove the other document in Xero, then SYNC NOW.",
    ),
    (
        re.compile(r"(only|can only).*(authori[sz]ed)|not of valid status for (creation|modification)", re.I),
        "document_not_authorised",
        "Payments can only be added to an authorised invoice or credit note. Approve the document in Xero "
        "(or undo its void), then SYNC NOW.",
    ),
    (
        re.compile(r"cannot be edited as it has a payment|has been allocated|payment or credit note allocated", re.I),
        "document_has_payments",
        "Xero will not change an invoice that already has payments. Remove the payment in Xero, then "
        "SYNC NOW, or make the correction in Xero by hand.",
    ),
    (
        re.compile(r"exceeds the amount outstanding|overpay", re.I),
        "payment_exceeds_total",
        "The payments are larger than the document's total in Xero. Check the sale's payments and tax "
        "mapping (a different tax type changes the total), then SYNC NOW.",
    ),
    (
        re.compile(r"Item code '?([^']+?)'? is not valid|item .*does not exist", re.I),
        "item_not_in_xero",
        "Xero has no item {0}: sync the product again (SYNC NOW on the product), then this record.",
    ),
    (
        re.compile(r"code .*(too long|30 characters|exceeds)", re.I),
        "item_code_too_long",
        "Shorten the product's SKU to 30 characters or fewer in the POS, then sync it again.",
    ),
]

GENERIC_ADVICE = "Correct the record in the POS or the Xero sync settings, then SYNC NOW."


def element_error(messages: list[str], *, http_status: int | None = None) -> PermanentError:
    """One element's ValidationErrors as a PermanentError carrying the best advice found."""
    text = " ".join(m.strip() for m in messages if m) or "Xero refused this record."
    for pattern, code, advice in _ADVICE:
        match = pattern.search(text)
        if match:
            first = next((g for g in match.groups() if g), "") if match.groups() else ""
            return PermanentError(
                text, code=code, advice=advice.format(first, msg=text), http_status=http_status
            )
    return PermanentError(text, code="validation", advice=GENERIC_ADVICE, http_status=http_status)


def validation_messages(element: dict) -> list[str]:
    return [str(v.get("Message") or v.get("Description") or "") for v in element.get("ValidationErrors") or []]


def _retry_after(response: httpx.Response, default: float) -> float:
    raw = response.headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else default
    except ValueError:
        return default


def _request_id(response: httpx.Response) -> str | None:
    return response.headers.get("Xero-Correlation-Id") or response.headers.get("Request-Id")


def day_budget_spent(pause_s: float = DAY_PAUSE_S) -> ConnectionBroken:
    return ConnectionBroken(
        "Xero's daily call limit for this organisation is used up.",
        pause_s=pause_s,
        code="day_limit",
        advice="Xero allows 5,000 calls a day per organisation; syncing resumes by itself "
        f"in about {max(1, round(pause_s / 60))} min.",
        http_status=429,
    )


def from_response(response: httpx.Response) -> SyncError | None:
    """Classify a whole answer; None when its body should be read element by element."""
    status = response.status_code
    rid = _request_id(response)
    if 200 <= status < 300:
        return None
    if status == 429:
        problem = (response.headers.get("X-Rate-Limit-Problem") or "").lower()
        if problem == "day":
            spent = day_budget_spent(_retry_after(response, DAY_PAUSE_S))
            spent.request_id = rid
            return spent
        return RateLimited(
            f"Xero rate limit reached ({problem or 'unspecified'}).",
            retry_after_s=_retry_after(response, DEFAULT_RETRY_AFTER_S),
            http_status=429,
            request_id=rid,
        )
    if status in (401, 403):
        detail = _detail(response)
        message = f"Xero refused the credentials ({status}): {detail}".rstrip(": ")
        if "expired" in detail.lower():
            return TokenRefused(message, http_status=status, request_id=rid)
        return ConnectionBroken(
            message,
            advice="Reconnect Xero under Integrated Apps (the app was disconnected or lost access to this "
            "organisation).",
            http_status=status,
            request_id=rid,
        )
    if status in (400, 409, 422) and _key_reused(response):
        # One key with two bodies: our bug, never the records' fault (the adapter retries afresh).
        return TransientError(
            f"Xero refused a reused Idempotency-Key ({status}): {_detail(response)}",
            code=KEY_REUSED,
            http_status=status,
            request_id=rid,
        )
    if status in (408, 409, 423) or status >= 500:
        # 409: an earlier request with the same Idempotency-Key is still being processed.
        return TransientError(
            f"Xero is unavailable ({status}).",
            retry_after_s=_retry_after(response, 5.0) if "Retry-After" in response.headers else None,
            http_status=status,
            request_id=rid,
        )
    if status == 400 and _elements(response) is not None:
        return None
    return PermanentError(
        f"Xero refused the request ({status}): {_detail(response)}",
        code="validation",
        advice=GENERIC_ADVICE,
        http_status=status,
        request_id=rid,
    )


def _key_reused(response: httpx.Response) -> bool:
    detail = _detail(response).lower()
    return "idempotency" in detail and "reuse" in detail


def from_transport(exc: httpx.HTTPError) -> TransientError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return TransientError(f"Call to Xero {kind}: {type(exc).__name__}.", code="network")


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _elements(response: httpx.Response) -> list | None:
    elements = _json(response).get("Elements")
    return elements if isinstance(elements, list) else None


def _detail(response: httpx.Response) -> str:
    body = _json(response)
    return str(body.get("Detail") or body.get("Message") or body.get("Title") or response.text[:200])
