"""Console sessions for officers (filled in with the server-side sessions of
zhida/api/sessions.py when they land; until then only bearer tokens sign in)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from zhida.settings import Settings
from zhida.store.models import Officer


def read_officer_session(
    request: Request, session: Session, settings: Settings
) -> tuple[Officer, str] | None:
    """The signed-in officer of the request and the session's CSRF token, or None."""
    return None


async def require_officer_csrf(request: Request, expected: str | None) -> None:
    """Raise unless the request carries the session's CSRF token."""
    raise NotImplementedError("officer sessions are not built yet")


def end_officer_sessions(session: Session, officer: Officer) -> int:
    """End every console session of the officer (disabled, or a new password)."""
    return 0
