"""The FastAPI app as tests run it: real routes, sessions on a given database."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import FastAPI
from sqlalchemy.orm import Session

from zhida.api.app import create_app
from zhida.api.deps import get_session
from zhida.settings import Settings, get_settings
from zhida.store.db import session_factory


def app_for(database_url: str, settings: Callable[[], Settings]) -> FastAPI:
    """`create_app()` with its session and settings dependencies bound to these
    (settings as a callable: a test may fill them in after the app is built)."""
    app = create_app()
    factory = session_factory(database_url)

    def session_override() -> Iterator[Session]:
        session = factory()
        try:
            yield session
        finally:
            session.close()

    app.dependency_overrides[get_session] = session_override
    app.dependency_overrides[get_settings] = settings
    return app
