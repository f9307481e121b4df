"""Alembic migrations, run by ``nightcrew db upgrade`` (and at start-up of serve, worker and demo)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from nightcrew.db import make_engine, sqlite_statistics

HERE = Path(__file__).parent
_LOCK_KEY = 0x6E63_6462  # "ncdb": serialises concurrent upgrades of one PostgreSQL database


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the bundled migrations."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    """Bring the database schema to ``revision``; safe to call from several processes at once."""
    engine = engine or make_engine(url, pool_size=1)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        try:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            if connection.dialect.name == "sqlite":
                # SQLite plans queries from statistics it gathers only when asked: without them a per-contact
                # timeline walks a tenant-wide index (hundreds of ms at 100,000 contacts instead of a few).
                sqlite_statistics(connection)
            connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
                connection.commit()


def current_revision(url: str) -> str | None:
    """The revision the database is at (None when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
