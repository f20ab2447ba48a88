"""SMS digests: what one recipient is planned within the window goes out as one SMS.

Planned and sent against the real clock (the sender claims by it): "an hour ago" is
planning with `now` an hour back. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import functools
import re

from sqlalchemy import func, select, update

from tests.channels.test_plan import company
from tests.support.factories import make_frame, published_row, store_profiles
from zhida.channels.delivery import batch
from zhida.channels.delivery.sweep import due_sms, sweep
from zhida.channels.plan import plan_notifications
from zhida.channels.ratelimit import LocalTokenBucket
from zhida.channels.sms.recording import RecordingProvider
from zhida.channels.templates import chinese_date
from zhida.clock import shanghai_date, utcnow
from zhida.profiles.schema import builtin_schema
from zhida.settings import Settings
from zhida.store.db import session_scope
from zhida.store.models import (
    ApplicationToken,
    Decision,
    FeedbackEvent,
    Notification,
    OptOut,
    Transition,
)

PHONE = "+8613812345678"
HOUR = dt.timedelta(minutes=61)
POLICY = """id: {pid}
title: 测试政策{pid}
audience: enterprise
{window}criteria:
  - {{id: rev, label: 营收不低于1亿元, when: revenue >= 1亿}}
"""


def settings(**kw: object) -> Settings:
    values: dict[str, object] = {
        "quiet_start_hour": 0,
        "quiet_end_hour": 0,
        "sms_rate_per_second": 10_000,
        "base_url": "https://zlb.example.gov.cn",
    }
    return Settings(**{**values, **kw})  # type: ignore[arg-type]


def in_days(n: int) -> dt.date:
    return shanghai_date(utcnow()) + dt.timedelta(days=n)


def add_policies(url: str, policies: dict[str, dt.date | None]) -> dict[str, int]:
    """Published versions; a policy's window closes on the date given (None: never)."""
    out = {}
    with session_scope(url) as s:
        for pid, closes in policies.items():
            window = f"window: {{opens: 2026-01-01, closes: {closes}}}\n" if closes else ""
            out[pid] = published_row(s, pid, POLICY.format(pid=pid, window=window))
    return out


def eligible(
    url: str, versions: dict[str, int], pairs: list[tuple[str, str, float | None]]
) -> None:
    """Transitions into eligibility with their stored decisions (profile, policy, benefit)."""
    with session_scope(url) as s:
        for profile_id, pid, benefit in pairs:
            v = versions[pid]
            s.merge(
                Decision(
                    profile_id=profile_id,
                    policy_id=pid,
                    policy_version_id=v,
                    outcome=2,
                    benefit=benefit,
                )
            )
            s.add(
                Transition(
                    run_id=1,
                    profile_id=profile_id,
                    policy_id=pid,
                    policy_version_id=v,
                    from_outcome=0,
                    to_outcome=2,
                )
            )


def profiles(url: str, *rows: dict) -> None:
    with session_scope(url) as s:
        store_profiles(s, make_frame(list(rows), builtin_schema("enterprise")))


def plan(url: str, now: dt.datetime, **kw: object):  # type: ignore[no-untyped-def]
    with session_scope(url) as s:
        return plan_notifications(s, now, settings(**kw))


def send_due(url: str, provider: RecordingProvider, **kw: object) -> list[batch.Outcome]:
    s_ = settings(**kw)
    with session_scope(url) as s:
        ids, _ = due_sms(s, s_)
    return send(url, ids, provider, **kw)


def send(
    url: str, ids: list[int], provider: RecordingProvider, **kw: object
) -> list[batch.Outcome]:
    return batch.send_sms_batch(
        ids,
        sessions=functools.partial(session_scope, url),
        provider=provider,
        bucket=LocalTokenBucket(1e6),
        settings=settings(**kw),
    )


def sms_rows(url: str) -> list[Notification]:
    with session_scope(url) as s:
        return list(
            s.scalars(
                select(Notification).where(Notification.channel == "sms").order_by(Notification.id)
            )
        )


THREE = {"p1": in_days(30), "p2": in_days(10), "p3": None}


