"""Connecting a program with OAuth2: the signed single-use state, the callback, the organisation.

The browser that comes back to the callback carries no store key; the `state` parameter is what
authenticates it: sealed with the service's Fernet keys (so it cannot be forged), valid for ten
minutes, and naming a connection whose one-time nonce it must match. The state is also bound to
the browser that started the flow: the URL handed to the POS is possync's own start route, which
sets a short-lived HttpOnly cookie derived from the state before sending the browser to the
program; a callback without that cookie is refused. Where the program supports PKCE (S256) the
code verifier travels inside the sealed state and never appears in a URL.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import structlog
from sqlalchemy import update

from app.core.problem import Problem
from app.connections import defaults, service
from app.connectors.base import Credentials, OAuthConnector, Organisation
from app.connectors.errors import SyncError
from app.core.secrets import SecretBox
from app.db import transaction
from app.settings import Settings, origin_of
from app.models import Connection, ConnectionStatus, RunTrigger
from app.connections.credentials import seal_credentials
from app.connections.access import ProgramAccess
from app.sync.backfill_gate import locked_for_backfill
from app.workers.bell import Bell

log = structlog.get_logger(__name__)
STATE_TTL_S = 600
COOKIE_NAME = "possync_oauth"


def redirect_uri(settings: Settings, connector_name: str) -> str:
    return f"{settings.public_url.rstrip('/')}/v1/oauth/{connector_name}/callback"


def start_uri(settings: Settings, connector_name: str, state: str) -> str:
    return f"{settings.public_url.rstrip('/')}/v1/oauth/{connector_name}/start?{urlencode({'state': state})}"


def start(settings: Settings, box: SecretBox, connection: Connection, connector: OAuthConnector) -> str:
    """Arm the connection for one callback; return where to send the shop's browser (our start route)."""
    nonce = secrets.token_urlsafe(24)
    connection.oauth_nonce = nonce
    sealed = {"connection_id": str(connection.id), "nonce": nonce}
    if getattr(connector, "supports_pkce", False):
        sealed["verifier"] = secrets.token_urlsafe(48)  # 64 characters, RFC 7636's 43..128
    return start_uri(settings, connector.name, box.seal(sealed))


def browser_binding(state: str) -> str:
    """The cookie value that ties a state to the browser the start route saw."""
    return hashlib.sha256(f"possync-oauth-browser:{state}".encode()).hexdigest()


def code_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


async def program_url(deps: ProgramAccess, settings: Settings, connector: OAuthConnector, state: str | None) -> str:
    """Where the start route sends the browser: the program's consent page for a live state."""
    data = _open_state(deps.secrets, state)
    async with deps.sessions() as session:
        connection = await session.get(Connection, data["connection_id"])
    if (connection is None or connection.connector != connector.name or connection.oauth_nonce is None
            or not secrets.compare_digest(connection.oauth_nonce, data["nonce"])):
        raise _expired()
    extra = {"code_verifier": data["verifier"]} if data.get("verifier") else {}
    return connector.authorization_url(state=state, redirect_uri=redirect_uri(settings, connector.name), **extra)


@dataclass
class CallbackOutcome:
    connection: Connection
    error: str | None = None


async def complete(deps: ProgramAccess, settings: Settings, connector: OAuthConnector, bell: Bell,
                   params: dict[str, str], cookie: str | None) -> CallbackOutcome:
    connector_name = connector.name
    state = params.get("state")
    # Checked before the state is spent: a callback from another browser must not burn it either.
    if not state or not cookie or not secrets.compare_digest(cookie, browser_binding(state)):
        raise Problem(400, "This sign-in was not started in this browser: open the link possync gave the POS "
                           "(it starts with /v1/oauth/…/start) and approve from there.")
    connection, verifier = await _consume_state(deps, connector_name, state)
    if params.get("error"):
        reason = f"{connector.title} did not grant access ({params['error']}). Connect again to retry."
        return CallbackOutcome(await _set_status(deps, connection.id, None, reason), error=params["error"])
    if not params.get("code"):
        raise Problem(400, "The callback carries no authorization code.")
    try:
        extra = {"code_verifier": verifier} if verifier else {}
        credentials = await connector.exchange_code(
            code=params["code"], redirect_uri=redirect_uri(settings, connector_name), callback_params=params, **extra
        )
        organisations = await connector.organisations(credentials)
    except SyncError as exc:
        log.warning("oauth_exchange_failed", connector=connector_name, error=exc.message)
        reason = f"{connector.title} refused the sign-in: {exc.message} Connect again to retry."
        return CallbackOutcome(await _set_status(deps, connection.id, None, reason), error="exchange_failed")
    return CallbackOutcome(await _bind(deps, connector, bell, connection.id, credentials, organisations))


