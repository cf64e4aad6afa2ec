"""Where the programs call back: POST /v1/webhooks/xero and /v1/webhooks/quickbooks.

The signature authenticates (no store key). Each event is stored once before the 200; the answer
never waits for processing (Xero wants it within 5 s, Intuit within 3 s).
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import BellDep, SessionDep, SettingsDep
from app.api.problems import PROBLEM_RESPONSES, problem_response
from app.webhooks.events import QUICKBOOKS, XERO, MalformedDelivery, ProgramEvent, read_quickbooks, read_xero
from app.webhooks.service import store_events
from app.webhooks.signature import is_signed, secrets_from
from app.workers.bell import Bell

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1/webhooks", tags=["Operations"])

_RESPONSES = {200: {"description": "Signed and stored (an empty body)"},
              **{c: PROBLEM_RESPONSES[c] for c in (400, 401, 413)}}
_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"description": "The program's delivery, exactly as it signed it."}}}}}


@router.post("/xero", summary="Xero's webhook deliveries (and its intent-to-receive check)",
             status_code=200, response_class=Response, responses=_RESPONSES, openapi_extra=_BODY)
async def xero(request: Request, settings: SettingsDep, session: SessionDep, bell: BellDep) -> Response:
    return await _receive(request, session, bell, provider=XERO, header="x-xero-signature",
                          secrets=settings.xero_webhook_keys, read=read_xero)


@router.post("/quickbooks", summary="Intuit's webhook deliveries (CloudEvents or eventNotifications)",
             status_code=200, response_class=Response, responses=_RESPONSES, openapi_extra=_BODY)
async def quickbooks(request: Request, settings: SettingsDep, session: SessionDep, bell: BellDep) -> Response:
    return await _receive(request, session, bell, provider=QUICKBOOKS, header="intuit-signature",
                          secrets=settings.quickbooks_webhook_tokens, read=read_quickbooks)


async def _receive(request: Request, session: AsyncSession, bell: Bell | None, *, provider: str, header: str, secrets: str | None,
                   read: Callable[[bytes], list[ProgramEvent]]) -> Response:
    raw = await request.body()  # the signature covers these exact bytes
    if not is_signed(raw, request.headers.get(header), secrets_from(secrets)):
        # Xero's intent-to-receive check sends wrongly signed deliveries and expects exactly this.
        log.info("webhook_refused", provider=provider, reason="signature")
        return problem_response(401, f"The {header} header is missing or is not the body's signature.")
    try:
        events = read(raw)
    except MalformedDelivery as exc:
        log.warning("webhook_malformed", provider=provider, error=str(exc), bytes=len(raw))
        return problem_response(400, str(exc))
    async with session.begin():
        fresh = await store_events(session=session, provider=provider, events=events)
    if bell is not None:
        for connection_id in sorted(fresh):
            await bell.ring_webhooks(connection_id)  # after the commit: the job sees the events
    return Response(status_code=200)
