"""Officers: their roles, the bearer tokens programs use (stored only hashed, optionally
expiring), the passwords people sign in to the console with (argon2 hashes), and the
admin's management of officers. Every change is in the audit log.

`actor` is the officer doing a step; None is the operator at the machine's command line
(`zhida officers ...`), who may do everything an admin may.
"""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.publishing.audit import audit
from zhida.publishing.errors import (
    OfficerForbidden,
    OfficerUnauthenticated,
    PublishError,
    VersionNotFound,
)
from zhida.redact import hash_token
from zhida.store.models import Officer


class Role(StrEnum):
    """What an officer may do; stored as its value in `officers.role`."""

    AUTHOR = "author"  # submits policies
    APPROVER = "approver"  # approves (publishes) other officers' policies
    ADMIN = "admin"  # both, and manages officers


ROLES = tuple(Role)
MAY_SUBMIT = (Role.AUTHOR, Role.ADMIN)
MAY_APPROVE = (Role.APPROVER, Role.ADMIN)
MIN_PASSWORD = 10  # characters

_HASHER = PasswordHasher()
# verified against when the name is unknown, so a wrong name costs what a wrong password does
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def require_admin(actor: Officer | None) -> None:
    if actor is not None and actor.role != Role.ADMIN:
        raise OfficerForbidden(f"officer '{actor.name}' ({actor.role}) cannot manage officers")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise PublishError(f"role must be one of {', '.join(ROLES)}, got '{role}'")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise PublishError(f"a password needs at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def _new_token(officer: Officer, days: int | None, now: dt.datetime) -> str:
    token = secrets.token_urlsafe(24)
    officer.token_hash = hash_token(token)
    officer.token_expires_at = now + dt.timedelta(days=days) if days else None
    return token


def add_officer(
    session: Session,
    name: str,
    role: str,
    *,
    password: str | None = None,
    token_days: int | None = None,
    actor: Officer | None = None,
) -> tuple[Officer, str]:
    """Create an officer; returns the token, shown once and stored only hashed."""
    require_admin(actor)
    _check_role(role)
    if not name.strip():
        raise PublishError("an officer needs a name")
    if session.scalar(select(Officer).where(Officer.name == name)) is not None:
        raise PublishError(f"officer '{name}' already exists")
    officer = Officer(name=name, role=role, active=True)
    officer.password_hash = hash_password(password) if password is not None else None
    token = _new_token(officer, token_days, utcnow())
    session.add(officer)
    session.flush()
    audit(
        session,
        actor,
        "officer.add",
        name,
        {"role": role, "password": password is not None, "token_days": token_days},
    )
    return officer, token


def officer_by_token(
    session: Session, token: str | None, now: dt.datetime | None = None
) -> Officer:
    officer = session.scalar(select(Officer).where(Officer.token_hash == hash_token(token or "")))
    if officer is None or not token:
        raise OfficerUnauthenticated("invalid or missing officer token (--token or ZHIDA_TOKEN)")
    if not officer.active:
        raise OfficerUnauthenticated(f"officer '{officer.name}' is disabled")
    expires = officer.token_expires_at
    if expires is not None and _aware(expires) <= (now or utcnow()):
        raise OfficerUnauthenticated("officer token expired; an admin issues a new one")
    return officer


def find_officer(session: Session, name: str) -> Officer:
    officer = session.scalar(select(Officer).where(Officer.name == name))
    if officer is None:
        raise VersionNotFound(f"no officer '{name}'")
    return officer


def authenticate(session: Session, name: str, password: str) -> Officer:
    """The active officer with this name and password; one refusal for every failure."""
    officer = session.scalar(select(Officer).where(Officer.name == name))
    stored = officer.password_hash if officer is not None else None
    try:
        _HASHER.verify(stored or _DUMMY_HASH, password)
        ok = officer is not None and stored is not None and officer.active
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or officer is None:
        raise OfficerUnauthenticated("wrong officer name or password")
    if stored is not None and _HASHER.check_needs_rehash(stored):
        officer.password_hash = _HASHER.hash(password)
    return officer


def set_password(
    session: Session, officer: Officer, password: str, actor: Officer | None = None
) -> None:
    """An admin (or the operator) sets an officer's password; an officer their own."""
    if actor is None or actor.id != officer.id:
        require_admin(actor)
    officer.password_hash = hash_password(password)
    audit(session, actor, "officer.password", officer.name, {})


def set_role(session: Session, officer: Officer, role: str, actor: Officer | None = None) -> None:
    require_admin(actor)
    _check_role(role)
    old, officer.role = officer.role, role
    audit(session, actor, "officer.role", officer.name, {"from": old, "to": role})


def set_active(
    session: Session, officer: Officer, active: bool, actor: Officer | None = None
) -> None:
    """Disable (or re-enable) an officer: a disabled one's token and sessions stop working."""
    require_admin(actor)
    if actor is not None and actor.id == officer.id and not active:
        raise PublishError("an admin cannot disable themselves")
    officer.active = active
    audit(session, actor, "officer.enable" if active else "officer.disable", officer.name, {})


def rotate_token(
    session: Session, officer: Officer, days: int | None = None, actor: Officer | None = None
) -> str:
    """A new token for the officer (the old one stops working); shown once."""
    require_admin(actor)
    token = _new_token(officer, days, utcnow())
    audit(session, actor, "officer.token", officer.name, {"token_days": days})
    return token


def list_officers(session: Session) -> list[Officer]:
    return list(session.scalars(select(Officer).order_by(Officer.name)))