def test_several_policies_within_the_window_go_out_as_one_sms(db_url: str) -> None:
    """Two planned an hour ago, one half an hour later (a second pass joins the first's
    lead): one SMS when the first falls due, with the count, the total of those with
    an amount and the nearest deadline, and one link to the policy page."""
    profiles(db_url, company("E1"))
    versions = add_policies(db_url, THREE)
    eligible(db_url, versions, [("E1", "p1", 500_000.0), ("E1", "p2", 120_000.0)])
    first = plan(db_url, utcnow() - HOUR)
    assert (first.sms_deferred, first.sms_digested, first.inapp) == (1, 1, 2)
    eligible(db_url, versions, [("E1", "p3", None)])
    second = plan(db_url, utcnow() - HOUR / 2)
    assert (second.sms_deferred, second.sms_digested, second.inapp) == (0, 1, 1)
    provider = RecordingProvider()
    outcomes = send_due(db_url, provider)
    assert [o.action for o in outcomes] == ["sent"]  # the lead only: members go with it
    [sms] = provider.sent
    nearest = chinese_date(in_days(10), shanghai_date(utcnow()))
    assert f"您有3项政策可申报，其中2项合计最高62万元，最早{nearest}截止" in sms.body
    assert sms.body.startswith("【浙里办】杭州E1科技有限公司：") and sms.body.endswith("回TD退订")
    assert len(re.findall(r"https://\S+", sms.body)) == 1 and "/m/" in sms.body
    rows = sms_rows(db_url)
    assert {r.status for r in rows} == {"sent"}
    assert len({r.provider_ref for r in rows}) == 1  # one message: a receipt moves all
    assert sorted(r.policy_id for r in rows) == ["p1", "p2", "p3"]
    with session_scope(db_url) as s:
        sent = s.scalars(select(FeedbackEvent.policy_id).where(FeedbackEvent.kind == "sent"))
        assert sorted(sent) == ["p1", "p2", "p3"]
        [token] = s.scalars(select(ApplicationToken)).all()
        assert (token.profile_id, token.policy_id) == ("E1", "*me")
        assert token.token_hash not in sms.body
    assert send_due(db_url, provider) == [] and len(provider.sent) == 1


def test_the_first_sms_waits_the_window_and_no_longer(db_url: str) -> None:
    profiles(db_url, company("E1"))
    versions = add_policies(db_url, THREE)
    eligible(db_url, versions, [("E1", "p1", 500_000.0), ("E1", "p2", 120_000.0)])
    now = utcnow()
    plan(db_url, now)
    [lead, member] = sms_rows(db_url)
    assert lead.digest_id is None and member.digest_id == lead.id and member.status == "digest"
    assert as_utc(lead.due_at) == now + dt.timedelta(minutes=60)
    provider = RecordingProvider()
    assert send_due(db_url, provider) == [] and provider.sent == []  # not yet due
    assert [o.action for o in send(db_url, [member.id], provider)] == ["not_claimed"]


def as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def test_a_retried_planning_pass_and_a_redelivered_task_send_nothing_twice(db_url: str) -> None:
    profiles(db_url, company("E1"))
    versions = add_policies(db_url, THREE)
    eligible(db_url, versions, [("E1", p, 100_000.0) for p in THREE])
    plan(db_url, utcnow() - HOUR)
    with session_scope(db_url) as s:  # the same transitions again (a re-delivered plan task)
        s.execute(update(Transition).values(notified=False))
    again = plan(db_url, utcnow() - HOUR)
    assert (again.inapp, again.sms_deferred, again.sms_digested) == (0, 0, 0)
    assert len(sms_rows(db_url)) == 3
    provider = RecordingProvider()
    [lead] = [r.id for r in sms_rows(db_url) if r.digest_id is None]
    assert [o.action for o in send_due(db_url, provider)] == ["sent"]
    for _ in range(2):  # the task re-delivered
        assert [o.action for o in send(db_url, [lead], provider)] == ["not_claimed"]
    assert len(provider.sent) == 1 and "您有3项政策可申报，合计最高30万元" in provider.sent[0].body


