"""Factories that put data in a store (plain functions with keyword defaults)."""

from __future__ import annotations

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhida.store.models import Base, Profile
from zhida.store.profiles import profile_json


def store_profiles(session: Session, frame: pl.DataFrame, *, kind: str = "enterprise",
                   source: str = "test") -> None:
    session.add_all(Profile(id=r["id"], kind=kind, data=profile_json(r), source=source)
                    for r in frame.to_dicts())
    session.flush()


def row_counts(session: Session) -> dict[str, int]:
    return {name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in Base.metadata.tables.items()}
