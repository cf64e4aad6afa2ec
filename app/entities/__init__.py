from app.entities.registry import ENTITY_TYPES, EntityType, unique_references

__all__ = ["ENTITY_TYPES", "EntityType", "unique_references"]
