"""Settings chosen from the organisation's own lists when a connection is made.

The connectors' default settings fit one demo company. Once the organisation is known, every
setting that names an account or a tax type and that this organisation would refuse is chosen
again from its own lists, by the kind of entry (account Type, tax type's rate and report type) and
words of its name, never by a code: an Australian organisation gets its GST types, its own bank
account for payments. A value the organisation accepts is kept (the shop's or the demo's alike).

POS values (payment types, tax rate names, custom-line kinds) are taken from the mappings already
in the settings and from the records the store has sent so far. What cannot be chosen is listed as
"needs a choice" on the connection: a mapping key is then left out, so the records that use it wait
with advice naming the setting (app.sync.setting_waits) until the shop saves it.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from sqlalchemy import select

from app.connections import program_lists
from app.connectors.base import Connector, SettingRef
from app.connectors.picks import Pick, words_of
from app.connectors.errors import SyncError
from app.db import transaction
from app.models import Connection, Record
from app.connections.access import ProgramAccess
from app.connections.settings_change import apply_settings
from app.sync.backfill_gate import locked_for_backfill

log = structlog.get_logger(__name__)

# The newest records of each type read for the POS values they carry (enough to meet every
# payment type and tax rate a shop uses; later ones wait on their mapping like any new value).
SCAN_RECORDS = 5000


def best(entries: list[dict[str, Any]], ref: SettingRef, pick: Pick) -> dict[str, Any] | None:
    """The entry that fits `pick` best among those the setting allows, or None."""
    def score(entry: dict[str, Any]) -> int:
        said = set(words_of(f"{entry['name']} {entry['id']}")) | {entry["id"].lower()}
        return sum(1 for w in pick.words if w in said or any(s.startswith(w) for s in said))

    fitting = []
    for entry in entries:
        if not (entry.get("active") and ref.allows in entry.get("uses", ())):
            continue
        if pick.types and entry["type"] not in pick.types:
            continue
        if pick.rate is not None and _rate(entry) != pick.rate:
            continue
        if pick.need_words and not score(entry):
            continue
        fitting.append(entry)
    rank = {t: i for i, t in enumerate(pick.types)}
    fitting.sort(key=lambda e: (-score(e), rank.get(e["type"], 0), e["id"]))
    return fitting[0] if fitting else None


def _rate(entry: dict[str, Any]) -> Decimal | None:
    try:
        return Decimal(str(entry["rate"])) if entry.get("rate") is not None else None
    except InvalidOperation:
        return None


def allowed(entries: list[dict[str, Any]], ref: SettingRef, value: Any) -> bool:
    return any(e["id"] == str(value) and e.get("active") and ref.allows in e.get("uses", ()) for e in entries)


def choose(connector: Connector, settings: dict[str, Any], lists: dict[str, list[dict[str, Any]]],
           seen: dict[str, set[str]]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(settings with what the organisation refuses chosen again, what needs the shop's choice).

    Only lists that were fetched and hold something are judged; mapping settings gain the POS
    values in `seen` (settings field → values).
    """
    picker = getattr(connector, "default_pick", None)
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in settings.items()}
    needs: list[dict[str, str]] = []
    for ref in program_lists.setting_refs(connector):
        entries = lists.get(ref.kind)
        if not entries or picker is None:
            continue
        field, _, rest = ref.path.partition(".")
        if not rest:
            value = _fitting(entries, ref, picker, field, None, out.get(field))
            if value is not None:
                out[field] = value
            else:
                needs.append({"setting": field, "reason": f"This organisation has no {ref.meaning} to choose for it."})
            continue
        mapping = out.get(field) or {}
        sub = rest.removeprefix("*.") if rest != "*" else None
        keys = set(mapping) if ref.optional else set(mapping) | seen.get(field, set())
        for key in sorted(keys):
            if sub is None:
                value = _fitting(entries, ref, picker, field, key, mapping.get(key))
                if value is not None:
                    mapping[key] = value
                    continue
            else:  # a key inside each mapping value (QuickBooks' payment_types.*.deposit_account)
                parts = dict(mapping.get(key) or {})
                value = _fitting(entries, ref, picker, f"{field}.{sub}", key, parts.get(sub))
                if value is not None or ref.optional:
                    mapping[key] = {**parts, sub: value}
                    continue
            mapping.pop(key, None)  # left out: a record that uses it waits with advice naming it
            if key in seen.get(field, set()) and not any(n["setting"] == f"{field}.{key}" for n in needs):
                needs.append({"setting": f"{field}.{key}",
                              "reason": f"Nothing of this organisation fits '{key}': choose {ref.meaning}."})
        out[field] = mapping
    # What a connector derives from the POS values alone (QuickBooks US: rates sent non-taxable).
    derive = getattr(connector, "settings_from_seen", None)
    return (derive(out, lists, seen) if derive else out), needs


