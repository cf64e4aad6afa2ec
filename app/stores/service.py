"""Stores (tenants) and their API keys. Keys are random and long, so a plain SHA-256 suffices.

A key is valid while `revoked_at` is empty or still in the future: rotating a key gives the old
one a grace period (its revoked_at is set ahead) so every POS till can switch over; revoking
sets it to now.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiKey, Store
from app.models.base import utcnow

KEY_PREFIX = "ps_"
ROTATION_GRACE = timedelta(hours=24)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key(store_id: uuid.UUID) -> tuple[ApiKey, str]:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return ApiKey(store_id=store_id, key_hash=hash_key(key), prefix=key[:10]), key


async def create_store(*, session: AsyncSession, name: str) -> tuple[Store, str]:
    """Create a store and its first API key; the key is returned once and never stored."""
    store = Store(name=name)
    session.add(store)
    await session.flush()
    row, key = _new_key(store.id)
    session.add(row)
    await session.flush()
    return store, key


@dataclass(frozen=True, slots=True)
class StoreRef:
    """The calling store as a request knows it. Not an ORM instance: the gate makes one per
    request, and building a mapped `Store` cost 3% of a Sync panel read (py-spy)."""

    id: uuid.UUID
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the store and the key it used."""

    store: StoreRef
    key_id: uuid.UUID


def _live(now: datetime):
    return or_(ApiKey.revoked_at.is_(None), ApiKey.revoked_at > now)


async def caller_for_key(*, session: AsyncSession, key: str) -> Caller | None:
    row = await session.execute(
        select(Store.id, Store.name, Store.created_at, ApiKey.id).join(ApiKey, ApiKey.store_id == Store.id).where(
            ApiKey.key_hash == hash_key(key), _live(utcnow())
        )
    )
    found = row.first()
    return Caller(StoreRef(found[0], found[1], found[2]), found[3]) if found else None


async def store_for_key(*, session: AsyncSession, key: str) -> StoreRef | None:
    caller = await caller_for_key(session=session, key=key)
    return caller.store if caller else None


@dataclass(frozen=True)
class Rotated:
    key: str
    prefix: str
    old_keys_valid_until: datetime


async def rotate_key(*, session: AsyncSession, store_id: uuid.UUID, grace: timedelta = ROTATION_GRACE) -> Rotated:
    """A new key for the store; every key it had so far stays valid for `grace`, then stops."""
    now = utcnow()
    until = now + grace
    await session.execute(
        update(ApiKey)
        .where(ApiKey.store_id == store_id, or_(ApiKey.revoked_at.is_(None), ApiKey.revoked_at > until))
        .values(revoked_at=until)
        .execution_options(synchronize_session=False)
    )
    row, key = _new_key(store_id)
    session.add(row)
    await session.flush()
    return Rotated(key=key, prefix=row.prefix, old_keys_valid_until=until)


async def revoke_keys(*, session: AsyncSession, store_id: uuid.UUID, key_id: uuid.UUID | None = None,
                      prefix: str | None = None) -> int:
    """Revoke at once: one key (by id or prefix) or, with neither, every key of the store."""
    now = utcnow()
    query = update(ApiKey).where(ApiKey.store_id == store_id, _live(now))
    if key_id is not None:
        query = query.where(ApiKey.id == key_id)
    if prefix is not None:
        query = query.where(ApiKey.prefix == prefix)
    result = await session.execute(query.values(revoked_at=now).execution_options(synchronize_session=False))
    return result.rowcount
