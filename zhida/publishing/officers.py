"""Officers: their roles, and the bearer tokens they sign in with (stored only hashed)."""

from __future__ import annotations

import secrets
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.publishing.audit import audit
from zhida.publishing.errors import PublishError
from zhida.redact import hash_token
from zhida.store.models import Officer


class Role(StrEnum):
    """What an officer may do; stored as its value in `officers.role`."""

    AUTHOR = "author"  # submits policies
    APPROVER = "approver"  # approves (publishes) other officers' policies
    ADMIN = "admin"  # both


ROLES = tuple(Role)
MAY_SUBMIT = (Role.AUTHOR, Role.ADMIN)
MAY_APPROVE = (Role.APPROVER, Role.ADMIN)


def add_officer(session: Session, name: str, role: str) -> tuple[Officer, str]:
    """Create an officer; returns the token, shown once and stored only hashed."""
    if role not in ROLES:
        raise PublishError(f"role must be one of {', '.join(ROLES)}, got '{role}'")
    if session.scalar(select(Officer).where(Officer.name == name)) is not None:
        raise PublishError(f"officer '{name}' already exists")
    token = secrets.token_urlsafe(24)
    officer = Officer(name=name, role=role, token_hash=hash_token(token))
    session.add(officer)
    session.flush()
    audit(session, None, "officer.add", name, {"role": role})
    return officer, token


def officer_by_token(session: Session, token: str | None) -> Officer:
    officer = session.scalar(select(Officer).where(Officer.token_hash == hash_token(token or "")))
    if officer is None:
        raise PublishError("invalid or missing officer token (--token or ZHIDA_TOKEN)")
    return officer
