"""Connector name → class: an explicit dict, no discovery magic."""

from __future__ import annotations

from app.connectors.base import Connector
from app.connectors.memo import CompanyMemo
from app.connectors.quickbooks.connector import QuickBooksConnector
from app.connectors.sandbox.connector import SandboxConnector
from app.connectors.xero.connector import XeroConnector
from app.settings import Settings

CONNECTOR_CLASSES: dict[str, type[Connector]] = {
    cls.name: cls for cls in (SandboxConnector, XeroConnector, QuickBooksConnector)
}


def missing_settings(cls: type[Connector], settings: Settings) -> list[str]:
    """The environment variables a connector still needs before it can be offered."""
    fields = Settings.model_fields
    return [fields[name].alias or name.upper() for name in cls.required_settings if not getattr(settings, name)]


def offered_names(settings: Settings) -> list[str]:
    """The connectors this process offers (the same rule as build_connectors, without building)."""
    return ["sandbox"] + (["xero"] if settings.xero_client_id and settings.xero_client_secret else [])


def build_connectors(settings: Settings, *, sandbox_program, memo: CompanyMemo | None = None) -> dict[str, Connector]:
    """One instance per offered connector for this process; each pools its own HTTP connections.
    `memo` keeps what the connectors learn about a company for every process (app.connectors.memo).

    A connector whose settings are incomplete (a program's app credentials unset) is not offered.
    """
    return {
        name: cls.from_settings(settings, sandbox_program=sandbox_program, memo=memo)
        for name, cls in CONNECTOR_CLASSES.items()
        if not missing_settings(cls, settings)
    }
