"""Records that wait for a setting: a POS payment type, tax rate or custom-line kind nobody mapped yet.

The connector refuses such a record with `SettingMissing`; the engine marks its link failed (red,
with advice naming the setting) and remembers on the link what it waits for, as
`setting:<settings field>:<POS value>` in `waiting_for`. Saving settings that map that value wakes
exactly those links; `GET /v1/connections/{id}/unmapped` counts them per value.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Link, LinkState
from app.sync.wake import wake_waiting

PREFIX = "setting:"
# Top-level settings that only add or change what one POS value maps to; a change of nothing else
# need not send every failed record again (see app.sync.settings_change).
HISTORY_FIELDS = ("mode_history", "effective_from")


def setting_key(setting: str, key: str) -> str:
    # Settings field names never hold a colon, so the POS value is everything after the second one.
    return f"{PREFIX}{setting}:{key}"


def parse_key(wait: str) -> tuple[str, str] | None:
    if not wait.startswith(PREFIX):
        return None
    setting, _, key = wait[len(PREFIX):].partition(":")
    return setting, key


def waited_setting(state: str | None, waiting_for: str | None) -> str | None:
    """The setting a failed link waits for ("payment_types.Store credit"), else None: what the API shows
    as `waits_for`, telling a record that waits for the shop's choice from one the program refused."""
    if state != LinkState.FAILED or not waiting_for or not (parsed := parse_key(waiting_for)):
        return None
    return f"{parsed[0]}.{parsed[1]}"


def first_waited(links: list[tuple[str, str | None]]) -> str | None:
    """A record's `waits_for` from its connections' (state, waits_for): set when it is failed only
    because of settings (every failed link waits for one), so the shop knows saving it is enough."""
    failed = [waits for state, waits in links if state == LinkState.FAILED]
    return failed[0] if failed and all(failed) else None


def is_mapped(settings: dict[str, Any], setting: str, key: str) -> bool:
    mapping = settings.get(setting)
    return isinstance(mapping, dict) and bool(mapping.get(key))


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {k for k in before.keys() | after.keys() if k not in HISTORY_FIELDS and before.get(k) != after.get(k)}


def changed_values(before: dict[str, Any], after: dict[str, Any], fields: set[str]) -> bool:
    """Whether a mapping value that existed before was changed or removed (not only keys added)."""
    for name in fields:
        old, new = before.get(name) or {}, after.get(name) or {}
        if any(key in old and new.get(key) != value for key, value in old.items()):
            return True
    return False


async def wake_mapped(session: AsyncSession, connection_id: uuid.UUID, settings: dict[str, Any]) -> int:
    """Make due the links of this connection that waited for a value these settings now map."""
    waits = (await session.scalars(
        select(Link.waiting_for).distinct().where(
            Link.connection_id == connection_id, Link.waiting_for.startswith(PREFIX),
            Link.state.in_([LinkState.FAILED, LinkState.PENDING]))
    )).all()
    keys = [w for w in waits if (parsed := parse_key(w)) and is_mapped(settings, *parsed)]
    if not keys:
        return 0
    count = await session.scalar(select(func.count()).select_from(Link).where(
        Link.connection_id == connection_id, Link.waiting_for.in_(keys),
        Link.state.in_([LinkState.FAILED, LinkState.PENDING])))
    await wake_waiting(session, [connection_id], keys)
    return count or 0


@dataclass(frozen=True)
class Waiting:
    setting: str
    key: str
    entity_type: str
    records: int


async def waiting_records(session: AsyncSession, connection_id: uuid.UUID) -> list[Waiting]:
    """How many records of each type wait on each unmapped value, most first."""
    rows = await session.execute(
        select(Link.waiting_for, Link.entity_type, func.count())
        .where(Link.connection_id == connection_id, Link.waiting_for.startswith(PREFIX),
               Link.state == LinkState.FAILED)
        .group_by(Link.waiting_for, Link.entity_type)
    )
    found = []
    for wait, entity_type, count in rows.all():
        setting, key = parse_key(wait) or ("", "")
        found.append(Waiting(setting, key, entity_type, count))
    return sorted(found, key=lambda w: (-w.records, w.setting, w.key, w.entity_type))


def open_choices(needs: list[dict[str, str]] | None, changed: set[str],
                 settings: dict[str, Any]) -> list[dict[str, str]] | None:
    """What still needs the shop's choice after a save: a setting goes once it was changed, a
    mapping key once it is mapped."""
    if not needs:
        return needs
    left = []
    for need in needs:
        field, _, key = need["setting"].partition(".")
        done = is_mapped(settings, field, key) if key else field in changed
        if not done:
            left.append(need)
    return left
