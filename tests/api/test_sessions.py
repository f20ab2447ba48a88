"""zhida/api/sessions.py: server-side sessions (start, read, revoke) and single-use tokens,
on both databases, through a real Starlette request and response."""

from __future__ import annotations

import datetime as dt
import threading

from fastapi import Response
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from starlette.requests import Request

from tests.api.conftest import make_settings
from zhida.api import sessions
from zhida.redact import hash_token
from zhida.store.db import session_scope
from zhida.store.models import AuthSession

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
OFFICER = sessions.SessionKind("officer", "zhida_officer", 3600, "zhida.officer")


def request_with(cookies: dict[str, str]) -> Request:
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return Request({"type": "http", "headers": [(b"cookie", header.encode())] if header else []})


def cookie_of(response: Response, kind: sessions.SessionKind) -> dict[str, str]:
    raw = response.headers["set-cookie"]
    name, _, rest = raw.partition("=")
    assert name == kind.cookie and "HttpOnly" in raw and "samesite=lax" in raw.lower()
    return {name: rest.split(";")[0]}


def test_a_session_is_a_row_and_the_cookie_holds_only_its_signed_id(db_url: str) -> None:
    settings = make_settings(db_url)
    with session_scope(db_url) as db:
        active = sessions.start(db, settings, sessions.PROFILE, "E1", NOW)
        response = Response()
        sessions.set_cookie(response, settings, sessions.PROFILE, active)
    cookies = cookie_of(response, sessions.PROFILE)
    signer = URLSafeTimedSerializer(settings.secret_key, salt=sessions.PROFILE.salt)
    assert signer.loads(cookies["zhida_session"]) == {"s": active.id}  # no profile id
    with session_scope(db_url) as db:
        row = db.scalar(select(AuthSession))
        assert row is not None and row.id_hash == hash_token(active.id) and row.subject == "E1"
        found = sessions.read(db, settings, request_with(cookies), sessions.PROFILE, NOW)
        assert found == active
        # another kind's cookie name, another kind's rows: nothing
        assert sessions.read(db, settings, request_with(cookies), OFFICER, NOW) is None
        late = NOW + dt.timedelta(seconds=sessions.PROFILE.max_age + 1)
        assert sessions.read(db, settings, request_with(cookies), sessions.PROFILE, late) is None
        sessions.revoke(db, active, NOW)
    with session_scope(db_url) as db:
        assert sessions.read(db, settings, request_with(cookies), sessions.PROFILE, NOW) is None


def test_revoke_subject_ends_every_session_of_one_officer(db_url: str) -> None:
    settings = make_settings(db_url)
    with session_scope(db_url) as db:
        mine = [sessions.start(db, settings, OFFICER, "alice", NOW) for _ in range(2)]
        theirs = sessions.start(db, settings, OFFICER, "bob", NOW)
        same_name = sessions.start(db, settings, sessions.PROFILE, "alice", NOW)
    with session_scope(db_url) as db:
        assert sessions.revoke_subject(db, OFFICER, "alice", NOW) == 2
    with session_scope(db_url) as db:
        for active, kind, alive in (
            (mine[0], OFFICER, False),
            (mine[1], OFFICER, False),
            (theirs, OFFICER, True),
            (same_name, sessions.PROFILE, True),
        ):
            response = Response()
            sessions.set_cookie(response, settings, kind, active)
            found = sessions.read(db, settings, request_with(cookie_of(response, kind)), kind, NOW)
            assert (found is not None) is alive
        later = NOW + dt.timedelta(days=2)
        assert sessions.purge(db, later) == 4
        sessions.start(db, settings, OFFICER, "carol", NOW)
        sessions.start(db, settings, OFFICER, "dave", later)  # drops carol's, over a day
        assert [r.subject for r in db.scalars(select(AuthSession))] == ["dave"]


def test_a_token_is_spent_once_even_when_two_requests_race(db_url: str) -> None:
    expires = NOW + dt.timedelta(minutes=11)
    with session_scope(db_url) as db:
        assert sessions.spend_once(db, "tok-1", "login", expires, NOW)
        assert not sessions.spend_once(db, "tok-1", "login", expires, NOW)
        assert sessions.spent(db, "tok-1") and not sessions.spent(db, "tok-2")
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def spend() -> None:
        with session_scope(db_url) as db:
            barrier.wait()
            results.append(sessions.spend_once(db, "tok-race", "login", expires, NOW))

    threads = [threading.Thread(target=spend) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    with session_scope(db_url) as db:  # past their expiry the rows go
        after = expires + dt.timedelta(seconds=1)
        assert sessions.spend_once(db, "tok-3", "login", after + dt.timedelta(minutes=5), after)
        assert not sessions.spent(db, "tok-1")
