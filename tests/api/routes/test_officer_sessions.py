"""Officers signing in to the console: password (argon2, set with `zhida officers`),
the server-side session cookie, CSRF on every form and fetch, sign-out that revokes,
and the pages behind it, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.api.conftest import POLICY_ID, Web, add_profiles, make_app, make_settings, publish
from tests.api.conftest import policy_text as draft_text
from tests.support.cli import run_cli
from zhida.api.officer_sessions import OFFICER
from zhida.publishing.officers import add_officer
from zhida.settings import get_settings
from zhida.store.db import session_scope
from zhida.store.models import AuditLog, AuthSession, Officer, PolicyVersion

API = "/api/officer"
PASSWORD = "correct-horse-battery"


@pytest.fixture()
def web(api_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    monkeypatch.setenv("ZHIDA_DATABASE_URL", api_db_url)
    monkeypatch.setenv("ZHIDA_REDIS_URL", "")
    get_settings.cache_clear()
    add_profiles(api_db_url)
    version_id = publish(api_db_url)
    with session_scope(api_db_url) as s:
        add_officer(s, "alice", "author", password=PASSWORD)
        add_officer(s, "bob", "approver", password=PASSWORD + "-bob")
        add_officer(s, "tokenonly", "author")
    settings = make_settings(api_db_url)
    yield Web(api_db_url, settings, make_app(settings), version_id)
    get_settings.cache_clear()


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the form"
    return found.group(1)


def sign_in(
    client: TestClient, name: str = "alice", password: str = PASSWORD, next: str = "/officer"
) -> str:
    """Sign in through the form; the session's CSRF token (from a page)."""
    page = client.get("/officer/login")
    assert page.status_code == 200
    r = client.post(
        "/officer/login",
        data={
            "name": name,
            "password": password,
            "next": next,
            "csrf_token": form_token(page.text),
        },
    )
    assert r.status_code == 303, r.text
    me = client.get(f"{API}/me").json()
    assert me["name"] == name
    return str(me["csrf_token"])


