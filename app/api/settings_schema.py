"""The Sync settings routes take and give a connector's own settings model; FastAPI cannot infer
which from the route, so the OpenAPI document is told: one of the connectors' settings models."""

from __future__ import annotations

from typing import Any

from app.connectors.registry import CONNECTOR_CLASSES


def add_settings_schemas(spec: dict[str, Any], offered: list[str]) -> dict[str, Any]:
    """Only the connectors this service offers: a connection of another cannot exist here."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    refs = []
    for name, connector in CONNECTOR_CLASSES.items():
        if name not in offered:
            continue
        model = connector.settings_model
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schema["description"] = f"Sync settings of a `{name}` connection. " + (schema.get("description") or "")
        schemas[model.__name__] = schema
        refs.append({"$ref": f"#/components/schemas/{model.__name__}"})
    one_of = {"anyOf": refs} if len(refs) > 1 else refs[0]
    for method, operation in spec["paths"].get("/v1/connections/{connection_id}/settings", {}).items():
        operation["responses"]["200"]["content"]["application/json"]["schema"] = one_of
        if method in ("put", "patch"):
            operation["requestBody"]["content"]["application/json"]["schema"] = one_of
    # A dry run takes what PATCH takes.
    preview = spec["paths"].get("/v1/connections/{connection_id}/settings/preview", {}).get("post")
    if preview is not None:
        preview["requestBody"]["content"]["application/json"]["schema"] = one_of
    return spec
