"""Connecting a program with OAuth2: the signed single-use state, the callback, the organisation.

The browser that comes back to the callback carries no store key; the `state` parameter is what
authenticates it: sealed with the service's Fernet keys (so it cannot be forged), valid for ten
minutes, and naming a connection whose one-time nonce it must match.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import structlog
from sqlalchemy import select

from app.core.problem import Problem
from app.connections import service
from app.connectors.base import Credentials, OAuthConnector, Organisation
from app.connectors.errors import SyncError
from app.db import transaction
from app.models import Connection, ConnectionStatus, RunTrigger
from app.sync.credentials import seal_credentials
from app.sync.deps import SyncDeps

log = structlog.get_logger(__name__)
STATE_TTL_S = 600


def redirect_uri(deps: SyncDeps, connector_name: str) -> str:
    return f"{deps.settings.public_url.rstrip('/')}/v1/oauth/{connector_name}/callback"


def start(deps: SyncDeps, connection: Connection, connector: OAuthConnector) -> str:
    """Arm the connection for one callback; return where to send the shop's browser."""
    nonce = secrets.token_urlsafe(24)
    connection.oauth_nonce = nonce
    state = deps.secrets.seal({"connection_id": str(connection.id), "nonce": nonce})
    return connector.authorization_url(state=state, redirect_uri=redirect_uri(deps, connector.name))


@dataclass
class CallbackOutcome:
    connection: Connection
    error: str | None = None


async def complete(deps: SyncDeps, connector_name: str, params: dict[str, str]) -> CallbackOutcome:
    connector = deps.connectors.get(connector_name)
    if connector is None or not connector.needs_oauth:
        raise Problem(404, f"No OAuth connector '{connector_name}'.")
    connection = await _consume_state(deps, connector_name, params.get("state"))
    if params.get("error"):
        reason = f"{connector.title} did not grant access ({params['error']}). Connect again to retry."
        return CallbackOutcome(await _set_status(deps, connection.id, None, reason), error=params["error"])
    if not params.get("code"):
        raise Problem(400, "The callback carries no authorization code.")
    try:
        credentials = await connector.exchange_code(
            code=params["code"], redirect_uri=redirect_uri(deps, connector_name), callback_params=params
        )
        organisations = await connector.organisations(credentials)
    except SyncError as exc:
        log.warning("oauth_exchange_failed", connector=connector_name, error=exc.message)
        reason = f"{connector.title} refused the sign-in: {exc.message} Connect again to retry."
        return CallbackOutcome(await _set_status(deps, connection.id, None, reason), error="exchange_failed")
    return CallbackOutcome(await _bind(deps, connection.id, credentials, organisations))


async def choose_organisation(deps: SyncDeps, connection: Connection, tenant_id: str) -> Connection:
    offered = {o["id"]: o["name"] for o in connection.offered_organisations or []}
    if connection.status != ConnectionStatus.CHOOSE_ORGANISATION or tenant_id not in offered:
        raise Problem(
            422,
            "Choose one of the organisations offered when the program was connected.",
            errors=[{"path": "body.tenant_id", "message": f"one of: {', '.join(offered) or 'none offered'}",
                     "type": "enum"}],
        )
    async with transaction(deps.sessions) as session:
        fresh = await session.get(Connection, connection.id, with_for_update=True)
        fresh.tenant_id, fresh.tenant_name = tenant_id, offered[tenant_id]
        fresh.offered_organisations = None
        await service.activate(session=session, connection=fresh, connector=deps.connectors[fresh.connector])
    await deps.bell.ring(connection.id, trigger=RunTrigger.MANUAL)
    return fresh


def return_target(connection: Connection, error: str | None) -> str | None:
    if not connection.return_url:
        return None
    parts = urlsplit(connection.return_url)
    query = {"connection_id": str(connection.id), "status": connection.status}
    if error:
        query["error"] = error
    joined = "&".join(p for p in (parts.query, urlencode(query)) if p)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))


async def _consume_state(deps: SyncDeps, connector_name: str, state: str | None) -> Connection:
    expired = Problem(400, "This sign-in link has expired or was already used; start connecting again.")
    if not state:
        raise expired
    try:
        data = deps.secrets.open(state, ttl_s=STATE_TTL_S)
        connection_id = uuid.UUID(data["connection_id"])
        nonce = data["nonce"]
    except (ValueError, KeyError, TypeError) as exc:
        raise expired from exc
    async with transaction(deps.sessions) as session:
        connection = await session.scalar(
            select(Connection).where(Connection.id == connection_id).with_for_update()
        )
        if (
            connection is None
            or connection.connector != connector_name
            or connection.oauth_nonce is None
            or not secrets.compare_digest(connection.oauth_nonce, nonce)
        ):
            raise expired
        connection.oauth_nonce = None  # single use, spent before any call to the program
    return connection


async def _set_status(deps: SyncDeps, connection_id: uuid.UUID, status: str | None, reason: str) -> Connection:
    async with transaction(deps.sessions) as session:
        connection = await session.get(Connection, connection_id, with_for_update=True)
        if status:
            connection.status = status
        connection.status_reason = reason
    return connection


async def _bind(
    deps: SyncDeps, connection_id: uuid.UUID, credentials: Credentials, organisations: list[Organisation]
) -> Connection:
    rung = False
    async with transaction(deps.sessions) as session:
        connection = await session.get(Connection, connection_id, with_for_update=True)
        known = {o.id: o for o in organisations}
        if connection.tenant_id and connection.tenant_id in known:
            chosen = known[connection.tenant_id]  # a reconnect of the same organisation
        elif len(organisations) == 1 and not connection.tenant_id:
            chosen = organisations[0]
        else:
            chosen = None
        credentials.tenant_id = chosen.id if chosen else None
        connection.credentials_encrypted = seal_credentials(deps, credentials)
        if chosen is not None:
            connection.tenant_id, connection.tenant_name = chosen.id, chosen.name
            await service.activate(session=session, connection=connection,
                                   connector=deps.connectors[connection.connector])
            rung = True
        elif not organisations or connection.tenant_id:
            connection.status = ConnectionStatus.RECONNECT_REQUIRED
            connection.status_reason = (
                "The sign-in did not include the organisation this connection syncs with; connect again and "
                "choose it." if connection.tenant_id else "No organisation was authorised; connect again and pick one."
            )
        else:
            connection.status = ConnectionStatus.CHOOSE_ORGANISATION
            connection.status_reason = "Several organisations were authorised: choose one (PATCH tenant_id)."
            connection.offered_organisations = [{"id": o.id, "name": o.name} for o in organisations]
    if rung:
        await deps.bell.ring(connection.id, trigger=RunTrigger.MANUAL)
    return connection
