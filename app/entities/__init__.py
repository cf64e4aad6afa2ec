from app.entities.registry import BY_COLLECTION, ENTITY_TYPES, EntityType, unique_references

__all__ = ["BY_COLLECTION", "ENTITY_TYPES", "EntityType", "unique_references"]
