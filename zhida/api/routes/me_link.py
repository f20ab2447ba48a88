"""Route: `BASE/m/TOKEN`, the one link of a digest SMS, which opens the recipient's `/me`.

The token is a policy-page token of `zhida.channels.links` (random, stored only as its
hash, bound to one profile and no policy): `GET /m/{token}` resolves it (unknown,
tampered or an application token: 404; expired: 410; the refusal pages name nothing),
starts a session for its profile and redirects to `/me`. When another site opened it
in a browser signed in as another profile, a confirmation comes first (login CSRF),
as for an application link: `POST /m/{token}/switch`.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from zhida.api import csrf
from zhida.api.deps import NowDep, SessionDep, SettingsDep
from zhida.api.routes.applications import switch_page, switch_to
from zhida.api.security import SECURITY_HEADERS, read_session, session_for, set_session_cookie
from zhida.channels.links import resolve_token
from zhida.settings import Settings

router = APIRouter()

SWITCH_TEXT = (
    "您打开的链接属于另一个账号。当前浏览器已登录其他账号，"
    "确认后将退出当前账号，并以该链接的账号查看可申报的政策。"
)


def _to_me() -> RedirectResponse:
    response = RedirectResponse("/me", status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/m/{token}", include_in_schema=False)
def open_my_policies(
    token: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    row = resolve_token(session, token, now, me=True)
    current = read_session(session, request, settings, now)
    if current is not None and current.profile_id != row.profile_id and csrf.cross_site(request):
        return switch_page(request, settings, f"/m/{token}/switch", SWITCH_TEXT)
    web, is_new = session_for(session, request, settings, row.profile_id, now)
    session.commit()
    response = _to_me()
    if is_new:
        set_session_cookie(response, settings, web)
    return response


@router.post("/m/{token}/switch", include_in_schema=False)
async def switch_to_link(
    token: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    """The confirmation's form: end the current session, start the link's, -> /me."""
    await csrf.verify_form(request, settings)
    return await run_in_threadpool(_switch, token, request, session, settings, now)


def _switch(
    token: str, request: Request, session: Session, settings: Settings, now: dt.datetime
) -> Response:
    row = resolve_token(session, token, now, me=True)
    return switch_to(session, request, settings, row.profile_id, now, _to_me())
