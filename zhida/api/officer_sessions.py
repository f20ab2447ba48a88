"""Console sessions for officers: the server-side, revocable sessions of
zhida/api/sessions.py (kind "officer", cookie `zhida_officer`) and the CSRF tokens of
zhida/api/csrf.py bound to them. No second mechanism: only the kind is declared here.

- `sign_in` checks name and password (argon2, `publishing.officers.authenticate`),
  starts a session whose subject is the officer's id, and audits it; a refused sign-in
  is audited too.
  After `MAX_REFUSALS` refused attempts for one name within `REFUSAL_WINDOW`, even
  the right password is refused until the window has passed (SignInThrottled, 429).
- `read_officer_session` gives the request's officer, or None when the cookie is
  absent, tampered, expired, revoked, or the officer is disabled.
- `sign_out` revokes the session (a copied cookie stops working at once);
  `end_officer_sessions` revokes all of an officer's (disabled, new password).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from zhida.api import csrf, sessions
from zhida.clock import utcnow
from zhida.publishing.audit import audit, count_since
from zhida.publishing.errors import OfficerUnauthenticated, SignInThrottled
from zhida.publishing.officers import authenticate
from zhida.settings import Settings
from zhida.store.models import Officer

OFFICER = sessions.SessionKind("officer", "zhida_officer", 8 * 3600, "zhida.officer")
MAX_REFUSALS = 10
REFUSAL_WINDOW = dt.timedelta(minutes=15)
REFUSED = "officer.sign_in_refused"


@dataclass(frozen=True)
class OfficerSession:
    officer: Officer
    active: sessions.Active
    csrf_token: str


def read_officer_session(
    request: Request, db: Session, settings: Settings
) -> OfficerSession | None:
    active = sessions.read(db, settings, request, OFFICER, utcnow())
    if active is None or not active.subject.isdigit():
        return None
    officer = db.get(Officer, int(active.subject))
    if officer is None or not officer.active:
        return None
    return OfficerSession(officer, active, csrf.token_for(settings, active.id))


async def require_officer_csrf(request: Request, expected: str | None) -> None:
    """Raise CsrfRejected unless the request carries the session's CSRF token."""
    await csrf.verify(request, expected or "")


def sign_in(db: Session, settings: Settings, name: str, password: str) -> OfficerSession:
    """Start a console session (flushed; the caller commits and sets the cookie). A
    refused attempt is audited and committed before the error propagates."""
    subject = name[:200]
    if count_since(db, REFUSED, subject, utcnow() - REFUSAL_WINDOW) >= MAX_REFUSALS:
        audit(db, None, "officer.sign_in_throttled", subject, {})
        db.commit()
        raise SignInThrottled(f"too many refused sign-ins for '{subject}'; wait and retry")
    try:
        officer = authenticate(db, name, password)
    except OfficerUnauthenticated:
        db.rollback()
        audit(db, None, REFUSED, subject, {})
        db.commit()
        raise
    active = sessions.start(db, settings, OFFICER, str(officer.id), utcnow())
    audit(db, officer, "officer.sign_in", officer.name, {})
    return OfficerSession(officer, active, csrf.token_for(settings, active.id))


def sign_out(db: Session, current: OfficerSession) -> None:
    sessions.revoke(db, current.active, utcnow())
    audit(db, current.officer, "officer.sign_out", current.officer.name, {})


def end_officer_sessions(db: Session, officer: Officer) -> int:
    """End every console session of the officer; how many."""
    return sessions.revoke_subject(db, OFFICER, str(officer.id), utcnow())