async def choose_organisation(deps: ProgramAccess, connector: OAuthConnector, bell: Bell, connection: Connection,
                              tenant_id: str) -> Connection:
    offered = {o["id"]: o["name"] for o in connection.offered_organisations or []}
    if connection.status != ConnectionStatus.CHOOSE_ORGANISATION:
        raise Problem(409, "This connection has no organisation to choose (it is "
                           f"{connection.status}); connect again to be offered one.")
    if tenant_id not in offered:
        raise Problem(
            422,
            "Choose one of the organisations offered when the program was connected.",
            errors=[{"path": "body.tenant_id", "message": f"one of: {', '.join(offered) or 'none offered'}",
                     "type": "enum"}],
        )
    async with transaction(deps.sessions) as session:
        fresh = await locked_for_backfill(session, connection.id)
        fresh.tenant_id, fresh.tenant_name = tenant_id, offered[tenant_id]
        fresh.offered_organisations = None
        await service.activate(session=session, connection=fresh, connector=connector)
    await defaults.choose_at_connect(deps, connector, connection.id)
    await bell.ring(connection.id, trigger=RunTrigger.MANUAL)
    async with deps.sessions() as session:
        return await session.get(Connection, connection.id)


def checked_return_url(settings, url: str | None) -> str | None:
    """The return_url if it may be used: one of the allowed origins, no user name or password."""
    if url is None:
        return None
    parts = urlsplit(url)
    allowed = settings.return_url_origin_set
    origin = origin_of(url)
    problem = None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        problem = "must not carry a user name or password"
    elif origin not in allowed:
        problem = f"must start with one of: {', '.join(sorted(allowed))}"
    if problem:
        raise Problem(422, f"The return_url {problem} (POSSYNC_RETURN_URL_ORIGINS).",
                      errors=[{"path": "body.return_url", "message": problem, "type": "return_url"}])
    return url


def return_target(connection: Connection, error: str | None) -> str | None:
    if not connection.return_url:
        return None
    parts = urlsplit(connection.return_url)
    query = {"connection_id": str(connection.id), "status": connection.status}
    if error:
        query["error"] = error
    joined = "&".join(p for p in (parts.query, urlencode(query)) if p)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))


def _expired() -> Problem:
    return Problem(400, "This sign-in link has expired or was already used; start connecting again.")


def _open_state(box: SecretBox, state: str | None) -> dict:
    if not state:
        raise _expired()
    try:
        data = box.open(state, ttl_s=STATE_TTL_S)
        return {"connection_id": uuid.UUID(data["connection_id"]), "nonce": str(data["nonce"]),
                "verifier": data.get("verifier")}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _expired() from exc


async def _consume_state(deps: ProgramAccess, connector_name: str, state: str | None) -> tuple[Connection, str | None]:
    data = _open_state(deps.secrets, state)
    # One conditional UPDATE spends the nonce: of any number of concurrent callbacks exactly one
    # sees a row change, on PostgreSQL and on SQLite alike (no reliance on FOR UPDATE).
    async with transaction(deps.sessions) as session:
        spent = await session.execute(
            update(Connection)
            .where(Connection.id == data["connection_id"], Connection.connector == connector_name,
                   Connection.oauth_nonce == data["nonce"])
            .values(oauth_nonce=None)
            .execution_options(synchronize_session=False)
        )
        if spent.rowcount != 1:
            raise _expired()
        connection = await session.get(Connection, data["connection_id"], populate_existing=True)
    return connection, data["verifier"]


async def _set_status(deps: ProgramAccess, connection_id: uuid.UUID, status: str | None, reason: str) -> Connection:
    async with transaction(deps.sessions) as session:
        connection = await session.get(Connection, connection_id, with_for_update=True)
        if status:
            connection.status = status
        connection.status_reason = reason
    return connection


async def _bind(
    deps: ProgramAccess, connector: OAuthConnector, bell: Bell, connection_id: uuid.UUID, credentials: Credentials,
    organisations: list[Organisation],
) -> Connection:
    rung = False
    async with transaction(deps.sessions) as session:
        connection = await locked_for_backfill(session, connection_id)
        known = {o.id: o for o in organisations}
        if connection.tenant_id and connection.tenant_id in known:
            chosen = known[connection.tenant_id]  # a reconnect of the same organisation
        elif len(organisations) == 1 and not connection.tenant_id:
            chosen = organisations[0]
        else:
            chosen = None
        credentials.tenant_id = chosen.id if chosen else None
        connection.credentials_encrypted = seal_credentials(deps.secrets, credentials)
        if chosen is not None:
            connection.tenant_id, connection.tenant_name = chosen.id, chosen.name
            await service.activate(session=session, connection=connection, connector=connector)
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
        await defaults.choose_at_connect(deps, connector, connection.id)
        await bell.ring(connection.id, trigger=RunTrigger.MANUAL)
        async with deps.sessions() as session:
            connection = await session.get(Connection, connection.id)
    return connection
