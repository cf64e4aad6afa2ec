"""Connector name → class: an explicit dict, no discovery magic."""

from __future__ import annotations

from app.connectors.base import Connector
from app.connectors.sandbox import SandboxConnector
from app.connectors.xero.connector import XeroConnector
from app.settings import Settings

CONNECTOR_CLASSES = {cls.name: cls for cls in (SandboxConnector, XeroConnector)}


def offered_names(settings: Settings) -> list[str]:
    """The connectors this process offers (the same rule as build_connectors, without building)."""
    return ["sandbox"] + (["xero"] if settings.xero_client_id and settings.xero_client_secret else [])


def build_connectors(settings: Settings, *, sandbox_program) -> dict[str, Connector]:
    """One instance per offered connector for this process; each pools its own HTTP connections.

    A program whose app credentials are not configured is not offered.
    """
    connectors: dict[str, Connector] = {"sandbox": SandboxConnector(sandbox_program)}
    if settings.xero_client_id and settings.xero_client_secret:
        connectors["xero"] = XeroConnector(settings, timeout_s=settings.http_timeout_s)
    return connectors