def _fitting(entries: list[dict[str, Any]], ref: SettingRef, picker, field: str, key: str | None,
             current: Any) -> str | None:
    """The value the setting should hold: the current one when the organisation accepts it, else the
    entry that fits best; None when nothing fits."""
    if allowed(entries, ref, current):
        return str(current)
    pick = picker(field, key)
    chosen = best(entries, ref, pick) if pick else None
    return chosen["id"] if chosen is not None else None


def values_in(payload: dict[str, Any]) -> dict[str, set[str]]:
    """The POS values one record carries, by what they are."""
    found: dict[str, set[str]] = {"payment_type": set(), "tax_rate": set(), "custom_line_kind": set()}
    if payload.get("tax_rate"):
        found["tax_rate"].add(str(payload["tax_rate"]))
    for key, into in (("payments", "payment_type"), ("totals_by_payment_type", "payment_type")):
        found[into] |= {str(p["payment_type"]) for p in payload.get(key) or [] if p.get("payment_type")}
    for key in ("lines", "custom_lines", "totals_by_tax_rate"):
        found["tax_rate"] |= {str(line["tax_rate"]) for line in payload.get(key) or [] if line.get("tax_rate")}
    found["custom_line_kind"] |= {str(c["kind"]) for c in payload.get("custom_lines") or [] if c.get("kind")}
    return found


async def seen_values(deps: ProgramAccess, connector: Connector, store_id: uuid.UUID) -> dict[str, set[str]]:
    """Settings field → the POS values the store's records carry for it."""
    kinds: dict[str, set[str]] = {"payment_type": set(), "tax_rate": set(), "custom_line_kind": set()}
    async with deps.sessions() as session:
        for entity_type in ("product", "purchase_order", "sale", "shift_report"):
            payloads = await session.scalars(
                select(Record.payload)
                .where(Record.store_id == store_id, Record.entity_type == entity_type, Record.deleted_at.is_(None))
                .order_by(Record.id.desc()).limit(SCAN_RECORDS))
            for payload in payloads:
                for kind, values in values_in(payload).items():
                    kinds[kind] |= values
    return {field: kinds.get(kind, set()) for field, kind in getattr(connector, "pos_mappings", {}).items()}


async def choose_at_connect(deps: ProgramAccess, connector: Connector, connection_id: uuid.UUID) -> None:
    """Choose the settings this organisation refuses from its own lists; keep what cannot be chosen
    on the connection as "needs a choice". Nothing changes when the program cannot be asked."""
    async with deps.sessions() as session:
        connection = await session.get(Connection, connection_id)
    if connection is None or not program_lists.offers_lists(connector) or not hasattr(connector, "default_pick"):
        return
    lists: dict[str, list[dict[str, Any]]] = {}
    for kind in sorted({ref.kind for ref in program_lists.setting_refs(connector)}):
        try:
            row = await program_lists.refreshed(deps, connection, connector, kind)
        except SyncError as exc:
            log.warning("defaults_not_chosen", connection_id=str(connection_id), kind=kind, error=exc.code)
            return
        if row is not None:
            lists[kind] = row.items
    seen = await seen_values(deps, connector, connection.store_id)
    async with transaction(deps.sessions) as session:
        fresh = await locked_for_backfill(session, connection_id)
        wanted, needs = choose(connector, fresh.settings or {}, lists, seen)
        if wanted != (fresh.settings or {}):
            await apply_settings(session, fresh, connector, wanted)
        fresh.needs_choice = needs
    log.info("defaults_chosen", connection_id=str(connection_id), needs_choice=len(needs))
