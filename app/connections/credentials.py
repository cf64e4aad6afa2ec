"""Tokens for a push: decrypted, and refreshed once across all workers when about to expire.

Refresh tokens rotate on every use, so two workers refreshing at once would leave one of them
holding a dead token. Refreshes are serialized per connection; the new pair is stored before it
is used, and a worker that waited on the lock re-reads what the other one stored.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from sqlalchemy import select

from app.connectors.base import Connector, Credentials
from app.connectors.errors import ConnectionBroken
from app.core.secrets import SecretBox
from app.db import transaction
from app.models import Connection
from app.connections.access import ProgramAccess

REFRESH_MARGIN_S = 300


def load_credentials(secrets: SecretBox, connection: Connection) -> Credentials:
    if not connection.credentials_encrypted:
        return Credentials(tenant_id=connection.tenant_id)
    data = secrets.open(connection.credentials_encrypted)
    data["tenant_id"] = connection.tenant_id
    return Credentials(**data)


def seal_credentials(secrets: SecretBox, credentials: Credentials) -> str:
    data = asdict(credentials)
    data.pop("tenant_id")  # kept in its own column: it is not a secret and the API shows it
    return secrets.seal(data)


def _expiring(credentials: Credentials) -> bool:
    return credentials.expires_at is not None and credentials.expires_at - REFRESH_MARGIN_S <= time.time()


async def usable_credentials(
    deps: ProgramAccess, connector: Connector, connection: Connection, *, rejected_access_token: str | None = None
) -> Credentials:
    """Credentials good for the next calls. `rejected_access_token`: the program refused it early."""
    credentials = load_credentials(deps.secrets, connection)
    if not connector.needs_oauth or not (_expiring(credentials) or rejected_access_token):
        return credentials
    async with deps.locks.hold(f"refresh:{connection.id}"):
        async with transaction(deps.sessions) as session:
            # FOR NO KEY UPDATE: it serializes refreshers as FOR UPDATE would, but leaves the row's key
            # free, so the store's writes (whose new links check it) do not wait for the program's answer.
            fresh = await session.scalar(select(Connection).where(Connection.id == connection.id)
                                         .with_for_update(key_share=True))
            credentials = load_credentials(deps.secrets, fresh)
            stale = _expiring(credentials) or credentials.access_token == rejected_access_token
            if not stale:
                return credentials  # another worker refreshed while this one waited
            try:
                credentials = await connector.refresh_credentials(credentials)
            except ConnectionBroken:
                raise
            fresh.credentials_encrypted = seal_credentials(deps.secrets, credentials)
        return credentials
