"""Inbox: scoping to one profile, sign-in, CSRF, the page and its JSON API."""

from __future__ import annotations

import base64
import datetime as dt
import types

import itsdangerous.timed
import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from typer.testing import CliRunner

from tests.api.conftest import SECRET, Web, csrf_of
from zhida.api.security import SESSION_COOKIE, mint_login_token
from zhida.channels import inbox
from zhida.channels.inbox import MessageNotFound, push_message
from zhida.channels.links import as_utc
from zhida.store.db import session_scope


def push(url: str, profile_id: str, title: str, **kw: object) -> int:
    with session_scope(url) as s:
        return push_message(
            s, profile_id, "zd-test-grant", title, f"{title}的正文", redis_url="", **kw
        ).id  # type: ignore[arg-type]


def test_inbox_functions_are_scoped_to_one_profile(api_db_url: str) -> None:
    a1 = push(api_db_url, "E1", "甲一")
    a2 = push(api_db_url, "E1", "甲二", kind="maybe")
    b1 = push(api_db_url, "E2", "乙一")
    with session_scope(api_db_url) as s:
        assert [m.title for m in inbox.list_messages(s, "E1")] == ["甲二", "甲一"]
        assert [m.id for m in inbox.messages_after(s, "E1", a1)] == [a2]
        assert (inbox.unread_count(s, "E1"), inbox.unread_count(s, "E2")) == (2, 1)
        with pytest.raises(MessageNotFound):
            inbox.mark_read(s, "E1", b1)  # someone else's message is "not found"
        first = inbox.mark_read(s, "E1", a1).read_at
        assert first is not None
        again = inbox.mark_read(s, "E1", a1, now=first + dt.timedelta(hours=1)).read_at
        assert again is not None and as_utc(again) == as_utc(first)  # the first read counts
        assert (inbox.unread_count(s, "E1"), inbox.unread_count(s, "E2")) == (1, 1)
        assert inbox.latest_id(s, "E1") == a2 and inbox.latest_id(s, "E9") == 0
        with pytest.raises(ValueError, match="kind"):
            push_message(s, "E1", "p", "t", "b", kind="spam")


def test_push_is_idempotent_per_notification(api_db_url: str) -> None:
    first = push(api_db_url, "E1", "通知", notification_id=41)
    again = push(api_db_url, "E1", "通知（重投）", notification_id=41)
    assert first == again
    with session_scope(api_db_url) as s:
        assert [m.title for m in inbox.list_messages(s, "E1")] == ["通知"]


def test_login_link_starts_a_session_and_shows_only_own_inbox(web: Web) -> None:
    push(web.url, "E1", "甲的消息")
    push(web.url, "E2", "乙的消息")
    client = web.client()
    csrf = web.login(client, "E1")
    page = client.get("/inbox")
    assert page.headers["content-type"].startswith("text/html")
    assert "我的消息" in page.text and "杭州测试科技有限公司" in page.text
    assert "甲的消息" in page.text and "乙的消息" not in page.text
    assert 'id="unread-count" class="badge" data-count="1"' in page.text
    assert csrf in page.text and "https://" not in page.text  # nothing from a CDN
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    data = client.get("/api/inbox").json()
    assert data["unread"] == 1 and [m["title"] for m in data["messages"]] == ["甲的消息"]
    assert client.get("/api/inbox/unread-count").json() == {"unread": 1}


def test_static_assets_are_served_locally(web_sqlite: Web) -> None:
    web = web_sqlite
    client = web.client()
    for path in ("/static/style.css", "/static/inbox.js", "/static/form.js"):
        r = client.get(path)
        assert r.status_code == 200 and len(r.text) > 100
        assert "http://" not in r.text and "https://" not in r.text


