"""Running Alembic from code, so `possync migrate` works from an installed package too."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(next(iter(migrations.__path__)))))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    if database_url.startswith("sqlite"):
        from app.db import create_private_file
        from app.settings import Settings

        path = Settings(DATABASE_URL=database_url, POSSYNC_ENCRYPTION_KEYS="unused").sqlite_path
        if path is not None:
            create_private_file(path)
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
