"""Server-side sessions: a random id in a signed cookie, a row per session, revocable.

Made for the citizen and business pages (kind "profile") and meant to be reused as
is by the officer console (kind "officer", its own cookie): declare a `SessionKind`
and call `start`, `read`, `revoke`; bind CSRF tokens to `Active.id` with
zhida/api/csrf.py.

- `start` draws a random id (`secrets.token_urlsafe(32)`), stores only its SHA-256
  in `auth_sessions` with the kind, the subject (a profile id, an officer name) and
  the expiry, and sets the cookie: the id signed with `secret_key` (itsdangerous,
  the kind's salt), HttpOnly, SameSite=Lax, Secure when `base_url` is https.
- `read` gives the `Active` session of a request, or None when the cookie is
  absent, tampered, signed with another key, or its row is missing, of another
  kind, revoked or expired. A copied cookie therefore stops working the moment
  its session is revoked.
- `revoke` ends one session (logout); `revoke_subject` every session of a subject
  (an officer disabled, a profile deleted); `purge` drops the rows of sessions
  over for a day (`start` calls it).
- `spend_once` makes a signed token single use (a login link): the first call for a
  token wins, every later one (a replay, a second tab, a race) gets False.

The caller owns the transaction (`start` and `revoke` flush; commit after).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from zhida.channels.links import as_utc
from zhida.redact import hash_token
from zhida.settings import Settings
from zhida.store.models import AuthSession, UsedToken

ID_BYTES = 32


@dataclass(frozen=True)
class SessionKind:
    """One kind of signed-in browser: what the rows say, the cookie, how long it lasts."""

    name: str  # "profile", "officer": stored with each row
    cookie: str
    max_age: int  # seconds
    salt: str


#: a business or citizen signed in (login link, or an application link)
PROFILE = SessionKind("profile", "zhida_session", 8 * 3600, "zhida.session")


@dataclass(frozen=True)
class Active:
    """A live session: `id` is the random id the cookie carries (bind CSRF tokens to it;
    never store or log it), `subject` whom it signs in."""

    id: str
    kind: str
    subject: str
    expires_at: dt.datetime


def _serializer(settings: Settings, kind: SessionKind) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=kind.salt)


def start(
    db: Session, settings: Settings, kind: SessionKind, subject: str, now: dt.datetime
) -> Active:
    """A new session row for `subject` (flushed; the caller commits and sets the cookie).
    Rows of sessions over for a day go on the way, so the table holds about one
    session length of rows."""
    purge(db, now)
    session_id = secrets.token_urlsafe(ID_BYTES)
    expires = as_utc(now) + dt.timedelta(seconds=kind.max_age)
    db.add(
        AuthSession(
            id_hash=hash_token(session_id),
            kind=kind.name,
            subject=subject,
            created_at=as_utc(now),
            expires_at=expires,
        )
    )
    db.flush()
    return Active(session_id, kind.name, subject, expires)


def set_cookie(response: Response, settings: Settings, kind: SessionKind, active: Active) -> None:
    response.set_cookie(
        kind.cookie,
        _serializer(settings, kind).dumps({"s": active.id}),
        max_age=kind.max_age,
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https://"),
        path="/",
    )


def clear_cookie(response: Response, kind: SessionKind) -> None:
    response.delete_cookie(kind.cookie, path="/")


def session_id_of(request: Request, settings: Settings, kind: SessionKind) -> str | None:
    """The session id in the request's cookie if its signature holds (not yet checked
    against the table)."""
    raw = request.cookies.get(kind.cookie)
    if not raw:
        return None
    try:
        data = _serializer(settings, kind).loads(raw, max_age=kind.max_age)
    except BadSignature:  # SignatureExpired is a BadSignature
        return None
    value = data.get("s") if isinstance(data, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 100 else None


def read(
    db: Session, settings: Settings, request: Request, kind: SessionKind, now: dt.datetime
) -> Active | None:
    """The request's live session of this kind, or None."""
    session_id = session_id_of(request, settings, kind)
    if session_id is None:
        return None
    row = db.get(AuthSession, hash_token(session_id))
    if row is None or row.kind != kind.name or row.revoked_at is not None:
        return None
    expires = as_utc(row.expires_at)
    if expires <= as_utc(now):
        return None
    return Active(session_id, row.kind, row.subject, expires)


def revoke(db: Session, active: Active, now: dt.datetime) -> None:
    """End one session: its cookie signs nobody in from now on (flushed)."""
    db.execute(
        update(AuthSession)
        .where(AuthSession.id_hash == hash_token(active.id), AuthSession.revoked_at.is_(None))
        .values(revoked_at=as_utc(now))
    )


def revoke_subject(db: Session, kind: SessionKind, subject: str, now: dt.datetime) -> int:
    """End every live session of one subject; how many."""
    result = db.execute(
        update(AuthSession)
        .where(
            AuthSession.kind == kind.name,
            AuthSession.subject == subject,
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=as_utc(now))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def purge(db: Session, now: dt.datetime, keep: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Drop the rows of sessions that ended more than `keep` ago; how many."""
    cutoff = as_utc(now) - keep
    result = db.execute(delete(AuthSession).where(AuthSession.expires_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def spend_once(
    db: Session, token: str, purpose: str, expires_at: dt.datetime, now: dt.datetime
) -> bool:
    """Mark a single-use token spent; False if it was spent before. Its hash is kept
    until `expires_at` (after that the token's own signature refuses it); rows past
    their expiry are dropped on the way. Safe under races: the primary key decides."""
    db.execute(delete(UsedToken).where(UsedToken.expires_at < as_utc(now)))
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    stored = db.scalar(
        insert(UsedToken)
        .values(token_hash=hash_token(token), purpose=purpose[:16], expires_at=as_utc(expires_at))
        .on_conflict_do_nothing(index_elements=["token_hash"])
        .returning(UsedToken.token_hash)
    )
    return stored is not None


def spent(db: Session, token: str) -> bool:
    """Whether a single-use token was spent already (to refuse it before asking for a
    confirmation; `spend_once` still decides)."""
    return db.get(UsedToken, hash_token(token)) is not None
