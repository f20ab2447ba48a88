"""Who is calling `/api/officer/` and `/officer`: an officer, by a bearer token (programs)
or by a signed-in console session (people).

- `Authorization: Bearer TOKEN`: the officer's token (`zhida officers add`), stored
  hashed, refused when forged, expired, rotated or the officer is disabled. A token is
  not an ambient credential, so no CSRF token is asked for.
- The console session (see `officer_sessions`): a cookie set by signing in with name
  and password; every state-changing request made with it must carry its CSRF token
  (header `X-CSRF-Token`, or the form field `csrf_token`).

Roles are checked by the publishing services (an author never approves their own);
`AdminOfficer` guards officer management.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from zhida.api.deps import SessionDep, SettingsDep
from zhida.api.officer_sessions import (
    OfficerSession,
    read_officer_session,
    require_officer_csrf,
)
from zhida.publishing.errors import OfficerUnauthenticated
from zhida.publishing.officers import officer_by_token, require_admin
from zhida.store.models import Officer

#: documents the bearer scheme in the OpenAPI; the header is parsed here
BEARER_SCHEME = HTTPBearer(auto_error=False, description="An officer token (zhida officers add)")


@dataclass(frozen=True)
class OfficerAuth:
    officer: Officer
    via: str  # token | session
    csrf_token: str | None = None  # the session's, for the pages
    session: OfficerSession | None = None  # when signed in with a console session


def officer_auth(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)],
) -> OfficerAuth:
    if bearer is not None:
        return OfficerAuth(officer_by_token(session, bearer.credentials), "token")
    if request.headers.get("authorization") is not None:
        raise OfficerUnauthenticated("the Authorization header must be 'Bearer TOKEN'")
    found = read_officer_session(request, session, settings)
    if found is None:
        raise OfficerUnauthenticated("sign in, or send a bearer officer token")
    return OfficerAuth(found.officer, "session", found.csrf_token, found)


CurrentAuth = Annotated[OfficerAuth, Depends(officer_auth)]


def current_officer(auth: CurrentAuth) -> Officer:
    return auth.officer


async def changing_officer(request: Request, auth: CurrentAuth) -> Officer:
    """The officer of a state-changing request: a session's must carry its CSRF token."""
    if auth.via == "session":
        await require_officer_csrf(request, auth.csrf_token)
    return auth.officer


def admin_officer(officer: Annotated[Officer, Depends(changing_officer)]) -> Officer:
    require_admin(officer)
    return officer


CurrentOfficer = Annotated[Officer, Depends(current_officer)]
ChangingOfficer = Annotated[Officer, Depends(changing_officer)]
AdminOfficer = Annotated[Officer, Depends(admin_officer)]
