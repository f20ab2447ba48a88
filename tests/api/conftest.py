"""Fixtures for the web part: an app on a given database, a published policy, profiles, links."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.support.app_factories import app_for
from zhida.channels.links import issue_link
from zhida.publishing.officers import add_officer
from zhida.publishing.versions import approve, submit
from zhida.settings import Settings
from zhida.store.db import session_factory, session_scope
from zhida.store.models import Profile

IN_CI = os.environ.get("CI", "").lower() == "true"
SECRET = "test-secret-key"
TODAY = dt.datetime.now(dt.UTC).date()
OPENS = TODAY - dt.timedelta(days=30)
CLOSES = TODAY + dt.timedelta(days=60)
POLICY_ID = "zd-test-grant"
TITLE = "测试市高新技术企业培育奖励"

POLICY = f"""id: {POLICY_ID}
title: {TITLE}
department: 测试市科学技术局
audience: enterprise
window: {{opens: {OPENS.isoformat()}, closes: {CLOSES.isoformat()}}}
benefit:
  amount: THRESHOLD_BENEFIT
  summary: 一次性奖励
apply:
  form:
    企业名称: name
    统一社会信用代码: uscc
    上年度营业收入（万元）: revenue / 1万
    成立日期: established
    高新技术企业: high_tech
criteria:
  - {{id: revenue, label: 上年度营业收入不低于THRESHOLD, when: revenue >= THRESHOLD}}
  - {{id: age, label: 成立满3年, when: years_since(established) >= 3}}
tests:
  - name: 合格
    as_of: 2026-04-01
    profile: {{revenue: 5亿, established: 2019-05-01}}
    expect: eligible
"""

PROFILES: dict[str, dict[str, Any]] = {
    "E1": {
        "id": "E1",
        "name": "杭州测试科技有限公司",
        "uscc": "91330106MA27XK0E8J",
        "region": "330106",
        "established": "2019-05-01",
        "revenue": 150000000.0,
        "employees": 120,
        "high_tech": True,
        "phone": "+8613800000001",
    },
    "E2": {
        "id": "E2",
        "name": "宁波示例制造有限公司",
        "uscc": "91330302MA2CQ1HY0F",
        "region": "330212",
        "established": "2015-03-12",
        "revenue": 300000000.0,
        "employees": 400,
        "high_tech": False,
        "phone": "+8613800000002",
    },
    "E3": {
        "id": "E3",
        "name": "温州初创电子有限公司",
        "region": "330302",
        "established": "2024-01-01",
        "revenue": 2000000.0,
        "employees": 8,
        "phone": "+8613800000003",
    },
}


def policy_text(threshold: str = "1亿", benefit: str = "20万") -> str:
    return POLICY.replace("THRESHOLD_BENEFIT", benefit).replace("THRESHOLD", threshold)


def publish(url: str, text: str | None = None) -> int:
    """Submit and approve a policy text; the new version's id."""
    with session_scope(url) as s:
        from sqlalchemy import select

        from zhida.store.models import Officer

        officer = s.scalar(select(Officer).where(Officer.name == "admin"))
        if officer is None:
            officer = add_officer(s, "admin", "admin")[0]
        version = submit(s, officer, text or policy_text(), f"{POLICY_ID}.yaml")
        approve(s, officer, version, None, allow_self_approval=True)
        return version.id


def add_profiles(url: str, ids: tuple[str, ...] = ("E1", "E2", "E3")) -> None:
    with session_scope(url) as s:
        s.add_all(
            Profile(id=i, kind="enterprise", data=dict(PROFILES[i]), source="test") for i in ids
        )


def make_settings(url: str, base_url: str = "http://testserver", redis_url: str = "") -> Settings:
    return Settings(database_url=url, base_url=base_url, redis_url=redis_url, secret_key=SECRET)


def make_app(settings: Settings) -> FastAPI:
    return app_for(settings.database_url, lambda: settings)


@dataclass
class Web:
    url: str
    settings: Settings
    app: FastAPI
    version_id: int

    def client(self) -> TestClient:
        """A new browser: its own cookie jar."""
        return TestClient(self.app, base_url="http://testserver", follow_redirects=False)

    def link(
        self,
        profile_id: str = "E1",
        *,
        now: dt.datetime | None = None,
        closes: dt.date | None = CLOSES,
        version_id: int | None = None,
    ) -> str:
        """A fresh application link's path (/a/TOKEN)."""
        with session_scope(self.url) as s:
            url = issue_link(
                s,
                profile_id,
                POLICY_ID,
                version_id or self.version_id,
                closes,
                now or dt.datetime.now(dt.UTC),
                settings=self.settings,
            )
        assert url.startswith(self.settings.base_url)
        return url.removeprefix(self.settings.base_url)

    def login(self, client: TestClient, profile_id: str) -> str:
        """Sign the client in as a profile; the CSRF token of its session."""
        from zhida.api.security import mint_login_token

        path = f"/login/{mint_login_token(self.settings, profile_id)}"
        confirm = client.get(path)
        assert confirm.status_code == 200 and "确认登录" in confirm.text
        r = client.post(path, data={"csrf_token": csrf_of(confirm.text)})
        assert r.status_code == 303 and r.headers["location"] == "/inbox"
        page = client.get("/inbox")
        assert page.status_code == 200
        return csrf_of(page.text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf[-_]token" (?:value|content)="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


_INPUT = re.compile(r"<input\b([^>]*)>")
_SELECT = re.compile(r"<select\b([^>]*)>(.*?)</select>", re.S)
_ATTR = re.compile(r'([\w-]+)="([^"]*)"')


def form_data(html: str) -> dict[str, str]:
    """What the page's form would post as it is: every named input (hidden ones, the
    CSRF token and the form's version included) and each select's chosen option."""
    import html as html_lib

    out: dict[str, str] = {}
    for attrs in _INPUT.findall(html):
        a = dict(_ATTR.findall(attrs))
        if "name" in a:
            out[a["name"]] = html_lib.unescape(a.get("value", ""))
    for attrs, options in _SELECT.findall(html):
        a = dict(_ATTR.findall(attrs))
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        if "name" in a:
            out[a["name"]] = html_lib.unescape(chosen.group(1)) if chosen else ""
    return out


def session_for(url: str) -> Session:
    return session_factory(url)()


@pytest.fixture(scope="session")
def shared_pg_url(pg_admin_url: str) -> Iterator[str]:
    """One migrated PostgreSQL database for these tests (emptied before each test)."""
    from tests.conftest import migrated_database

    with migrated_database(pg_admin_url, "zhida_api") as url:
        yield url


@pytest.fixture()
def fast_pg_url(shared_pg_url: str) -> str:
    """The shared database, emptied (much faster than a new database per test)."""
    from tests.support.scratch import empty_tables

    empty_tables(shared_pg_url)
    return shared_pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
def api_db_url(request: pytest.FixtureRequest) -> str:
    """Both databases; PostgreSQL as one shared database emptied per test."""
    name = "sqlite_url" if request.param == "sqlite" else "fast_pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture()
def web(api_db_url: str) -> Web:
    add_profiles(api_db_url)
    version_id = publish(api_db_url)
    settings = make_settings(api_db_url)
    return Web(api_db_url, settings, make_app(settings), version_id)


@pytest.fixture()
def web_sqlite(sqlite_url: str) -> Web:
    add_profiles(sqlite_url)
    version_id = publish(sqlite_url)
    settings = make_settings(sqlite_url)
    return Web(sqlite_url, settings, make_app(settings), version_id)
