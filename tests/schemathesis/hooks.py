"""Schemathesis hooks for possync: the rules an OpenAPI schema cannot say.

- A cursor is opaque: only a next_cursor the API issued is one (any other value is a 422 by
  design), so generated requests leave `cursor` out; paging is covered by the test suite.
- In PUT /v1/{collection}/{pos_id} a body `id`, when given, must equal the URL's (else 422, as
  the design says), a rule across two parts of the request. Positive cases get the URL's id.
- A sale's amounts must hold together (lines, discounts, custom lines and cash rounding add up to
  `total`; line tax amounts to `tax_total`; payments not above the total unless change was given;
  at least one line or custom line): rules across fields, each checked by tests/books. Positive
  cases leave out `total`, `tax_total` and the payments, and get one custom line when they have
  no line at all.
- A sync schedule's `time_zone` must be an IANA zone and its mode's own field given (a list no
  schema holds): positive cases get the default schedule. A resync's `to` must come after its
  `from`, within a year: positive cases get one day.
- A settings change's `effective_from` must be in the future and come with a change of the sales
  mode or of the sale / shift report types (tests/books cover it): positive cases leave it out.
Negative cases (data meant to be refused) keep their cursor; a body id is only aligned when it is
itself a valid id, so whatever makes a negative case invalid stays.
"""

from __future__ import annotations

import re

import schemathesis

POS_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")


def _positive(case) -> bool:
    meta = getattr(case, "meta", None)
    generation = getattr(meta, "generation", None)
    mode = getattr(generation, "mode", None)
    return mode is None or str(getattr(mode, "value", mode)) == "positive"


def _balanced_sale(body: dict) -> dict:
    body = {k: v for k, v in body.items() if k not in ("total", "tax_total")}
    body["payments"] = []
    if not body.get("lines") and not body.get("custom_lines"):
        body["custom_lines"] = [{"kind": "other", "amount": "1.00"}]
    return body


def _default_schedules(value):
    if isinstance(value, dict):
        return {k: ({"mode": "on_change"} if k == "schedule" and isinstance(v, dict) else _default_schedules(v))
                for k, v in value.items()}
    return value


@schemathesis.hook
def map_case(context, case):
    pos_id = (case.path_parameters or {}).get("pos_id")
    body_id = case.body.get("id") if isinstance(case.body, dict) else None
    if case.method.upper() == "PUT" and isinstance(pos_id, str) and isinstance(body_id, str) and POS_ID.match(body_id):
        case.body = {**case.body, "id": pos_id}
    if _positive(case) and isinstance(case.query, dict) and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    if _positive(case) and isinstance(case.body, dict):
        case.body = _default_schedules(case.body)
    if _positive(case) and case.path.endswith("/resync") and isinstance(case.body, dict):
        case.body = {**case.body, "from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}
    if _positive(case) and case.path.endswith(("/settings", "/settings/preview")) and isinstance(case.body, dict):
        case.body = {k: v for k, v in case.body.items() if k != "effective_from"}
    if _positive(case) and case.path.startswith("/v1/sales") and isinstance(case.body, dict):
        if case.method.upper() == "PUT":
            case.body = _balanced_sale(case.body)
        elif isinstance(case.body.get("items"), list):
            case.body = {**case.body, "items": [_balanced_sale(i) if isinstance(i, dict) else i
                                                for i in case.body["items"]]}
    return case
