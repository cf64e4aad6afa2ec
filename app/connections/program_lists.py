"""The organisation's own lists (accounts, tax rates, payment methods) and settings checked against them.

A copy of each list is kept per connection (table `program_lists`) so a settings form and a save do
not call the program every time. A save is checked against the copy; when the copy refuses a value
it is fetched again once (the shop may just have added that account in the program), and only what
the fresh list refuses is refused. When the program cannot be reached and no copy exists, the
settings are saved unchecked: the records that use a wrong value fail with advice naming the setting,
as before this check existed.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select

from app.connectors.base import Connector, ListKind, ProgramEntry, PushContext, SettingRef
from app.connectors.errors import ConnectionBroken, SyncError, TokenRefused
from app.core.problem import Problem
from app.db import transaction
from app.models import Connection, ConnectionStatus, ProgramList
from app.models.base import utcnow
from app.connections.credentials import usable_credentials
from app.connections.access import ProgramAccess

log = structlog.get_logger(__name__)

NEEDS_ORGANISATION = (ConnectionStatus.AUTHORIZING, ConnectionStatus.CHOOSE_ORGANISATION)


def offers_lists(connector: Connector) -> bool:
    return callable(getattr(connector, "program_list", None))


def setting_refs(connector: Connector) -> tuple[SettingRef, ...]:
    return tuple(getattr(connector, "setting_refs", ()))


def refuse_if_reconnect(connection: Connection) -> None:
    if connection.status == ConnectionStatus.RECONNECT_REQUIRED:
        raise Problem(409, "This connection needs reconnecting: sign in to the program again "
                      f"(POST /v1/connections/{connection.id}/authorize) before changing its settings or "
                      "reading its lists.")


def reachable_or_problem(connection: Connection) -> None:
    """409 when the program cannot be asked through this connection as it stands."""
    refuse_if_reconnect(connection)
    if connection.status in NEEDS_ORGANISATION:
        raise Problem(409, "This connection has no organisation yet: finish signing in and choose one first.")


async def fetch(deps: ProgramAccess, connection: Connection, connector: Connector, kind: ListKind) -> list[ProgramEntry] | None:
    """Ask the program now (one refresh of a refused token, as a sync run would)."""
    limiter = deps.limits.for_organisation(f"{connector.name}:{connection.tenant_id or connection.id}",
                                           connector.rate_limits)
    credentials = await usable_credentials(deps, connector, connection)
    settings = connector.settings_model.model_validate(connection.settings or {})
    try:
        return await connector.program_list(PushContext(str(connection.id), settings, credentials, limiter), kind)
    except TokenRefused:
        credentials = await usable_credentials(deps, connector, connection,
                                               rejected_access_token=credentials.access_token)
        return await connector.program_list(PushContext(str(connection.id), settings, credentials, limiter), kind)


async def cached(deps: ProgramAccess, connection: Connection, kind: ListKind) -> ProgramList | None:
    async with deps.sessions() as session:
        return await session.get(ProgramList, (connection.id, kind))


async def refreshed(deps: ProgramAccess, connection: Connection, connector: Connector, kind: ListKind) -> ProgramList | None:
    """Fetch and keep a fresh copy; None when the program has no such list. Raises SyncError."""
    entries = await fetch(deps, connection, connector, kind)
    if entries is None:
        return None
    async with transaction(deps.sessions) as session:
        row = await session.get(ProgramList, (connection.id, kind), with_for_update=True)
        if row is None:
            row = ProgramList(connection_id=connection.id, kind=kind)
            session.add(row)
        row.items = [asdict(e) for e in entries]
        row.fetched_at = utcnow()
    return row


async def program_list(
    deps: ProgramAccess, connection: Connection, connector: Connector, kind: ListKind, *, refresh: bool
) -> ProgramList:
    """The copy, fetched first when there is none or `refresh` asks for it. Problems for the API."""
    if not offers_lists(connector):
        raise Problem(404, f"The {connector.title} connector offers no lists of the program.")
    reachable_or_problem(connection)
    row = None if refresh else await cached(deps, connection, kind)
    if row is not None:
        return row
    try:
        row = await refreshed(deps, connection, connector, kind)
    except ConnectionBroken as exc:
        raise Problem(409, f"{connector.title} refused this connection: {exc.message} Reconnect it.") from exc
    except SyncError as exc:
        raise Problem(503, f"{connector.title} could not be asked for its {kind.replace('_', ' ')} now: "
                      f"{exc.message} Try again later.", headers={"Retry-After": "60"}) from exc
    if row is None:
        raise Problem(404, f"{connector.title} has no {kind.replace('_', ' ')} list.")
    return row


def fills(connector: Connector, kind: str, entry: dict[str, Any]) -> list[str]:
    """The settings this entry may be chosen for."""
    return [ref.path for ref in setting_refs(connector)
            if ref.kind == kind and entry.get("active") and ref.allows in entry.get("uses", ())]


def named_values(settings: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """(concrete path, value) of each value a SettingRef path names in these settings."""
    found: list[tuple[str, Any]] = [("", settings)]
    for part in path.split("."):
        step: list[tuple[str, Any]] = []
        for prefix, value in found:
            if not isinstance(value, dict):
                continue
            if part == "*":
                step.extend((f"{prefix}{key}.", v) for key, v in value.items())
            elif value.get(part) is not None:
                step.append((f"{prefix}{part}.", value[part]))
        found = step
    return [(prefix.rstrip("."), str(value)) for prefix, value in found]


def refusals(connector: Connector, settings: dict[str, Any],
             lists: dict[str, list[dict[str, Any]]]) -> list[tuple[str, dict]]:
    """(list kind, error) per setting value the lists do not allow (only lists that are given are judged)."""
    errors = []
    for ref in setting_refs(connector):
        entries = lists.get(ref.kind)
        if not entries:
            continue  # not fetched, or an organisation listing nothing: nothing to judge by
        by_id = {e["id"]: e for e in entries}
        allowed = [e for e in entries if e.get("active") and ref.allows in e.get("uses", ())]
        shown = ", ".join(f"{e['id']} ({e['name']})" for e in allowed[:20]) or "none in this organisation"
        for path, value in named_values(settings, ref.path):
            entry = by_id.get(value)
            if entry is None:
                why, type_ = f"'{value}' does not exist in {connector.title}", "unknown_reference"
            elif not entry.get("active"):
                why, type_ = f"'{value}' ({entry['name']}) is archived or inactive in {connector.title}", "inactive"
            elif ref.allows not in entry.get("uses", ()):
                why, type_ = f"'{value}' ({entry['name']}, {entry['type']}) is not {ref.meaning}", "wrong_kind"
            else:
                continue
            errors.append((ref.kind, {"path": f"body.{path}", "message": f"{why}; must be {ref.meaning}. Allowed: {shown}.",
                           "type": type_, "value": value, "allowed": [e["id"] for e in allowed]}))
    return errors


async def check_settings(deps: ProgramAccess, connection: Connection, connector: Connector, settings: dict[str, Any]) -> bool:
    """Raise a 422 Problem for settings naming what the organisation does not allow.

    Returns False when nothing could be checked (the program could not be reached and no copy exists).
    """
    if not offers_lists(connector) or not setting_refs(connector) or connection.status in NEEDS_ORGANISATION:
        return True
    kinds = sorted({ref.kind for ref in setting_refs(connector)})
    lists: dict[str, list[dict[str, Any]]] = {}
    stale: list[str] = []
    for kind in kinds:
        row = await cached(deps, connection, kind)
        if row is None:
            stale.append(kind)
        else:
            lists[kind] = row.items
    errors = refusals(connector, settings, lists)
    # A refusal by an old copy may be an account added since: ask the program before refusing.
    stale += sorted({kind for kind, _ in errors} - set(stale))
    checked = True
    for kind in stale:
        try:
            row = await refreshed(deps, connection, connector, kind)
        except SyncError as exc:
            log.warning("program_list_unreachable", connector=connector.name, kind=kind, error=exc.code)
            checked = checked and kind in lists
            continue
        if row is not None:
            lists[kind] = row.items
    errors = [e for _, e in refusals(connector, settings, lists)]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more; see errors)" if len(errors) > 1 else ""
        raise Problem(422, f"Setting {first['path'].removeprefix('body.')}: {first['message']}{more}",
                      errors=errors)
    return checked


async def connection_lists_at(deps: ProgramAccess, connection: Connection) -> dict[str, datetime]:
    async with deps.sessions() as session:
        rows = await session.scalars(select(ProgramList).where(ProgramList.connection_id == connection.id))
        return {r.kind: r.fetched_at for r in rows}
