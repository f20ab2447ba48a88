"""Sessions, CSRF and page headers for the citizen- and business-facing pages.

Session: a cookie `zhida_session` signed with `secret_key` (itsdangerous, timed,
salt "zhida.session") holding exactly one profile id and a random per-session
nonce: `{"p": PROFILE_ID, "n": NONCE}`. It is HttpOnly, SameSite=Lax, Secure when
`base_url` is https, and expires after `SESSION_MAX_AGE`. A session starts in two
ways only: opening a valid application link (the link's profile) or
`GET /login/{signed}` with a short-lived login token signed with salt
"zhida.login" (it stands in for the platform's single sign-on; `zhida login-link`
mints one). Either replaces any earlier session with a new nonce.

CSRF: the token is HMAC-SHA256(secret_key, "csrf|PROFILE|NONCE"), so it is bound to
the session and changes with it. Forms carry it in the hidden field `csrf_token`,
fetch calls in the header `X-CSRF-Token`; every state-changing route depends on
`CsrfSession`, which refuses (403) a request without the matching token.

Pages: every HTML response carries a strict Content-Security-Policy (scripts,
styles and connections from this origin only; no inline script), no-referrer (the
application token in the URL never leaks), no framing and no caching.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from zhida.api.deps import SettingsDep
from zhida.errors import ZhidaError
from zhida.settings import Settings

SESSION_COOKIE = "zhida_session"
SESSION_MAX_AGE = 8 * 3600  # seconds
LOGIN_MAX_AGE = 10 * 60  # a login link works for ten minutes
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

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


class CsrfRejected(ZhidaError):
    """A state-changing request without the session's CSRF token."""


class WrongProfile(ZhidaError):
    """The session belongs to another profile than the thing asked for."""


class LoginLinkInvalid(ZhidaError):
    """A login token that is tampered, expired or for no known profile."""


@dataclass(frozen=True)
class WebSession:
    """One signed-in profile: exactly one profile id per session."""

    profile_id: str
    nonce: str
    csrf_token: str


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=salt)


def _csrf_for(settings: Settings, profile_id: str, nonce: str) -> str:
    msg = f"csrf|{profile_id}|{nonce}".encode()
    return hmac.new(settings.secret_key.encode(), msg, hashlib.sha256).hexdigest()


def new_session(settings: Settings, profile_id: str) -> WebSession:
    nonce = secrets.token_urlsafe(16)
    return WebSession(profile_id, nonce, _csrf_for(settings, profile_id, nonce))


def set_session_cookie(response: Response, settings: Settings, web: WebSession) -> None:
    value = _serializer(settings, "zhida.session").dumps({"p": web.profile_id, "n": web.nonce})
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https://"),
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def read_session(request: Request, settings: Settings) -> WebSession | None:
    """The session in the request's cookie, or None when absent, tampered or expired."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(settings, "zhida.session").loads(raw, max_age=SESSION_MAX_AGE)
    except BadSignature:  # SignatureExpired is a BadSignature
        return None
    if not (
        isinstance(data, dict) and isinstance(data.get("p"), str) and isinstance(data.get("n"), str)
    ):
        return None
    return WebSession(data["p"], data["n"], _csrf_for(settings, data["p"], data["n"]))


def session_for(request: Request, settings: Settings, profile_id: str) -> tuple[WebSession, bool]:
    """The current session if it is this profile's, else a new one; (session, is_new)."""
    current = read_session(request, settings)
    if current is not None and current.profile_id == profile_id:
        return current, False
    return new_session(settings, profile_id), True


# --- login tokens (single sign-on stand-in) -----------------------------------------------


def mint_login_token(settings: Settings, profile_id: str) -> str:
    return str(_serializer(settings, "zhida.login").dumps(profile_id))


def login_url(settings: Settings, profile_id: str) -> str:
    return f"{settings.base_url.rstrip('/')}/login/{mint_login_token(settings, profile_id)}"


def verify_login_token(settings: Settings, token: str, max_age: int = LOGIN_MAX_AGE) -> str:
    try:
        profile_id = _serializer(settings, "zhida.login").loads(token, max_age=max_age)
    except SignatureExpired:
        raise LoginLinkInvalid("login link expired") from None
    except BadSignature:
        raise LoginLinkInvalid("login link invalid") from None
    if not isinstance(profile_id, str):
        raise LoginLinkInvalid("login link invalid")
    return profile_id


# --- dependencies -------------------------------------------------------------------------


def current_session(request: Request, settings: SettingsDep) -> WebSession:
    web = read_session(request, settings)
    if web is None:
        raise NotAuthenticated("not signed in")
    return web


CurrentSession = Annotated[WebSession, Depends(current_session)]


def current_profile(web: CurrentSession) -> str:
    return web.profile_id


CurrentProfile = Annotated[str, Depends(current_profile)]


async def require_csrf(request: Request, web: CurrentSession) -> WebSession:
    """The session, if the request carries its CSRF token (header, or form field)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), web.csrf_token.encode()):
        raise CsrfRejected("missing or wrong CSRF token")
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