def test_mark_read_needs_csrf_and_own_message(web: Web) -> None:
    mine = push(web.url, "E1", "甲的消息")
    theirs = push(web.url, "E2", "乙的消息")
    client = web.client()
    csrf = web.login(client, "E1")
    refused = client.post(f"/api/inbox/{mine}/read")
    assert refused.status_code == 403 and refused.json()["error"] == "csrf_rejected"
    forged = csrf[:-1] + ("0" if csrf[-1] != "0" else "1")  # never the real token
    wrong = client.post(f"/api/inbox/{mine}/read", headers={"X-CSRF-Token": forged})
    assert wrong.status_code == 403
    assert client.get("/api/inbox/unread-count").json() == {"unread": 1}
    other = client.post(f"/api/inbox/{theirs}/read", headers={"X-CSRF-Token": csrf})
    assert other.status_code == 404
    ok = client.post(f"/api/inbox/{mine}/read", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json() == {"id": mine, "read": True, "unread": 0}
    with session_scope(web.url) as s:
        assert inbox.unread_count(s, "E2") == 1  # untouched


def test_csrf_token_of_one_session_does_not_work_in_another(web_sqlite: Web) -> None:
    web = web_sqlite
    mine = push(web.url, "E1", "甲的消息")
    old_client, new_client = web.client(), web.client()
    old_csrf = web.login(old_client, "E1")
    web.login(new_client, "E1")  # a new session of the same profile: a new token
    r = new_client.post(f"/api/inbox/{mine}/read", headers={"X-CSRF-Token": old_csrf})
    assert r.status_code == 403


def test_without_a_valid_session_nothing_is_shown(web_sqlite: Web) -> None:
    web = web_sqlite
    push(web.url, "E1", "甲的消息")
    client = web.client()
    page = client.get("/inbox")
    assert page.status_code == 401 and "请先登录" in page.text and "甲的消息" not in page.text
    assert client.get("/api/inbox").status_code == 401
    assert client.get("/api/inbox").json()["error"] == "not_signed_in"
    assert client.get("/api/inbox/stream").status_code == 401
    web.login(client, "E1")
    cookie = client.cookies[SESSION_COOKIE]
    _, _, signature = cookie.partition(".")
    other_payload = base64.urlsafe_b64encode(b'{"s":"x"}').rstrip(b"=").decode()
    foreign_key = URLSafeTimedSerializer("another-key", salt="zhida.session")
    for forged in (
        other_payload + "." + signature,  # payload swapped, signature kept
        foreign_key.dumps({"s": "x"}),  # signed with another key
        cookie + "x",
    ):
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, forged)
        assert client.get("/api/inbox").status_code == 401


