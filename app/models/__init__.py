"""Every table, imported here so Alembic's autogenerate and `Base.metadata` see them all."""

from app.models.base import Base
from app.models.connections import Connection, ConnectionStatus
from app.models.program_lists import ProgramList
from app.models.records import Record
from app.models.sandbox import SandboxObject, SandboxRequest
from app.models.stores import ApiKey, Store
from app.models.sync import Attempt, AttemptOutcome, Link, LinkState, Run, RunStatus, RunTrigger
from app.models.webhooks import WebhookEvent

__all__ = [
    "ApiKey",
    "Attempt",
    "AttemptOutcome",
    "Base",
    "Connection",
    "ConnectionStatus",
    "Link",
    "LinkState",
    "ProgramList",
    "Record",
    "Run",
    "RunStatus",
    "RunTrigger",
    "SandboxObject",
    "SandboxRequest",
    "Store",
    "WebhookEvent",
]
