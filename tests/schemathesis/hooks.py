"""Schemathesis hooks for possync: the two rules an OpenAPI schema cannot say.

- A cursor is opaque: only a next_cursor the API issued is one (any other value is a 422 by
  design), so generated requests leave `cursor` out; paging is covered by the test suite.
- In PUT /v1/{collection}/{pos_id} a body `id`, when given, must equal the URL's (else 422, as
  the design says), a rule across two parts of the request. Positive cases get the URL's id.
Negative cases (data meant to be refused) are left exactly as generated.
"""

from __future__ import annotations

import schemathesis


def _positive(case) -> bool:
    meta = getattr(case, "meta", None)
    generation = getattr(meta, "generation", None)
    mode = getattr(generation, "mode", None)
    return mode is None or str(getattr(mode, "value", mode)) == "positive"


@schemathesis.hook
def map_case(context, case):
    if not _positive(case):
        return case
    if isinstance(case.query, dict) and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    pos_id = (case.path_parameters or {}).get("pos_id")
    if case.method.upper() == "PUT" and pos_id and isinstance(case.body, dict) and "id" in case.body:
        case.body = {**case.body, "id": pos_id}
    return case
