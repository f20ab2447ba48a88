"""Throw-away PostgreSQL databases for tests and benchmarks: created, optionally
migrated, dropped on exit (WITH (FORCE): open connections do not keep it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text


def sibling_url(admin_url: str, name: str) -> str:
    """The URL of database `name` on the server of `admin_url`."""
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def scratch_database(admin_url: str, prefix: str = "zhida_t", *, migrate: bool = True,
                     keep: bool = False) -> Iterator[str]:
    """A new database named `{prefix}_{random}` (migrated unless `migrate=False`); its URL.
    Dropped on exit unless `keep`; the process's engines are disposed first."""
    from zhida.store.db import dispose_engines, upgrade

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = sibling_url(admin_url, name)
        try:
            if migrate:
                upgrade(url)
            yield url
        finally:
            dispose_engines()
            if not keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