def test_bad_login_links_are_refused(web_sqlite: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    web = web_sqlite
    client = web.client()
    good = mint_login_token(web.settings, "E1")
    for bad in (good[:-2] + "xx", mint_login_token(web.settings, "NOBODY")):
        r = client.get(f"/login/{bad}")
        assert r.status_code == 403 and "登录链接无效" in r.text
        assert SESSION_COOKIE not in client.cookies
    real = itsdangerous.timed.time
    monkeypatch.setattr(
        itsdangerous.timed, "time", types.SimpleNamespace(time=lambda: real.time() - 3600)
    )
    stale = mint_login_token(web.settings, "E1")  # minted an hour ago
    monkeypatch.setattr(itsdangerous.timed, "time", real)
    assert client.get(f"/login/{stale}").status_code == 403
    from zhida.settings import Settings

    other_key = Settings(secret_key="another-deployment")
    assert client.get(f"/login/{mint_login_token(other_key, 'E1')}").status_code == 403


def test_logout_needs_csrf_and_ends_the_session(web_sqlite: Web) -> None:
    web = web_sqlite
    client = web.client()
    csrf = web.login(client, "E1")
    assert client.post("/logout").status_code == 403  # no CSRF token
    r = client.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 200 and "已退出" in r.text
    assert client.get("/api/inbox").status_code == 401


def test_logout_revokes_the_session_on_the_server(web: Web) -> None:
    """A copy of the cookie (another tab, a stolen copy) stops working at logout."""
    client = web.client()
    csrf = web.login(client, "E1")
    copy = web.client()
    copy.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
    assert copy.get("/api/inbox").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 200
    assert copy.get("/api/inbox").status_code == 401
    assert copy.post("/logout", data={"csrf_token": csrf}).status_code == 401


def confirm_login(client: TestClient, web: Web, profile_id: str) -> tuple[str, str]:
    """GET a fresh login link: (its path, the confirmation form's CSRF token)."""
    path = f"/login/{mint_login_token(web.settings, profile_id)}"
    page = client.get(path)
    assert page.status_code == 200 and "确认登录" in page.text
    return path, csrf_of(page.text)


def test_a_login_link_works_once(web: Web) -> None:
    client = web.client()
    path, token = confirm_login(client, web, "E1")
    assert client.post(path, data={"csrf_token": token}).status_code == 303
    twice = client.post(path, data={"csrf_token": token})  # a double click: still signed in
    assert twice.status_code == 303 and twice.headers["location"] == "/inbox"
    client.cookies.delete(SESSION_COOKIE)
    replay = client.post(path, data={"csrf_token": token})
    assert replay.status_code == 403 and "登录链接无效" in replay.text
    assert SESSION_COOKIE not in client.cookies
    again = web.client().get(path)  # another browser, the same (spent) link
    assert again.status_code == 403 and "已使用" in again.text


def test_a_cross_site_login_does_not_replace_the_session(web: Web) -> None:
    """Login CSRF: a page elsewhere makes the victim's browser open the attacker's
    login link (GET) or post to it; the victim stays signed in as themselves."""
    victim = web.client()
    web.login(victim, "E1")
    mine = victim.cookies[SESSION_COOKIE]
    attacker_link = f"/login/{mint_login_token(web.settings, 'E2')}"
    page = victim.get(attacker_link, headers={"Sec-Fetch-Site": "cross-site"})
    assert page.status_code == 200 and "切换" in page.text and "宁波示例制造有限公司" in page.text
    assert victim.cookies[SESSION_COOKIE] == mine
    for headers, data in (
        ({"Sec-Fetch-Site": "cross-site"}, {}),  # a cross-site form post: no token
        ({}, {"csrf_token": "0" * 64}),  # a guessed token
        ({"Sec-Fetch-Site": "cross-site"}, {"csrf_token": csrf_of(page.text)}),
    ):
        r = victim.post(attacker_link, data=data, headers=headers)
        assert r.status_code == 403 and victim.cookies[SESSION_COOKIE] == mine
    other = web.client()  # the double-submit cookie of one browser does not fit another
    other.get(attacker_link)
    r = other.post(attacker_link, data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 403 and SESSION_COOKIE not in other.cookies
    assert victim.get("/inbox").status_code == 200
    assert "杭州测试科技有限公司" in victim.get("/inbox").text


def test_signing_in_as_another_profile_revokes_the_earlier_session(web: Web) -> None:
    client = web.client()
    web.login(client, "E1")
    earlier = client.cookies[SESSION_COOKIE]
    path, token = confirm_login(client, web, "E2")
    assert client.post(path, data={"csrf_token": token}).status_code == 303
    assert "宁波示例制造有限公司" in client.get("/inbox").text
    copy = web.client()
    copy.cookies.set(SESSION_COOKIE, earlier)
    assert copy.get("/api/inbox").status_code == 401


def test_a_login_link_for_the_signed_in_profile_goes_to_the_inbox(web_sqlite: Web) -> None:
    web = web_sqlite
    client = web.client()
    web.login(client, "E1")
    r = client.get(f"/login/{mint_login_token(web.settings, 'E1')}")
    assert r.status_code == 303 and r.headers["location"] == "/inbox"


def test_cli_login_link(web_sqlite: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    web = web_sqlite
    from zhida.cli.main import app
    from zhida.settings import get_settings

    monkeypatch.setenv("ZHIDA_DATABASE_URL", web.url)
    monkeypatch.setenv("ZHIDA_SECRET_KEY", SECRET)
    monkeypatch.setenv("ZHIDA_BASE_URL", "http://testserver")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["login-link", "E2"])
        missing = CliRunner().invoke(app, ["login-link", "NOBODY"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    url = result.stdout.strip().splitlines()[0]
    assert url.startswith("http://testserver/login/")
    client = web.client()
    path = url.removeprefix("http://testserver")
    confirm = client.get(path)
    assert confirm.status_code == 200 and "宁波示例制造有限公司" in confirm.text
    r = client.post(path, data={"csrf_token": csrf_of(confirm.text)})
    assert r.status_code == 303
    assert "宁波示例制造有限公司" in client.get("/inbox").text
    assert missing.exit_code == 1 and "no profile 'NOBODY'" in missing.output


def test_message_times_are_shown_in_shanghai(web: Web) -> None:
    with session_scope(web.url) as s:
        m = push_message(s, "E1", "p", "时间", "正文", kind="maybe", redis_url="")
        m.created_at = dt.datetime(2026, 6, 30, 16, 30, tzinfo=dt.UTC)
    client = web.client()
    web.login(client, "E1")
    item = client.get("/api/inbox").json()["messages"][0]
    assert item["created_text"] == "2026-07-01 00:30" and item["link"] is None  # maybe: none
    assert csrf_of(client.get("/inbox").text)


def test_message_text_is_escaped(web_sqlite: Web) -> None:
    web = web_sqlite
    mid = push(web.url, "E1", '<script>alert("x")</script>')
    client = web.client()
    web.login(client, "E1")
    page = client.get("/inbox").text
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert client.get("/api/inbox").json()["messages"][0]["link"] == f"/inbox/{mid}/apply"


def test_integers_beyond_the_database_range_are_refused_not_500(web_sqlite: Web) -> None:
    client = web_sqlite.client()
    web_sqlite.login(client, "E1")
    huge = "100000000000000000000"
    assert client.get(f"/api/inbox?before={huge}").status_code == 422
    assert client.get("/api/inbox?before=-1").status_code == 422
    assert client.get(f"/api/inbox?before={2**63 - 1}").status_code == 200
    assert client.get(f"/api/inbox/stream?after={huge}").status_code == 422


def test_a_huge_last_event_id_is_ignored() -> None:
    from zhida.api.routes.inbox import _start_cursor

    assert _start_cursor(None, "E1", 7, "100000000000000000000") == 7  # type: ignore[arg-type]
    assert _start_cursor(None, "E1", 7, "12") == 12  # type: ignore[arg-type]


def test_a_trailing_slash_redirects_within_the_site_whatever_the_host(web_sqlite: Web) -> None:
    client = web_sqlite.client()
    r = client.get("/inbox/?x=1", headers={"Host": "evil.example.com"})
    assert r.status_code == 307 and r.headers["location"] == "/inbox?x=1"


def test_the_inbox_mints_a_fresh_link_for_its_signed_in_owner(web_sqlite: Web) -> None:
    """No link is stored with a message: 去申报 mints one (kept only as its hash), bound
    to the policy's current version, for the message's owner alone."""
    from sqlalchemy import select

    from tests.api.conftest import policy_text, publish
    from zhida.channels.links import resolve_token
    from zhida.store.models import PolicyVersion

    web = web_sqlite
    mid = push(web.url, "E1", "通知")
    client = web.client()
    web.login(client, "E1")
    assert client.get("/api/inbox").json()["messages"][0]["link"] == f"/inbox/{mid}/apply"
    tokens = []
    for _ in range(2):
        r = client.get(f"/inbox/{mid}/apply", follow_redirects=False)
        assert r.status_code == 303 and r.headers["cache-control"] == "no-store"
        assert r.headers["location"].startswith(f"{web.settings.base_url}/a/")
        tokens.append(r.headers["location"].rsplit("/", 1)[1])
    assert tokens[0] != tokens[1]  # fresh each time
    with session_scope(web.url) as s:
        row = resolve_token(s, tokens[0], dt.datetime.now(dt.UTC))
        assert (row.profile_id, row.policy_version_id) == ("E1", web.version_id)
    assert client.get(f"/a/{tokens[0]}").status_code == 200  # the form opens
    other = web.client()
    web.login(other, "E2")
    assert other.get(f"/inbox/{mid}/apply", follow_redirects=False).status_code == 404
    v2 = publish(web.url, policy_text(threshold="2亿"))
    r = client.get(f"/inbox/{mid}/apply", follow_redirects=False)
    with session_scope(web.url) as s:
        token = r.headers["location"].rsplit("/", 1)[1]
        assert resolve_token(s, token, dt.datetime.now(dt.UTC)).policy_version_id == v2
        for v in s.scalars(select(PolicyVersion)):
            v.status = "retired"  # withdrawn
    r = client.get(f"/inbox/{mid}/apply", follow_redirects=False)
    assert r.status_code == 410 and "政策已更新" in r.text