def audit_actions(url: str) -> list[str]:
    with session_scope(url) as s:
        return list(s.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def test_password_is_stored_as_an_argon2_hash(web: Web) -> None:
    with session_scope(web.url) as s:
        stored = s.scalar(select(Officer.password_hash).where(Officer.name == "alice"))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored


def test_sign_in_sets_a_session_that_signs_out_for_good(web: Web) -> None:
    client = web.client()
    assert client.get("/officer").status_code == 303  # not signed in: to the login page
    assert client.get("/officer").headers["location"] == "/officer/login?next=%2Fofficer"
    csrf = sign_in(client, next="/officer/audit")
    cookie = client.cookies.get(OFFICER.cookie)
    assert cookie
    page = client.get("/officer")
    assert page.status_code == 200 and "测试市高新技术企业培育奖励" in page.text
    assert f'content="{csrf}"' in page.text
    with session_scope(web.url) as s:
        row = s.scalars(select(AuthSession).where(AuthSession.kind == "officer")).one()
        assert row.revoked_at is None and cookie not in row.id_hash

    out = client.post("/officer/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/officer/login"
    replay = web.client()
    replay.cookies.set(OFFICER.cookie, cookie)  # the old cookie, kept by an attacker
    assert replay.get(f"{API}/me").status_code == 401
    assert replay.get("/officer").status_code == 303
    assert audit_actions(web.url)[-2:] == ["officer.sign_in", "officer.sign_out"]


def test_login_redirects_only_inside_the_console(web: Web) -> None:
    client = web.client()
    page = client.get("/officer/login")
    r = client.post(
        "/officer/login",
        data={
            "name": "alice",
            "password": PASSWORD,
            "next": "//evil.example/officer",
            "csrf_token": form_token(page.text),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/officer"


@pytest.mark.parametrize(
    ("name", "password"),
    [("alice", "wrong-password-1"), ("nobody", PASSWORD), ("tokenonly", "")],
)
def test_wrong_password_is_refused_and_audited(web: Web, name: str, password: str) -> None:
    client = web.client()
    page = client.get("/officer/login")
    r = client.post(
        "/officer/login",
        data={"name": name, "password": password, "csrf_token": form_token(page.text)},
    )
    assert r.status_code == 401 and "账号或密码不正确" in r.text
    assert OFFICER.cookie not in client.cookies
    assert audit_actions(web.url)[-1] == "officer.sign_in_refused"
    with session_scope(web.url) as s:
        assert s.scalar(select(func.count()).select_from(AuthSession)) == 0


def test_login_without_its_csrf_token_is_refused(web: Web) -> None:
    client = web.client()
    client.get("/officer/login")
    before = audit_actions(web.url)
    r = client.post("/officer/login", data={"name": "alice", "password": PASSWORD})
    assert r.status_code == 403
    forged = client.post(
        "/officer/login", data={"name": "alice", "password": PASSWORD, "csrf_token": "x" * 64}
    )
    assert forged.status_code == 403
    assert OFFICER.cookie not in client.cookies and audit_actions(web.url) == before


def test_session_changes_need_the_csrf_token(web: Web) -> None:
    client = web.client()
    csrf = sign_in(client)

    def versions() -> int:
        with session_scope(web.url) as s:
            return s.scalar(select(func.count()).select_from(PolicyVersion)) or 0

    before = versions()
    body = {"yaml": draft_text("2亿")}
    assert client.post(f"{API}/check", json=body).status_code == 200  # a read: no token
    missing = client.post(f"{API}/policies", json=body)
    assert missing.status_code == 403 and missing.json()["error"] == "csrf_rejected"
    wrong = client.post(f"{API}/policies", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    cross = client.post(
        f"{API}/policies", json=body, headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    assert versions() == before
    ok = client.post(f"{API}/policies", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201 and versions() == before + 1
    assert client.post("/officer/logout").status_code == 403  # the form needs it too


def test_tampered_session_cookie_is_refused(web: Web) -> None:
    client = web.client()
    sign_in(client)
    cookie = client.cookies.get(OFFICER.cookie)
    assert cookie
    for bad in (cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"), "garbage", ""):
        other = web.client()
        other.cookies.set(OFFICER.cookie, bad)
        assert other.get(f"{API}/me").status_code == 401
        assert other.get("/officer/runs").status_code == 303
    # a citizen's session cookie is not an officer's
    citizen = web.client()
    citizen.cookies.set("zhida_session", cookie)
    assert citizen.get(f"{API}/me").status_code == 401


def test_cli_sets_passwords_and_disabling_ends_sessions(web: Web) -> None:
    env = {"ZHIDA_DATABASE_URL": web.url}
    added = run_cli(
        "officers",
        "add",
        "carol",
        "--role",
        "approver",
        "--password",
        env=env,
        input="carol-password-1\n",
    )
    assert added.returncode == 0, added.stderr
    client = web.client()
    sign_in(client, "carol", "carol-password-1")
    assert run_cli("officers", "password", "carol", env=env, input="short\n").returncode == 1
    changed = run_cli("officers", "password", "carol", env=env, input="carol-password-2\n")
    assert changed.returncode == 0 and "sessions ended" in changed.stdout
    assert client.get(f"{API}/me").status_code == 401  # the new password ended the session
    sign_in(client, "carol", "carol-password-2")
    assert run_cli("officers", "disable", "carol", env=env).returncode == 0
    assert client.get(f"{API}/me").status_code == 401
    page = client.get("/officer/login")
    refused = client.post(
        "/officer/login",
        data={"name": "carol", "password": "carol-password-2", "csrf_token": form_token(page.text)},
    )
    assert refused.status_code == 401
    listed = run_cli("officers", "list", env=env)
    assert "carol" in listed.stdout and "停用" in listed.stdout
    assert run_cli("officers", "enable", "carol", env=env).returncode == 0
    token = run_cli("officers", "token", "carol", "--token-days", "7", env=env)
    assert token.returncode == 0
    bearer = web.client()
    bearer.headers["Authorization"] = f"Bearer {token.stdout.strip().splitlines()[-1]}"
    assert bearer.get(f"{API}/me").json()["role"] == "approver"
    assert run_cli("officers", "role", "carol", "admin", env=env).returncode == 0
    assert bearer.get(f"{API}/me").json()["may_manage"] is True


def test_every_page_renders_for_a_signed_in_officer(web: Web) -> None:
    bob = web.client()
    csrf = sign_in(bob, "bob", PASSWORD + "-bob")
    alice = web.client()
    alice_csrf = sign_in(alice)
    r = alice.post(
        f"{API}/policies", json={"yaml": draft_text("2亿")}, headers={"X-CSRF-Token": alice_csrf}
    )
    assert r.status_code == 201
    pages = {
        "/officer": ["政策", POLICY_ID, "1 个待审核"],
        f"/officer/review/{POLICY_ID}/2": ["与现行版本的差异", "批准发布", 'id="diff"'],
        "/officer/runs": ["评估任务"],
        "/officer/lookup?q=宁波": ["宁波示例制造有限公司"],
        "/officer/profiles/E2?policy=" + POLICY_ID: ["判定解释", "宁波示例制造有限公司"],
        f"/officer/results/{POLICY_ID}": ["知晓覆盖率", "申报率", "兑现率"],
        "/officer/audit": ["操作日志", "提交政策"],
    }
    for path, expected in pages.items():
        page = bob.get(path)
        assert page.status_code == 200, path
        for text in expected:
            assert text in page.text, (path, text)
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "https://" not in page.text  # nothing from a CDN
        assert f'name="csrf_token" value="{csrf}"' in page.text  # the sign-out form
    own = alice.get(f"/officer/review/{POLICY_ID}/2")
    assert "须由另一位审核人批准" in own.text and "批准发布" not in own.text
    editor = alice.get(f"/officer/editor?policy={POLICY_ID}")
    assert editor.status_code == 200 and "/static/officer/editor.js" in editor.text
    nonce = re.search(r'name="style-nonce" content="([^"]+)"', editor.text)
    assert nonce and f"'nonce-{nonce.group(1)}'" in editor.headers["content-security-policy"]
    assert "'nonce-" not in bob.get("/officer").headers["content-security-policy"]
    for asset in (
        "editor.js",
        "console.js",
        "editor-page.js",
        "review.js",
        "run.js",
        "console.css",
    ):
        assert bob.get(f"/static/officer/{asset}").status_code == 200, asset


def test_a_disabled_officer_session_stops_at_once(web: Web) -> None:
    """Even a session nobody revoked: the officer's flag is read on every request."""
    client = web.client()
    sign_in(client)
    with session_scope(web.url) as s:
        officer = s.scalar(select(Officer).where(Officer.name == "alice"))
        assert officer is not None
        officer.active = False
    assert client.get(f"{API}/me").status_code == 401
    assert client.get("/officer").status_code == 303


def test_audit_page_pages_back_with_its_filter(web: Web) -> None:
    from zhida.publishing.audit import audit

    with session_scope(web.url) as s:
        for i in range(105):
            audit(s, None, "policy.submit", f"p&{i}", {})
    client = web.client()
    sign_in(client)
    page = client.get("/officer/audit", params={"action": "policy.", "subject": "p&"})
    assert page.text.count("<tr><td") == 100
    more = re.search(r'href="(/officer/audit\?before=[^"]+)"', page.text)
    assert more and "&amp;subject=p%26" in more.group(1)
    older = client.get(more.group(1).replace("&amp;", "&"))
    assert older.text.count("<tr><td") == 5 and "p&amp;4<" in older.text


def test_sign_in_is_throttled_after_repeated_refusals(web: Web) -> None:
    from zhida.api.officer_sessions import MAX_REFUSALS

    client = web.client()
    token = form_token(client.get("/officer/login").text)

    def attempt(password: str) -> int:
        data = {"name": "alice", "password": password, "csrf_token": token}
        return client.post("/officer/login", data=data).status_code

    assert [attempt("wrong-password-1") for _ in range(MAX_REFUSALS)] == [401] * MAX_REFUSALS
    r = client.post(
        "/officer/login", data={"name": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 429 and "登录失败次数过多" in r.text
    assert OFFICER.cookie not in client.cookies
    assert audit_actions(web.url)[-1] == "officer.sign_in_throttled"
    sign_in(web.client(), "bob", PASSWORD + "-bob")  # another officer is not held up
