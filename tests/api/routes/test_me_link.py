"""`BASE/m/TOKEN`, a digest SMS's link: it opens `/me` for its profile only; a forged,
expired or wrong-kind token is refused and reveals nothing."""

from __future__ import annotations

import datetime as dt

from tests.api.conftest import POLICY_ID, TITLE, Web, csrf_of
from zhida.api.security import SESSION_COOKIE
from zhida.channels.links import new_me_link
from zhida.store.db import session_scope
from zhida.store.models import ApplicationToken


def me_link(web: Web, profile_id: str, now: dt.datetime | None = None) -> str:
    """A policy-page link's path (/m/TOKEN), stored as a digest's sender stores it."""
    url, row = new_me_link(profile_id, None, now or dt.datetime.now(dt.UTC), web.settings)
    with session_scope(web.url) as s:
        s.add(ApplicationToken(**row._asdict()))
    return url.removeprefix(web.settings.base_url)


def test_the_link_opens_me_for_its_profile_only(web: Web) -> None:
    client = web.client()
    r = client.get(me_link(web, "E1"))
    assert r.status_code == 303 and r.headers["location"] == "/me"
    page = client.get("/me")
    assert page.status_code == 200 and "杭州测试科技有限公司" in page.text
    assert "宁波示例制造有限公司" not in page.text
    assert client.get("/api/me/policies").status_code == 200
    other = web.client()  # another browser without the link: nothing
    assert other.get("/me").status_code in (303, 401)


def test_forged_expired_and_wrong_kind_tokens_are_refused_and_reveal_nothing(web: Web) -> None:
    client = web.client()
    path = me_link(web, "E1")
    token = path.removeprefix("/m/")
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    expired = me_link(web, "E1", now=dt.datetime.now(dt.UTC) - dt.timedelta(days=31))
    application = web.link("E1")  # an application token does not open /m/ ...
    for bad, status, words in (
        (f"/m/{tampered}", 404, "链接无效"),
        ("/m/abc", 404, "链接无效"),
        (expired, 410, "链接已过期"),
        ("/m/" + application.removeprefix("/a/"), 404, "链接无效"),
        ("/a/" + token, 404, "链接无效"),  # ... nor a page token /a/
    ):
        r = client.get(bad)
        assert r.status_code == status, bad
        assert words in r.text
        for secret in (TITLE, "杭州测试科技有限公司", "E1", POLICY_ID):
            assert secret not in r.text
        assert "set-cookie" not in r.headers
    assert client.get("/api/me/policies").status_code == 401


def test_a_cross_site_link_of_another_profile_asks_before_switching(web: Web) -> None:
    client = web.client()
    web.login(client, "E1")
    mine = client.cookies[SESSION_COOKIE]
    theirs = me_link(web, "E2")
    r = client.get(theirs, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200 and "切换账号" in r.text
    assert "宁波示例制造有限公司" not in r.text and client.cookies[SESSION_COOKIE] == mine
    refused = client.post(f"{theirs}/switch", data={}, headers={})
    assert refused.status_code == 403 and client.cookies[SESSION_COOKIE] == mine
    ok = client.post(f"{theirs}/switch", data={"csrf_token": csrf_of(r.text)})
    assert ok.status_code == 303 and ok.headers["location"] == "/me"
    assert "宁波示例制造有限公司" in client.get("/me").text
