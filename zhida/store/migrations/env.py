"""Alembic environment: uses the engine handed over by zhida.store.db.upgrade."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from zhida.store.models import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(
    config.get_main_option("sqlalchemy.url") or "sqlite:///var/zhida.db"
)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
