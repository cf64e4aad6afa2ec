"""Intuit's faults turned into the engine's classes, with advice a shop owner can act on.

A fault is `Fault.Error[]` ({Message, Detail, code, element}); it may come with HTTP 400, with
HTTP 200 (a whole call or one batch item), in lower case (`fault.error[]`, the 401 answers), or as
XML even though JSON was asked (a throttled call). `faults_of` reads all of these; `classify` picks
the class and advice from Intuit's error code, once, here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree import ElementTree

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

THROTTLE_RETRY_S = 60.0  # Intuit's advice when a throttled answer gives no Retry-After
RECONNECT = "Reconnect QuickBooks under Integrated Apps (the app lost access to this company)."
GENERIC_ADVICE = "Correct the record in the POS or the QuickBooks sync settings, then SYNC NOW."


@dataclass(frozen=True)
class Fault:
    code: str
    message: str
    detail: str = ""
    element: str = ""

    @property
    def text(self) -> str:
        return " ".join(p for p in (self.message, self.detail) if p).strip() or f"QuickBooks fault {self.code}"


class StaleObject(PermanentError):
    """Fault 5010: the SyncToken sent is not the object's current one (someone edited it)."""

    code = "stale_object"


def advice_error(code: str, message: str, advice: str, **kwargs) -> PermanentError:
    return PermanentError(message, code=code, advice=advice, **kwargs)


def _ci(body: dict, key: str):
    for k, v in body.items():
        if k.lower() == key.lower():
            return v
    return None


def faults_in(body: object) -> list[Fault]:
    """The faults of a parsed JSON object (a whole answer or one BatchItemResponse); [] if none."""
    if not isinstance(body, dict):
        return []
    fault = _ci(body, "Fault")
    if not isinstance(fault, dict):
        return []
    found = []
    for error in _ci(fault, "Error") or []:
        if isinstance(error, dict):
            code = str(_ci(error, "code") or "")
            message = str(_ci(error, "Message") or "")
            if not code:  # "message=AuthenticationFailed; errorCode=003200; statusCode=401"
                match = re.search(r"errorCode=0*(\d+)", message)
                code = match.group(1) if match else ""
            found.append(Fault(code.lstrip("0") or "0", message, str(_ci(error, "Detail") or ""),
                               str(_ci(error, "element") or "")))
    return found or [Fault("0", str(fault.get("type") or "Fault"))]


def faults_of(response: httpx.Response) -> list[Fault]:
    """The faults of an answer, JSON or XML."""
    text = response.text
    if text.lstrip().startswith("<"):
        return _xml_faults(text)
    try:
        return faults_in(response.json())
    except ValueError:
        return []


def _xml_faults(text: str) -> list[Fault]:
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return []
    found = []
    for error in root.iter():
        if error.tag.rsplit("}", 1)[-1] != "Error":
            continue
        parts = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in error}
        code = error.get("code") or ""
        found.append(Fault(code.lstrip("0") or "0", parts.get("Message", ""), parts.get("Detail", ""),
                           error.get("element") or ""))
    return found


def request_id(response: httpx.Response) -> str | None:
    return response.headers.get("intuit_tid")


def _retry_after(response: httpx.Response | None) -> float:
    raw = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(0.0, float(raw)) if raw is not None else THROTTLE_RETRY_S
    except ValueError:
        return THROTTLE_RETRY_S


def from_response(response: httpx.Response) -> SyncError | None:
    """Classify a whole answer; None when it is a success (a batch's items are read one by one)."""
    status = response.status_code
    rid = request_id(response)
    faults = faults_of(response) if status >= 300 or _may_be_fault(response) else []
    if status == 429 or any(f.code == "3001" for f in faults):
        return RateLimited(
            "QuickBooks rate limit reached (throttled).", retry_after_s=_retry_after(response),
            http_status=429, request_id=rid,
        )
    if 200 <= status < 300 and not faults:
        return None
    if status >= 500 or status in (408, 409, 423):
        return TransientError(f"QuickBooks is unavailable ({status}).", http_status=status, request_id=rid,
                              retry_after_s=_retry_after(response) if "Retry-After" in response.headers else None)
    if not faults:
        return PermanentError(f"QuickBooks refused the request ({status}).", advice=GENERIC_ADVICE,
                              http_status=status, request_id=rid)
    error = classify(faults, http_status=status)
    error.request_id = rid
    return error


def _may_be_fault(response: httpx.Response) -> bool:
    # A 200 whose body is a Fault (Intuit answers some refusals so); cheap check before parsing.
    head = response.content[:200].lower()
    return b'"fault"' in head or b"<fault" in head or b":fault" in head


def from_transport(exc: httpx.HTTPError) -> TransientError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return TransientError(f"Call to QuickBooks {kind}: {type(exc).__name__}.", code="network")


