"""Stores (tenants) and their API keys. Keys are random and long, so a plain SHA-256 suffices."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiKey, Store

KEY_PREFIX = "ps_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_store(*, session: AsyncSession, name: str) -> tuple[Store, str]:
    """Create a store and its first API key; the key is returned once and never stored."""
    store = Store(name=name)
    session.add(store)
    await session.flush()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(store_id=store.id, key_hash=hash_key(key), prefix=key[:10]))
    await session.flush()
    return store, key


async def store_for_key(*, session: AsyncSession, key: str) -> Store | None:
    return await session.scalar(
        select(Store).join(ApiKey, ApiKey.store_id == Store.id).where(
            ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)
        )
    )
