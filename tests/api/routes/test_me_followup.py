"""/me's follow-up question a few days after a notice: shown when due, one CSRF-protected
tap stores a feedback event `zhida rank train` reads, answered once, only for one's own."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tests.api.conftest import Web, csrf_of
from tests.api.routes.me_policies import publish_all
from zhida.ranking.feedback import load_feedback
from zhida.store.db import session_scope
from zhida.store.models import Channel, FeedbackEvent, Notification, NotificationStatus


@pytest.fixture()
def me_web(web: Web) -> Web:
    publish_all(web.url)
    now = dt.datetime.now(dt.UTC)
    with session_scope(web.url) as s:
        # t-big: an SMS accepted 4 days ago (due); t-one: an in-app message 4 days ago
        # (due); t-two: an SMS yesterday (not yet due, default 3 days)
        s.add(
            FeedbackEvent(
                profile_id="E1",
                policy_id="t-big",
                kind="sent",
                at=now - dt.timedelta(days=4),
                detail={"channel": "sms"},
            )
        )
        s.add(
            FeedbackEvent(
                profile_id="E1",
                policy_id="t-two",
                kind="sent",
                at=now - dt.timedelta(days=1),
                detail={"channel": "sms"},
            )
        )
        s.add(
            Notification(
                profile_id="E1",
                policy_id="t-one",
                policy_version_id=1,
                channel=Channel.INAPP,
                status=NotificationStatus.SENT,
                sent_at=now - dt.timedelta(days=4),
            )
        )
    return web


def _questions(client: object) -> dict[str, bool]:
    return {p["policy"]: p["question"] for p in client.get("/api/me/policies").json()}  # type: ignore[attr-defined]


def test_the_question_is_asked_when_due_and_answered_once(me_web: Web) -> None:
    client = me_web.client()
    me_web.login(client, "E1")
    asked = _questions(client)
    assert asked["t-big"] and asked["t-one"]
    assert not asked["t-two"] and not asked["t-rd"]  # too recent; never notified
    page = client.get("/me")
    assert page.text.count('action="/me/followup/') == 2 * 5
    assert "条件不符实际" in page.text and "已享受" in page.text
    token = csrf_of(page.text)
    r = client.post("/me/followup/t-big", data={"code": "too_hard", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/me#p-t-big"
    again = client.post(
        "/api/me/followup/t-big", json={"answer": "applied"}, headers={"X-CSRF-Token": token}
    )
    assert again.status_code == 200 and again.json() == {"policy": "t-big", "answer": "too_hard"}
    assert not _questions(client)["t-big"]
    applied = client.post(
        "/api/me/followup/t-one", json={"answer": "applied"}, headers={"X-CSRF-Token": token}
    )
    assert applied.json()["answer"] == "applied"
    with session_scope(me_web.url) as s:
        rows = s.query(FeedbackEvent).filter(FeedbackEvent.kind != "sent").all()
        assert sorted((r.policy_id, r.kind, r.detail.get("reason")) for r in rows) == [
            ("t-big", "declined", "too_hard"),
            ("t-one", "applied", None),
        ]
        events = load_feedback(s)  # what `zhida rank train` reads
    mine = events.filter(pl.col("event").is_in(["declined", "applied"])).sort("policy")
    assert mine.select("profile", "policy", "event").rows() == [
        ("E1", "t-big", "declined"),
        ("E1", "t-one", "applied"),
    ]


def test_the_answer_needs_the_csrf_token_and_a_known_answer(me_web: Web) -> None:
    client = me_web.client()
    token = me_web.login(client, "E1")
    assert client.post("/me/followup/t-big", data={"code": "applied"}).status_code == 403
    bad = client.post("/me/followup/t-big", data={"code": "maybe", "csrf_token": token})
    assert bad.status_code == 409
    with session_scope(me_web.url) as s:
        assert s.query(FeedbackEvent).filter(FeedbackEvent.kind != "sent").count() == 0


def test_another_profile_cannot_answer_for_it(me_web: Web) -> None:
    client = me_web.client()
    token = me_web.login(client, "E2")
    assert not any(_questions(client).values())
    r = client.post("/me/followup/t-big", data={"code": "applied", "csrf_token": token})
    assert r.status_code == 409
    with session_scope(me_web.url) as s:
        assert s.query(FeedbackEvent).filter(FeedbackEvent.kind != "sent").count() == 0
    e1 = me_web.client()
    me_web.login(e1, "E1")
    assert _questions(e1)["t-big"]  # still asked of E1
