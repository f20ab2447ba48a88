"""CSRF tokens for forms and fetch calls: bound to a session, or double-submitted before one.

Made for the citizen and business pages and meant to be reused as is by the officer
console. Two cases:

- **Signed in** (zhida/api/sessions.py): the token is
  `token_for(settings, active.id)`, an HMAC-SHA256 with `secret_key` of the session's
  random id, so it is bound to that session, changes with it and dies with it. Put
  it in forms as the hidden field `csrf_token` (`FIELD`), in fetch calls as the
  header `X-CSRF-Token` (`HEADER`); a state-changing route calls
  `await verify(request, expected)`, which raises `CsrfRejected` (403) unless the
  request carries it.
- **Not yet signed in** (a sign-in form: login CSRF): double submit.
  `form_token(request, settings)` gives the HMAC of a random cookie `zhida_csrf`
  (HttpOnly, SameSite=Strict, so a cross-site request never carries it) to put in
  the form, and `.set_on(response, settings)` sets that cookie when it is new;
  `await verify_form(request, settings)` checks that the posted token matches the
  cookie the request carries. A request the browser marks `Sec-Fetch-Site:
  cross-site` is refused in both cases.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response

from zhida.errors import ZhidaError
from zhida.settings import Settings

HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
PRE_COOKIE = "zhida_csrf"
PRE_MAX_AGE = 3600  # seconds a sign-in page may stay open


class CsrfRejected(ZhidaError):
    """A state-changing request without the right CSRF token."""


def _mac(settings: Settings, message: str) -> str:
    return hmac.new(settings.secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def token_for(settings: Settings, bound_to: str) -> str:
    """The CSRF token of a session, by its secret random id."""
    return _mac(settings, f"csrf|{bound_to}")


async def sent_token(request: Request) -> str | None:
    """The token a request carries: the header, else the form field of a form post."""
    sent = request.headers.get(HEADER)
    if sent is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(FIELD)
            sent = value if isinstance(value, str) else None
    return sent


def cross_site(request: Request) -> bool:
    """The browser says another site started this request (Fetch Metadata)."""
    return request.headers.get("sec-fetch-site", "").lower() == "cross-site"


def check(sent: str | None, expected: str) -> None:
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected("missing or wrong CSRF token")


async def verify(request: Request, expected: str) -> None:
    """Raise CsrfRejected unless the request carries `expected` and is not cross-site."""
    if cross_site(request):
        raise CsrfRejected("cross-site request")
    check(await sent_token(request), expected)


# --- before a session exists: double submit ----------------------------------------------


@dataclass(frozen=True)
class FormToken:
    """A sign-in form's token (`value`, for the hidden field) and the cookie value to
    set with the page (`cookie`, None when the request already had one)."""

    value: str
    cookie: str | None

    def set_on(self, response: Response, settings: Settings) -> None:
        if self.cookie is not None:
            response.set_cookie(
                PRE_COOKIE,
                self.cookie,
                max_age=PRE_MAX_AGE,
                httponly=True,
                samesite="strict",
                secure=settings.base_url.startswith("https://"),
                path="/",
            )


def form_token(request: Request, settings: Settings) -> FormToken:
    """The token for a sign-in form, from the request's `zhida_csrf` cookie or a new
    one (then `set_on` the response)."""
    value = request.cookies.get(PRE_COOKIE, "")
    if 16 <= len(value) <= 100:
        return FormToken(_mac(settings, f"pre|{value}"), None)
    value = secrets.token_urlsafe(24)
    return FormToken(_mac(settings, f"pre|{value}"), value)


async def verify_form(request: Request, settings: Settings) -> None:
    """Raise CsrfRejected unless the posted token matches the request's `zhida_csrf`
    cookie (and the request is not cross-site)."""
    value = request.cookies.get(PRE_COOKIE, "")
    await verify(request, _mac(settings, f"pre|{value}") if value else "")