def test_the_cap_counts_a_digest_once(db_url: str) -> None:
    """sms_cap 2: a digest of three, then one of two a day later, then none."""
    profiles(db_url, company("E1"))
    pids = {f"p{i}": in_days(30) for i in range(7)}
    versions = add_policies(db_url, pids)
    provider = RecordingProvider()
    for k, group in enumerate((["p0", "p1", "p2"], ["p3", "p4"], ["p5", "p6"])):
        eligible(db_url, versions, [("E1", p, 10_000.0) for p in group])
        summary = plan(db_url, utcnow() - HOUR * (3 - k) - dt.timedelta(hours=1))
        send_due(db_url, provider)
        if k < 2:
            assert (summary.sms_deferred, summary.sms_digested) == (1, len(group) - 1)
        else:
            assert summary.skipped == {"frequency_cap": 2} and summary.sms_deferred == 0
    assert [re.search(r"您有(\d)项", m.body).group(1) for m in provider.sent] == ["3", "2"]  # type: ignore[union-attr]


def test_one_policy_alone_keeps_its_own_text_and_form_link(db_url: str) -> None:
    profiles(db_url, company("E1"), company("E2", phone="+8613900000002"))
    versions = add_policies(db_url, THREE)
    eligible(
        db_url, versions, [("E1", "p1", 500_000.0), ("E2", "p1", 500_000.0), ("E2", "p2", 1.0)]
    )
    plan(db_url, utcnow() - HOUR)
    provider = RecordingProvider()
    send_due(db_url, provider)
    alone = next(m for m in provider.sent if m.to == PHONE)
    assert "符合“测试政策p1”申报条件，最高50万元" in alone.body and "/a/" in alone.body
    assert "您有" not in alone.body
    assert len(provider.sent) == 2  # E2: a digest of two, on its own number


def test_a_member_no_longer_true_is_left_out_and_the_last_one_keeps_its_text(
    db_url: str,
) -> None:
    """Three planned; by send time the lead's policy and one member no longer hold: the
    lead is cancelled and hands over, the one left goes out with its own text."""
    profiles(db_url, company("E1"))
    versions = add_policies(db_url, THREE)
    eligible(db_url, versions, [("E1", p, 100_000.0) for p in THREE])
    plan(db_url, utcnow() - HOUR)
    with session_scope(db_url) as s:
        for pid in ("p1", "p2"):
            s.delete(s.get(Decision, ("E1", pid)))
    provider = RecordingProvider()
    outcomes = send_due(db_url, provider)
    assert [o.action for o in outcomes] == ["cancelled"]
    [sms] = provider.sent
    assert "测试政策p3" in sms.body and "/a/" in sms.body and "您有" not in sms.body
    rows = {r.policy_id: r for r in sms_rows(db_url)}
    assert rows["p1"].status == rows["p2"].status == "cancelled"
    assert rows["p2"].last_error == "no longer eligible"
    assert rows["p3"].status == "sent" and rows["p3"].provider_ref == sms.provider_ref
    assert sms.reference == str(rows["p3"].id)


def test_two_still_true_of_three_make_a_digest_of_two(db_url: str) -> None:
    profiles(db_url, company("E1"))
    versions = add_policies(db_url, THREE)
    eligible(
        db_url, versions, [("E1", "p1", 500_000.0), ("E1", "p2", 120_000.0), ("E1", "p3", None)]
    )
    plan(db_url, utcnow() - HOUR)
    with session_scope(db_url) as s:
        s.delete(s.get(Decision, ("E1", "p2")))
    provider = RecordingProvider()
    send_due(db_url, provider)
    [sms] = provider.sent
    nearest = chinese_date(in_days(30), shanghai_date(utcnow()))
    assert f"您有2项政策可申报，其中1项合计最高50万元，最早{nearest}截止" in sms.body
    assert sorted(r.status for r in sms_rows(db_url)) == ["cancelled", "sent", "sent"]


