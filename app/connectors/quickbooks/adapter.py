"""HTTP to QuickBooks Online's Accounting API, and nothing else: no mapping, no decisions about records.

Every call carries `minorversion=75` (Intuit ignores 1–74 since August 2025) and asks for JSON;
every write carries a `requestid` derived from its body, so a retried call is the same call to
Intuit. Every call goes through `ctx.limiter.slot()` (batch calls also spend the "batch" bucket),
and every failure leaves as one of the engine's SyncError classes with Intuit's `intuit_tid`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from app.connectors.base import PushContext
from app.connectors.errors import ConnectionBroken, TransientError
from app.connectors.quickbooks import errors

MINOR_VERSION = "75"
MAX_BATCH = 30  # operations per batch call
QUERY_PAGE = 1000  # the most objects QuickBooks answers to one query
BATCH_REQUEST_ID_MAX = 36
REQUEST_ID_MAX = 50


def request_id(scope: str, body: Any) -> str:
    """Same body → same id (a UUID's 36 characters: short enough for a batch, ≤ 36)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{scope}\n{canonical}".encode()).digest()
    rid = str(uuid.UUID(bytes=digest[:16]))
    assert len(rid) <= BATCH_REQUEST_ID_MAX
    return rid


def batch_request_id(realm: str, operations: list[dict[str, Any]]) -> str:
    """The requestid `QuickBooksApi.batch` sends these operations under."""
    return request_id(realm, {"BatchItemRequest": operations})


@dataclass(frozen=True)
class BatchAnswer:
    items: list[dict[str, Any]]  # BatchItemResponse entries
    intuit_tid: str | None


class QuickBooksApi:
    def __init__(self, base_url: str, *, timeout_s: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "possync"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def batch(self, ctx: PushContext, operations: list[dict[str, Any]]) -> BatchAnswer:
        """Up to 30 operations in one call; each answer carries its operation's bId.

        A TransientError carries the requestid the call went under as `call_key`."""
        if not 0 < len(operations) <= MAX_BATCH:
            raise ValueError(f"send 1 to {MAX_BATCH} operations per batch, not {len(operations)}")
        realm = _realm(ctx)
        rid = batch_request_id(realm, operations)
        try:
            response = await self._request(
                ctx, "POST", f"/v3/company/{realm}/batch", "batch",
                params={"requestid": rid}, json={"BatchItemRequest": operations},
            )
            items = _body(response).get("BatchItemResponse")
            if not isinstance(items, list):
                raise TransientError("QuickBooks answered the batch without BatchItemResponse.",
                                     http_status=response.status_code, request_id=errors.request_id(response))
        except TransientError as exc:
            exc.call_key = rid
            raise
        return BatchAnswer(items, errors.request_id(response))

    async def query(self, ctx: PushContext, entity: str, where: str) -> list[dict[str, Any]]:
        """`select * from {entity} where {where}`: the matching objects (up to 1,000)."""
        statement = f"select * from {entity} where {where} maxresults 1000"
        response = await self._request(ctx, "GET", f"/v3/company/{_realm(ctx)}/query", params={"query": statement})
        found = (_body(response).get("QueryResponse") or {}).get(entity)
        return found if isinstance(found, list) else []

    async def query_all(self, ctx: PushContext, entity: str, where: str) -> list[dict[str, Any]]:
        """Every matching object, a page of 1,000 at a time (STARTPOSITION counts from 1): a company's
        items include every product synced to it, which may be far more than one page."""
        found: list[dict[str, Any]] = []
        while True:
            statement = f"select * from {entity} where {where} startposition {len(found) + 1} maxresults {QUERY_PAGE}"
            response = await self._request(ctx, "GET", f"/v3/company/{_realm(ctx)}/query", params={"query": statement})
            page = (_body(response).get("QueryResponse") or {}).get(entity)
            page = page if isinstance(page, list) else []
            found += page
            if len(page) < QUERY_PAGE:
                return found

    async def cdc(self, ctx: PushContext, entities: list[str], since: datetime) -> list[dict[str, Any]]:
        """Change Data Capture: the CDCResponse blocks of what changed after `since` (≤ 30 days back)."""
        params = {"entities": ",".join(entities), "changedSince": since.isoformat(timespec="seconds")}
        response = await self._request(ctx, "GET", f"/v3/company/{_realm(ctx)}/cdc", params=params)
        blocks = _body(response).get("CDCResponse")
        return blocks if isinstance(blocks, list) else []

    async def preferences(self, ctx: PushContext) -> dict[str, Any]:
        response = await self._request(ctx, "GET", f"/v3/company/{_realm(ctx)}/preferences")
        return _body(response).get("Preferences") or {}

    async def company_name(self, access_token: str, realm: str) -> str | None:
        try:
            response = await self._client.get(
                f"/v3/company/{realm}/companyinfo/{realm}",
                params={"minorversion": MINOR_VERSION},
                headers={"Authorization": f"Bearer {access_token}"},
            )
        except httpx.HTTPError as exc:
            raise errors.from_transport(exc) from exc
        problem = errors.from_response(response)
        if problem is not None:
            raise problem
        return (_body(response).get("CompanyInfo") or {}).get("CompanyName")

    async def _request(self, ctx: PushContext, method: str, path: str, *buckets: str, **kwargs: Any) -> httpx.Response:
        params = {**kwargs.pop("params", {}), "minorversion": MINOR_VERSION}
        headers = {"Authorization": f"Bearer {_token(ctx)}"}
        try:
            async with ctx.limiter.slot(*buckets):
                response = await self._client.request(method, path, params=params, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise errors.from_transport(exc) from exc
        problem = errors.from_response(response)
        if problem is not None:
            raise problem
        return response


def quoted(value: str) -> str:
    """A string literal of Intuit's query language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _realm(ctx: PushContext) -> str:
    realm = ctx.credentials.tenant_id
    if not realm:
        raise ConnectionBroken("The QuickBooks connection has no company (realmId).",
                               advice="Finish connecting QuickBooks under Integrated Apps.")
    return realm


def _token(ctx: PushContext) -> str:
    if not ctx.credentials.access_token:
        raise ConnectionBroken("The QuickBooks connection has no access token.",
                               advice="Finish connecting QuickBooks under Integrated Apps.")
    return ctx.credentials.access_token


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise TransientError(f"QuickBooks answered {response.status_code} with a body that is not JSON.",
                             http_status=response.status_code, request_id=errors.request_id(response)) from exc
    return body if isinstance(body, dict) else {}
