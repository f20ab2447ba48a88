"""/me: a self-declared value re-evaluates at once; 「数据有误」 opens a dispute that an
officer corrects (re-evaluated, and the profile told) or rejects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Web, csrf_of
from tests.api.routes.me_policies import publish_all
from zhida.channels.selfservice import list_disputes, resolve_dispute
from zhida.settings import get_settings
from zhida.store.db import session_scope
from zhida.store.models import (
    Decision,
    Declaration,
    Dispute,
    InboxMessage,
    Notification,
    Profile,
)
from zhida.worker import resolve_dispute_and_plan


@pytest.fixture()
def me_web(web: Web, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Web]:
    """The /me pack published; SMS that planning queues are sent in-process (eager) on
    the same database, into a file outbox."""
    publish_all(web.url)
    monkeypatch.setenv("ZHIDA_DATABASE_URL", web.url)
    monkeypatch.setenv("ZHIDA_REDIS_URL", "")
    monkeypatch.setenv("ZHIDA_SMS_OUTBOX", str(tmp_path / "sms.jsonl"))
    get_settings.cache_clear()
    yield web
    get_settings.cache_clear()


def test_a_declared_value_decides_the_unknown_policy_at_once(me_web: Web) -> None:
    client = me_web.client()
    me_web.login(client, "E1")
    page = client.get("/me")
    assert 'name="field" value="rd_expense"' in page.text  # the answer deciding most money
    r = client.post(
        "/me/declare",
        data={"field": "rd_expense", "value": "2000000", "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 303
    items = {p["policy"]: p for p in client.get("/api/me/policies").json()}
    assert items["t-rd"]["outcome"] == "eligible" and items["t-rd"]["benefit"] == 200000
    assert "研发费用" in client.get("/me").text.split("待核实")[1][:40]
    with session_scope(me_web.url) as s:
        (decl,) = s.query(Declaration).all()
        assert (decl.profile_id, decl.field, decl.verified_at) == ("E1", "rd_expense", None)
        assert s.get(Profile, "E1").data["rd_expense"] == 2000000  # type: ignore[union-attr]
        decision = s.get(Decision, ("E1", "t-rd"))
        assert decision is not None and decision.outcome == 2  # the live path wrote it


def test_a_declared_value_plans_the_newly_eligible_policy(me_web: Web) -> None:
    client = me_web.client()
    token = me_web.login(client, "E1")
    with session_scope(me_web.url) as s:
        assert s.query(Notification).filter_by(policy_id="t-rd").count() == 0
    client.post(
        "/me/declare", data={"field": "rd_expense", "value": "2000000", "csrf_token": token}
    )
    with session_scope(me_web.url) as s:
        rows = s.query(Notification).filter_by(profile_id="E1", policy_id="t-rd").all()
        assert {r.channel for r in rows} >= {"inapp"}  # planned as after a live event


def test_a_bad_value_is_refused_and_changes_nothing(me_web: Web) -> None:
    client = me_web.client()
    token = me_web.login(client, "E1")
    r = client.post(
        "/me/declare", data={"field": "rd_expense", "value": "很多", "csrf_token": token}
    )
    assert r.status_code == 422 and "填写有误" in r.text
    no_token = client.post("/me/declare", data={"field": "rd_expense", "value": "1"})
    assert no_token.status_code == 403
    with session_scope(me_web.url) as s:
        assert s.query(Declaration).count() == 0
        assert "rd_expense" not in s.get(Profile, "E1").data  # type: ignore[union-attr]


def test_a_dispute_corrected_by_an_officer_re_evaluates_and_tells(me_web: Web) -> None:
    client = me_web.client()
    token = me_web.login(client, "E1")
    page = client.get("/me")
    assert "数据有误" in page.text  # on the near miss's value (成立日期)
    r = client.post(
        "/me/disputes",
        data={"field": "established", "policy": "t-old", "csrf_token": token},
    )
    assert r.status_code == 303 and "已收到您的反馈" in client.get(r.headers["location"]).text
    now = dt.datetime.now(dt.UTC)
    with session_scope(me_web.url) as s:
        (d,) = list_disputes(s)
        assert (d.profile_id, d.field, d.policy_id) == ("E1", "established", "t-old")
        resolve_dispute(s, d.id, 1, now, dt.date.today(), corrected="2010-05-01")
    with session_scope(me_web.url) as s:
        assert s.get(Dispute, d.id).status == "corrected"  # type: ignore[union-attr]
        assert s.get(Profile, "E1").data["established"] == "2010-05-01"  # type: ignore[union-attr]
        assert s.get(Decision, ("E1", "t-old")).outcome == 2  # type: ignore[union-attr]
        (msg,) = s.query(InboxMessage).filter_by(profile_id="E1").all()
        assert msg.kind == "notice" and "已核实并更正" in msg.body
        assert list_disputes(s) == []
    items = {p["policy"]: p for p in client.get("/api/me/policies").json()}
    assert items["t-old"]["outcome"] == "eligible"


def test_a_corrected_dispute_plans_the_newly_eligible_policy(me_web: Web) -> None:
    client = me_web.client()
    token = me_web.login(client, "E1")
    client.post("/me/disputes", data={"field": "established", "csrf_token": token})
    with session_scope(me_web.url) as s:
        (d,) = list_disputes(s)
    assert resolve_dispute_and_plan(d.id, 1, corrected="2010-05-01", settings=me_web.settings)
    with session_scope(me_web.url) as s:
        assert s.query(Notification).filter_by(profile_id="E1", policy_id="t-old").count() >= 1


def test_a_rejected_dispute_changes_nothing_but_tells(me_web: Web) -> None:
    client = me_web.client()
    token = me_web.login(client, "E1")
    client.post("/me/disputes", data={"field": "revenue", "comment": "不对", "csrf_token": token})
    with session_scope(me_web.url) as s:
        (d,) = list_disputes(s)
        assert d.comment == "不对"
        resolve_dispute(
            s, d.id, 1, dt.datetime.now(dt.UTC), dt.date.today(), comment="以税务数据为准"
        )
    with session_scope(me_web.url) as s:
        assert s.get(Profile, "E1").data["revenue"] == 150000000.0  # type: ignore[union-attr]
        (msg,) = s.query(InboxMessage).filter_by(profile_id="E1").all()
        assert "以税务数据为准" in msg.body
