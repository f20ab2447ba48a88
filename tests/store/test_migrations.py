"""Migrations run on both databases and create every model's table."""

from __future__ import annotations

from sqlalchemy import inspect

from zhida.store.db import get_engine, upgrade
from zhida.store.models import Base


def test_upgrade_creates_all_tables_and_is_idempotent(db_url: str) -> None:
    upgrade(db_url)  # a second upgrade is a no-op
    tables = set(inspect(get_engine(db_url)).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_migrations_match_the_models(db_url: str) -> None:
    """Alembic finds nothing to add or drop: the migrations build what the models say."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