def test_segments_stay_within_two_with_a_long_name(db_url: str) -> None:
    long_name = "浙江省杭州市西湖区数字经济产业园某某某某人工智能与新材料研究开发有限责任公司" * 2
    profiles(db_url, {**company("E1"), "name": long_name})
    versions = add_policies(db_url, THREE)
    eligible(db_url, versions, [("E1", p, 123_456.0) for p in THREE])
    plan(db_url, utcnow() - HOUR)
    provider = RecordingProvider()
    send_due(db_url, provider)
    [sms] = provider.sent
    assert sms.meta["segments"] == 2 and "…：您有3项政策可申报" in sms.body
    from zhida.channels.sms_text import segments

    assert segments(sms.body) <= 2


def test_opted_out_before_sending_skips_the_digest_and_its_members(db_url: str) -> None:
    profiles(db_url, company("E1"))
    versions = add_policies(db_url, THREE)
    eligible(db_url, versions, [("E1", p, 100_000.0) for p in THREE])
    plan(db_url, utcnow() - HOUR)
    with session_scope(db_url) as s:
        s.add(OptOut(phone=PHONE, opted_out=True, keyword="TD"))
    provider = RecordingProvider()
    assert [o.action for o in send_due(db_url, provider)] == ["skipped"]
    assert provider.sent == [] and {r.status for r in sms_rows(db_url)} == {"skipped"}


def test_planned_in_quiet_hours_the_digest_waits_for_the_morning(db_url: str) -> None:
    from zoneinfo import ZoneInfo

    night = dt.datetime(2026, 5, 6, 21, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    profiles(db_url, company("E1"))
    versions = add_policies(db_url, THREE)
    eligible(db_url, versions, [("E1", "p1", 1.0)])
    plan(db_url, night, quiet_start_hour=20, quiet_end_hour=8)
    eligible(db_url, versions, [("E1", "p2", 1.0)])
    plan(db_url, night + dt.timedelta(hours=9), quiet_start_hour=20, quiet_end_hour=8)  # 06:30
    [lead, member] = sms_rows(db_url)
    morning = dt.datetime(2026, 5, 7, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert as_utc(lead.due_at) == morning and lead.status == "deferred"
    assert member.digest_id == lead.id


def test_an_orphaned_member_is_sent_on_its_own_by_the_sweeper(db_url: str) -> None:
    """A member written just as its lead went out (the planner's race with a sender)."""
    profiles(db_url, company("E1"))
    versions = add_policies(db_url, THREE)
    eligible(db_url, versions, [("E1", "p1", 1.0)])
    plan(db_url, utcnow() - HOUR)
    provider = RecordingProvider()
    send_due(db_url, provider)
    [lead] = sms_rows(db_url)
    eligible(db_url, versions, [("E1", "p2", 1.0)])
    plan(db_url, utcnow() - HOUR)
    with session_scope(db_url) as s:  # as if it had joined the lead while it waited
        s.execute(
            update(Notification)
            .where(Notification.policy_id == "p2", Notification.channel == "sms")
            .values(status="digest", digest_id=lead.id, updated_at=utcnow() - HOUR)
        )
    with session_scope(db_url) as s:
        swept = sweep(s, settings())
    assert len(swept.requeued) == 1
    send(db_url, swept.requeued, provider)
    assert len(provider.sent) == 2 and "测试政策p2" in provider.sent[1].body
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count()).where(Notification.status == "digest")) == 0


def test_one_pass_groups_a_recipients_sms_across_many_batches(db_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One transition per batch, no window (the demo): the first two batches are
    remembered, the others are found by the query (rows of this very call)."""
    monkeypatch.setattr("zhida.channels.plan.BATCH", 1)
    profiles(db_url, company("E1"), company("E2", phone="+8613900000002"))
    pids = {f"p{i}": in_days(30) for i in range(5)}
    versions = add_policies(db_url, pids)
    eligible(db_url, versions, [(e, p, 10_000.0) for p in pids for e in ("E1", "E2")])
    summary = plan(db_url, utcnow(), digest_minutes=0)
    assert (summary.sms_queued, summary.sms_digested) == (2, 8)
    provider = RecordingProvider()
    send_due(db_url, provider)
    assert sorted(m.to for m in provider.sent) == [PHONE, "+8613900000002"]
    assert all("您有5项政策可申报，合计最高5万元" in m.body for m in provider.sent)
