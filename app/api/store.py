"""A store's own API key: rotate it (the old one keeps working for a grace period) or revoke it."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import CallerDep, SessionDep
from app.api.problems import PROBLEM_RESPONSES
from app.stores import service

router = APIRouter(prefix="/v1/store", tags=["Store"], responses=PROBLEM_RESPONSES)


class KeyRotated(BaseModel):
    key: str = Field(description="The new API key. Shown once: possync keeps only its hash.",
                     examples=["ps_3kq0Vf0mJm8o2Jx6cXoQ3v9J0xw4iA1sRkq3dQm0Zb8"])
    prefix: str = Field(description="The key's first characters, to recognise it later.", examples=["ps_3kq0Vf0"])
    old_keys_valid_until: datetime = Field(
        description="Until when the store's earlier keys keep working, so every till can switch over.")


@router.post("/keys", status_code=201, summary="Rotate this store's API key")
async def rotate_key(caller: CallerDep, session: SessionDep) -> KeyRotated:
    async with session.begin():
        rotated = await service.rotate_key(session=session, store_id=caller.store.id)
    return KeyRotated(key=rotated.key, prefix=rotated.prefix, old_keys_valid_until=rotated.old_keys_valid_until)


@router.delete("/keys/current", status_code=204, summary="Revoke the API key making this call, at once")
async def revoke_current_key(caller: CallerDep, session: SessionDep) -> None:
    async with session.begin():
        await service.revoke_keys(session=session, store_id=caller.store.id, key_id=caller.key_id)
