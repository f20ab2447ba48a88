"""Sign-in for the citizen- and business-facing pages, and their page headers.

Session: a server-side session of kind "profile" (zhida/api/sessions.py: a random
id in the signed cookie `zhida_session`, a row in `auth_sessions`), exactly one
profile per session, for `SESSION_MAX_AGE`. A session starts in two ways only:
opening a valid application link (the link's profile; when another site opens the
link of another profile than the signed-in one, a confirmation page with a
double-submit CSRF token comes first), or signing in with a login link:
`GET /login/{signed}` shows a confirmation page, and its form (`POST`, with a
double-submit CSRF token, see zhida/api/csrf.py) spends the link and starts the
session. A login token (it stands in for the platform's single sign-on; `zhida
login-link` mints one) is signed with salt "zhida.login", works for
`LOGIN_MAX_AGE` and once only. A cross-site `GET /login/X` therefore changes
nothing. Logout revokes the session's row, so its cookie stops working.

CSRF: the session's token is `csrf.token_for(settings, session id)`. Forms carry
it in the hidden field `csrf_token`, fetch calls in the header `X-CSRF-Token`;
every state-changing route depends on `CsrfSession`, which refuses (403) a request
without the matching token.

Pages: every HTML response carries a strict Content-Security-Policy (scripts,
styles and connections from this origin only; no inline script), no-referrer (the
application token in the URL never leaks), no framing and no caching.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from zhida.api import csrf, sessions
from zhida.api.csrf import CsrfRejected
from zhida.api.deps import NowDep, SessionDep, SettingsDep
from zhida.errors import ZhidaError
from zhida.settings import Settings

__all__ = ["CsrfRejected"]  # re-exported for the error table

SESSION_COOKIE = sessions.PROFILE.cookie
SESSION_MAX_AGE = sessions.PROFILE.max_age  # seconds
LOGIN_MAX_AGE = 10 * 60  # a login link works for ten minutes, once
CSRF_HEADER = csrf.HEADER
CSRF_FIELD = csrf.FIELD

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=str(TEMPLATE_DIR))

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class NotAuthenticated(ZhidaError):
    """No valid session cookie."""


class WrongProfile(ZhidaError):
    """The session belongs to another profile than the thing asked for."""


class LoginLinkInvalid(ZhidaError):
    """A login token that is tampered, expired, already used or for no known profile."""


@dataclass(frozen=True)
class WebSession:
    """One signed-in profile: exactly one profile id per session."""

    profile_id: str
    active: sessions.Active
    csrf_token: str


def _web(settings: Settings, active: sessions.Active) -> WebSession:
    return WebSession(active.subject, active, csrf.token_for(settings, active.id))


def new_session(db: Session, settings: Settings, profile_id: str, now: dt.datetime) -> WebSession:
    """A new session row for the profile (flushed; commit, then set the cookie)."""
    return _web(settings, sessions.start(db, settings, sessions.PROFILE, profile_id, now))


def set_session_cookie(response: Response, settings: Settings, web: WebSession) -> None:
    sessions.set_cookie(response, settings, sessions.PROFILE, web.active)


def clear_session_cookie(response: Response) -> None:
    sessions.clear_cookie(response, sessions.PROFILE)


def read_session(
    db: Session, request: Request, settings: Settings, now: dt.datetime
) -> WebSession | None:
    """The request's live session, or None (absent, tampered, revoked or expired)."""
    active = sessions.read(db, settings, request, sessions.PROFILE, now)
    return _web(settings, active) if active is not None else None


def end_session(db: Session, web: WebSession, now: dt.datetime) -> None:
    sessions.revoke(db, web.active, now)


def session_for(
    db: Session, request: Request, settings: Settings, profile_id: str, now: dt.datetime
) -> tuple[WebSession, bool]:
    """The current session if it is this profile's, else a new one; (session, is_new)."""
    current = read_session(db, request, settings, now)
    if current is not None and current.profile_id == profile_id:
        return current, False
    return new_session(db, settings, profile_id, now), True


# --- login tokens (single sign-on stand-in) -----------------------------------------------


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=salt)


def mint_login_token(settings: Settings, profile_id: str) -> str:
    """A signed login token; a random nonce makes each one distinct (each is single use)."""
    payload = {"p": profile_id, "n": secrets.token_urlsafe(8)}
    return str(_serializer(settings, "zhida.login").dumps(payload))


def login_url(settings: Settings, profile_id: str) -> str:
    return f"{settings.base_url.rstrip('/')}/login/{mint_login_token(settings, profile_id)}"


def verify_login_token(settings: Settings, token: str, max_age: int = LOGIN_MAX_AGE) -> str:
    """The profile id of a genuine, unexpired login token (not checked for reuse)."""
    try:
        data = _serializer(settings, "zhida.login").loads(token, max_age=max_age)
    except SignatureExpired:
        raise LoginLinkInvalid("login link expired") from None
    except BadSignature:
        raise LoginLinkInvalid("login link invalid") from None
    profile_id = data.get("p") if isinstance(data, dict) else None
    if not isinstance(profile_id, str):
        raise LoginLinkInvalid("login link invalid")
    return profile_id


def check_login_token(db: Session, settings: Settings, token: str) -> str:
    """The profile id of a login token that is genuine, unexpired and not yet spent."""
    profile_id = verify_login_token(settings, token)
    if sessions.spent(db, token):
        raise LoginLinkInvalid("login link already used")
    return profile_id


def spend_login_token(db: Session, settings: Settings, token: str, now: dt.datetime) -> str:
    """Verify a login token and spend it: its profile id, once; LoginLinkInvalid after."""
    profile_id = verify_login_token(settings, token)
    expires = now + dt.timedelta(seconds=LOGIN_MAX_AGE + 60)
    if not sessions.spend_once(db, token, "login", expires, now):
        raise LoginLinkInvalid("login link already used")
    return profile_id


# --- dependencies -------------------------------------------------------------------------


def current_session(
    request: Request, settings: SettingsDep, db: SessionDep, now: NowDep
) -> WebSession:
    web = read_session(db, request, settings, now)
    if web is None:
        raise NotAuthenticated("not signed in")
    return web


CurrentSession = Annotated[WebSession, Depends(current_session)]


def current_profile(web: CurrentSession) -> str:
    return web.profile_id


CurrentProfile = Annotated[str, Depends(current_profile)]


async def require_csrf(request: Request, web: CurrentSession) -> WebSession:
    """The session, if the request carries its CSRF token (header, or form field)."""
    await csrf.verify(request, web.csrf_token)
    return web


CsrfSession = Annotated[WebSession, Depends(require_csrf)]


# --- pages --------------------------------------------------------------------------------


def page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A rendered template with the security headers."""
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response
