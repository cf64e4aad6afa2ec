"""The Sync settings routes take and give a connector's own settings model; FastAPI cannot infer
which from the route, so the OpenAPI document is told: one of the connectors' settings models."""

from __future__ import annotations

from typing import Any

from app.connectors.registry import CONNECTOR_CLASSES


def add_settings_schemas(spec: dict[str, Any], offered: list[str]) -> dict[str, Any]:
    """Only the connectors this service offers: a connection of another cannot exist here."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    refs, patch_refs = [], []
    for name, connector in CONNECTOR_CLASSES.items():
        if name not in offered:
            continue
        model = connector.settings_model
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schema["description"] = f"Sync settings of a `{name}` connection. " + (schema.get("description") or "")
        schemas[model.__name__] = schema
        schemas[f"{model.__name__}Patch"] = _patch_variant(schema, name)
        refs.append({"$ref": f"#/components/schemas/{model.__name__}"})
        patch_refs.append({"$ref": f"#/components/schemas/{model.__name__}Patch"})
    one_of = {"anyOf": refs} if len(refs) > 1 else refs[0]
    patch_of = {"anyOf": patch_refs} if len(patch_refs) > 1 else patch_refs[0]
    for method, operation in spec["paths"].get("/v1/connections/{connection_id}/settings", {}).items():
        operation["responses"]["200"]["content"]["application/json"]["schema"] = one_of
        if method in ("put", "patch"):
            operation["requestBody"]["content"]["application/json"]["schema"] = one_of if method == "put" else patch_of
    # A dry run takes what PATCH takes.
    preview = spec["paths"].get("/v1/connections/{connection_id}/settings/preview", {}).get("post")
    if preview is not None:
        preview["requestBody"]["content"]["application/json"]["schema"] = patch_of
    return spec


def _patch_variant(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """What PATCH takes (app.connections.merge_patch): any subset of the settings, `null` for a setting
    (back to its default) or for a mapping's entry (removed)."""
    properties = {}
    for key, prop in schema.get("properties", {}).items():
        if isinstance(prop.get("additionalProperties"), dict):  # a mapping: entries merge, null removes one
            prop = {**prop, "additionalProperties": _nullable(prop["additionalProperties"])}
        properties[key] = _nullable(prop)
    return {"type": "object", "properties": properties, "additionalProperties": False,
            "title": f"{schema.get('title', name)} (PATCH)",
            "description": f"A change to the sync settings of a `{name}` connection: the settings named are "
                           "changed, a mapping merged entry by entry, `null` puts a setting back to its default "
                           "or removes a mapping's entry."}


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    variants = prop.get("anyOf", [])
    if prop.get("type") == "null" or any(v.get("type") == "null" for v in variants):
        return prop
    kept = {k: v for k, v in prop.items() if k in ("title", "description")}
    inner = {k: v for k, v in prop.items() if k not in ("title", "description", "default")}
    return {**kept, "anyOf": [inner, {"type": "null"}]}