def classify(faults: list[Fault], *, http_status: int | None = None) -> SyncError:
    """The engine's class for a list of faults (the first one with known advice decides)."""
    text = " ".join(f.text for f in faults)
    codes = [f.code for f in faults]
    first = next((f for f in faults if f.code in _ADVICE), faults[0])
    kw = {"http_status": http_status}
    if "3200" in codes or http_status == 401:
        return TokenRefused(f"QuickBooks refused the access token: {text}", advice=RECONNECT, **kw)
    if "3100" in codes or http_status == 403:
        return ConnectionBroken(f"QuickBooks refused access to this company: {text}", advice=RECONNECT, **kw)
    if "6190" in codes:
        return ConnectionBroken(
            f"The QuickBooks subscription of this company has ended: {text}",
            code="subscription_ended",
            advice="The company's QuickBooks subscription has ended or its trial expired. Renew it in "
            "QuickBooks, then reconnect under Integrated Apps.",
            **kw,
        )
    if first.code == "5010":
        return StaleObject(text, advice="Someone changed this object in QuickBooks meanwhile; SYNC NOW sends "
                           "it again over the latest version.", **kw)
    if first.code in _ADVICE:
        code, advice = _ADVICE[first.code]
        return PermanentError(text, code=code, advice=advice(first), **kw)
    return PermanentError(text, code="validation", advice=f"QuickBooks says: {first.detail or first.message}. "
                          + GENERIC_ADVICE, **kw)


def _reference(fault: Fault) -> str:
    detail = fault.detail or fault.message
    match = re.search(r"(\w+) element id (\S+)", detail, re.I) or re.search(r"Invalid Reference Id ?:? ?(.*)", detail)
    if match and match.lastindex == 2:
        return f"{match.group(1)} {match.group(2)}"
    return (match.group(1).strip() if match else "") or fault.element or "a reference"


_ADVICE = {
    "6240": ("duplicate_name", lambda f: "QuickBooks already has a customer, vendor or employee with this display "
             "name (names are shared by all three). Rename this record in the POS, rename the other one in "
             "QuickBooks, or choose 'add POS id' for duplicate names in the QuickBooks sync settings."),
    "6140": ("duplicate_document_number", lambda f: "QuickBooks already has a transaction with this number. "
             "Change the document number prefix in the QuickBooks sync settings, or remove the other transaction "
             "in QuickBooks, then SYNC NOW."),
    "2500": ("invalid_reference", lambda f: f"QuickBooks does not know {_reference(f)}: check the account, "
             "payment method, tax code and item Ids in the QuickBooks sync settings (or sync the record this one "
             "refers to again), then SYNC NOW."),
    "610": ("object_inactive", lambda f: "Something this record uses is deleted or made inactive in QuickBooks: "
            f"{f.detail or f.message}. Make it active again in QuickBooks, or pick another in the QuickBooks sync "
            "settings, then SYNC NOW."),
    "6000": ("business_validation", lambda f: f"QuickBooks says: {f.detail or f.message}. Correct the record in "
             "the POS or the QuickBooks sync settings, then SYNC NOW."),
    "6210": ("closed_period", lambda f: "The transaction's date is in a closed accounting period in QuickBooks. "
             "Change the closing date in QuickBooks (Account and settings → Advanced), or enter it by hand."),
}


def doc_number_too_long(number: str, limit: int) -> PermanentError:
    return advice_error(
        "doc_number_too_long",
        f"Number '{number}' has {len(number)} characters; QuickBooks allows at most {limit}.",
        f"QuickBooks keeps at most {limit} characters as the document number, and cutting it could clash with "
        "another document. Use a shorter number in the POS, or a shorter prefix in the QuickBooks sync settings.",
    )


def missing_payment_mapping(payment_type: str) -> SettingMissing:
    return SettingMissing(
        f"Payment type '{payment_type}' has no QuickBooks account.",
        code="payment_type_unmapped", setting="payment_types", key=payment_type, pos_kind="payment_type",
        advice=f"Map payment type {payment_type} to a deposit account in payment_types of the QuickBooks sync settings.",
    )


def missing_custom_line_mapping(kind: str) -> SettingMissing:
    return SettingMissing(
        f"Custom line kind '{kind}' has no QuickBooks item.",
        code="custom_line_kind_unmapped", setting="custom_line_items", key=kind, pos_kind="custom_line_kind",
        advice=f"Map kind {kind} to an Item Id in custom_line_items of the QuickBooks sync settings (for a tip or "
        "a gift card sold: a Service item whose income account is a liability account).",
    )


def missing_tax_mapping(tax_rate: str) -> SettingMissing:
    return SettingMissing(
        f"Tax rate '{tax_rate}' has no QuickBooks tax code.",
        code="tax_rate_unmapped", setting="tax_codes", key=tax_rate, pos_kind="tax_rate",
        advice=f"Map tax rate {tax_rate} to a QuickBooks TaxCode Id in tax_codes of the QuickBooks sync settings.",
    )


def reference_not_synced(entity_type: str, pos_id: str) -> PermanentError:
    what = entity_type.replace("_", " ")
    return advice_error(
        "reference_not_synced",
        f"This record refers to {what} {pos_id}, which this connection does not send to QuickBooks.",
        f"Turn {what}s on in the QuickBooks sync settings; this record is then tried again by itself.",
    )
