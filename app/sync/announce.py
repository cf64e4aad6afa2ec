"""Before a create call leaves, its links learn which call it is.

A job that dies mid-call (SIGKILL, a lost machine) never writes its outcomes, and the program may
have done the work. So a connector announces each call that may create objects just before sending
it, and the engine writes the call's key on the links (the same rule as for an answer lost in the
call, see `vouched`). Whoever claims the links after the lease ran out then reads what the dead
holder may have sent: that very call again needs no look-up while the program remembers its key;
a link that was never announced was never sent.

The announce also fences the call: it writes only while this job's claim token still holds the
links, and a job whose lease ran out and was claimed by another learns it here, before calling.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import transaction
from app.models import Link, LinkState
from app.models.base import utcnow
from app.sync.claim import Claimed

log = structlog.get_logger(__name__)


class LeaseLost(Exception):
    """Another job holds these links now (this job's lease ran out): it must not call for them."""


def vouched(claimed: Claimed, key: str, *, looked_up: bool, sent_at: datetime) -> tuple[str | None, datetime]:
    """(lost_call_key, first_unanswered_at) of a link whose record goes, or went unanswered, in call `key`.

    The key vouches for the record only while it names the one call an object of this content can
    have come from: the first unanswered try, the same call sent again (its first time is kept), or
    a call sent after this push's look-up found nothing. Otherwise an earlier lost call under another
    key may have created the object, and the next try looks it up."""
    if claimed.lost_call_key == key and claimed.first_unanswered_at is not None:
        return key, claimed.first_unanswered_at
    first_try = claimed.retries == 0 and claimed.first_unanswered_at is None
    if first_try or looked_up:
        return key, sent_at
    return None, claimed.first_unanswered_at or sent_at


async def announce(sessions: async_sessionmaker[AsyncSession], claims: Mapping[int, Claimed], call_key: str,
                   item_keys: Sequence[int], looked_up: Collection[int]) -> None:
    """Write on these links that their records are about to go in call `call_key`; LeaseLost if
    any of them is no longer held by the claim this job made."""
    now = utcnow()
    groups: dict[tuple[str | None, datetime, str], list[int]] = {}
    for link_id in item_keys:
        c = claims[link_id]
        kept = vouched(c, call_key, looked_up=link_id in looked_up, sent_at=now)
        groups.setdefault((*kept, c.claim_token), []).append(link_id)
    async with transaction(sessions) as session:
        held = 0
        for (key, since, token), ids in groups.items():
            result = await session.execute(
                update(Link)
                .where(Link.id.in_(ids), Link.claim_token == token, Link.state == LinkState.PENDING)
                .values(lost_call_key=key, first_unanswered_at=since)
                .execution_options(synchronize_session=False)
            )
            held += result.rowcount
        if held != len(item_keys):
            log.warning("lease_lost_before_call", links=len(item_keys), still_held=held)
            raise LeaseLost(f"{len(item_keys) - held} of {len(item_keys)} links are held by another job now")
