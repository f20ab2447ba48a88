"""Routes: sign-in (single sign-on stand-in), the inbox page, its JSON API and its live stream.

Everything here is for the session's profile only: no route takes a profile id,
and a message id of another profile is "not found".

`GET /api/inbox/stream` is a Server-Sent Events stream of the profile's new
messages (`event: inbox`, `id:` the message id, `data:` JSON), with heartbeat
comments. With Redis configured it wakes on the channel `zhida:inbox:{profile}`
(published after the message's transaction commits) and also re-reads the table at
every heartbeat; without Redis it polls the table. Each connection lives at most
`STREAM.lifetime_seconds`; EventSource then reconnects with `Last-Event-ID`, so
nothing is lost or repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
import redis.asyncio as aioredis
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from zhida.api import csrf
from zhida.api.deps import NowDep, SessionDep, SettingsDep
from zhida.api.security import (
    SECURITY_HEADERS,
    CsrfSession,
    CurrentProfile,
    CurrentSession,
    LoginLinkInvalid,
    check_login_token,
    clear_session_cookie,
    end_session,
    new_session,
    page,
    read_session,
    set_session_cookie,
    spend_login_token,
    verify_login_token,
)
from zhida.channels import inbox
from zhida.channels.links import issue_link
from zhida.clock import SHANGHAI, utcnow
from zhida.publishing.catalogue import compiled
from zhida.publishing.versions import published_version
from zhida.settings import Settings
from zhida.store.models import InboxMessage
from zhida.store.profiles import get_profile

router = APIRouter()
GONE_TEXT = "该政策已停止或已更新，暂无可申报的版本。"
#: ids are BIGINT: larger integers from a client are refused (422), not passed to the database
MAX_ID = 2**63 - 1


@dataclass
class StreamConfig:
    poll_seconds: float = 2.0  # without Redis: how often the table is read
    heartbeat_seconds: float = 15.0  # a comment line; with Redis also a catch-up read
    lifetime_seconds: float = 300.0  # then the browser reconnects (Last-Event-ID)
    retry_ms: int = 3000


STREAM = StreamConfig()


def local_time(value: dt.datetime) -> dt.datetime:
    aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    return aware.astimezone(SHANGHAI)


def apply_path(message: InboxMessage) -> str | None:
    """Where a message's 去申报 goes: a route that mints a fresh application link for the
    signed-in owner (no link is stored with the message); none for a 'maybe' message."""
    return f"/inbox/{message.id}/apply" if message.kind == "eligible" else None


def message_json(message: InboxMessage) -> dict[str, Any]:
    created = local_time(message.created_at)
    return {
        "id": message.id,
        "policy_id": message.policy_id,
        "kind": message.kind,
        "title": message.title,
        "body": message.body,
        "link": apply_path(message),
        "created_at": created.isoformat(),
        "created_text": created.strftime("%Y-%m-%d %H:%M"),
        "read": message.read_at is not None,
    }


# --- sign-in ------------------------------------------------------------------------------


def to_inbox() -> Response:
    response = RedirectResponse("/inbox", status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/login/{signed}", response_class=HTMLResponse, include_in_schema=False)
def login_page(
    signed: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """A login link (single sign-on stand-in) shows a confirmation and changes nothing:
    a cross-site GET cannot replace the browser's session, and a link previewer cannot
    spend the link. Already signed in as that profile: straight to /inbox."""
    profile_id = check_login_token(session, settings, signed)
    found = get_profile(session, profile_id)
    if found is None:
        raise LoginLinkInvalid("no such profile")
    current = read_session(session, request, settings, now)
    if current is not None and current.profile_id == profile_id:
        return to_inbox()
    token = csrf.form_token(request, settings)
    shown = page(
        request,
        "login_confirm.html",
        {
            "name": str(found[1].get("name") or ""),
            "switching": current is not None,
            "csrf_token": token.value,
            "action": f"/login/{signed}",
        },
    )
    token.set_on(shown, settings)
    return shown


@router.post("/login/{signed}", include_in_schema=False)
async def login(
    signed: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """The confirmation's form (same site, its CSRF token): spend the link, replace any
    earlier session with a new one, -> /inbox."""
    await csrf.verify_form(request, settings)
    return await run_in_threadpool(_sign_in, signed, request, session, settings, now)


def _sign_in(
    signed: str, request: Request, session: Session, settings: Settings, now: dt.datetime
) -> Response:
    profile_id = verify_login_token(settings, signed)
    if get_profile(session, profile_id) is None:
        raise LoginLinkInvalid("no such profile")
    earlier = read_session(session, request, settings, now)
    if earlier is not None and earlier.profile_id == profile_id:
        return to_inbox()  # signed in already (a second click on the confirmation)
    spend_login_token(session, settings, signed, now)
    if earlier is not None:
        end_session(session, earlier, now)
    web = new_session(session, settings, profile_id, now)
    session.commit()
    response = to_inbox()
    set_session_cookie(response, settings, web)
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, web: CsrfSession, session: SessionDep, now: NowDep) -> HTMLResponse:
    """Revoke the session (its cookie, wherever copied, stops working) and clear it."""
    end_session(session, web, now)
    session.commit()
    response = page(
        request, "error.html", {"title": "已退出", "status": 200, "text": "您已安全退出。"}
    )
    clear_session_cookie(response)
    return response


# --- the page -----------------------------------------------------------------------------


@router.get("/inbox", response_class=HTMLResponse, include_in_schema=False)
def inbox_page(request: Request, web: CurrentSession, session: SessionDep) -> HTMLResponse:
    messages = inbox.list_messages(session, web.profile_id, limit=100)
    found = get_profile(session, web.profile_id)
    name = str(found[1].get("name") or "") if found else ""
    return page(
        request,
        "inbox.html",
        {
            "name": name,
            "messages": [message_json(m) for m in messages],
            "unread": inbox.unread_count(session, web.profile_id),
            "after": max((m.id for m in messages), default=0),
            "csrf_token": web.csrf_token,
        },
    )


@router.get("/inbox/{message_id}/apply", include_in_schema=False)
def apply_from_inbox(
    message_id: Annotated[int, Path(ge=0, le=MAX_ID)],
    request: Request,
    web: CurrentSession,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """A fresh application link for one of the signed-in profile's messages, bound to the
    policy's current published version (only its hash is stored), and a redirect to it.
    A message of a policy no longer published gets a clear page instead."""
    message = inbox.own_message(session, web.profile_id, message_id)
    version = published_version(session, message.policy_id)
    if message.kind != "eligible" or version is None:
        return page(
            request,
            "error.html",
            {"title": "政策已更新", "status": 410, "text": GONE_TEXT},
            status_code=410,
        )
    window = compiled(version).policy.window
    url = issue_link(
        session,
        web.profile_id,
        message.policy_id,
        version.id,
        window.closes,
        utcnow(),
        settings=settings,
    )
    session.commit()
    response = RedirectResponse(url, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- JSON ---------------------------------------------------------------------------------


@router.get("/api/inbox")
def api_inbox(
    profile: CurrentProfile,
    session: SessionDep,
    limit: int = 50,
    before: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> dict[str, Any]:
    limit = max(1, min(limit, 200))
    return {
        "unread": inbox.unread_count(session, profile),
        "messages": [
            message_json(m)
            for m in inbox.list_messages(session, profile, limit=limit, before_id=before)
        ],
    }


@router.get("/api/inbox/unread-count")
def api_unread_count(profile: CurrentProfile, session: SessionDep) -> dict[str, int]:
    return {"unread": inbox.unread_count(session, profile)}


@router.post("/api/inbox/{message_id}/read")
def api_mark_read(message_id: int, web: CsrfSession, session: SessionDep) -> dict[str, Any]:
    message = inbox.mark_read(session, web.profile_id, message_id)
    session.commit()
    return {"id": message.id, "read": True, "unread": inbox.unread_count(session, web.profile_id)}


# --- Server-Sent Events -------------------------------------------------------------------


def _sse(message: dict[str, Any]) -> str:
    return f"id: {message['id']}\nevent: inbox\ndata: {json.dumps(message, ensure_ascii=False)}\n\n"


def _read_new(engine: Engine, profile_id: str, after: int) -> tuple[list[dict[str, Any]], int]:
    with Session(engine) as session:
        rows = inbox.messages_after(session, profile_id, after)
        unread = inbox.unread_count(session, profile_id) if rows else 0
        out = []
        for row in rows:
            item = message_json(row)
            item["unread"] = unread
            out.append(item)
        return out, (rows[-1].id if rows else after)


def _start_cursor(
    engine: Engine, profile_id: str, after: int | None, last_event_id: str | None
) -> int:
    if (
        last_event_id
        and last_event_id.strip().isdigit()
        and len(last_event_id.strip()) <= 19
        and int(last_event_id.strip()) <= MAX_ID
    ):  # else: not one of ours, ignored
        return int(last_event_id.strip())
    if after is not None and after >= 0:
        return after
    with Session(engine) as session:
        return inbox.latest_id(session, profile_id)


async def _events(
    request: Request, engine: Engine, profile_id: str, cursor: int, redis_url: str
) -> AsyncIterator[str]:
    config = STREAM
    yield f"retry: {config.retry_ms}\n\n"
    client: aioredis.Redis | None = None
    pubsub: Any = None
    if redis_url:
        try:
            client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=2)
            pubsub = client.pubsub()
            await pubsub.subscribe(inbox.channel_name(profile_id))
        except (RedisError, OSError):
            pubsub = None  # poll instead
    try:
        # catch up after subscribing, so a message committed in between is not missed
        messages, cursor = await run_in_threadpool(_read_new, engine, profile_id, cursor)
        for m in messages:
            yield _sse(m)
        started = last_beat = time.monotonic()
        while (left := config.lifetime_seconds - (time.monotonic() - started)) > 0:
            if await request.is_disconnected():
                break
            woke = False
            if pubsub is not None:
                try:
                    event = await pubsub.get_message(
                        ignore_subscribe_messages=True,
                        timeout=min(1.0, config.heartbeat_seconds, left),
                    )
                    woke = event is not None
                except (RedisError, OSError):
                    pubsub = None
            else:
                await asyncio.sleep(min(config.poll_seconds, left))
                woke = True
            beat = time.monotonic() - last_beat >= config.heartbeat_seconds
            if woke or beat:
                messages, cursor = await run_in_threadpool(_read_new, engine, profile_id, cursor)
                for m in messages:
                    yield _sse(m)
            if beat:
                last_beat = time.monotonic()
                yield ": heartbeat\n\n"
    finally:
        with anyio.CancelScope(shield=True), contextlib.suppress(RedisError, OSError):
            if pubsub is not None:
                await pubsub.aclose()
            if client is not None:
                await client.aclose()


@router.get("/api/inbox/stream")
async def api_inbox_stream(
    request: Request,
    web: CurrentSession,
    session: SessionDep,
    settings: SettingsDep,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events: the profile's new messages as they are created."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    session.close()  # the stream opens a short session per read; no connection is held
    cursor = await run_in_threadpool(_start_cursor, engine, web.profile_id, after, last_event_id)
    return StreamingResponse(
        _events(request, engine, web.profile_id, cursor, settings.redis_url),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
