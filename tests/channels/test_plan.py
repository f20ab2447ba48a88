"""Planning notifications from transitions: rules, quiet hours, cap, opt-out, once only."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from tests.support.factories import make_frame, published_row, store_profiles
from zhida.channels.plan import plan_notifications, sms_due
from zhida.profiles.schema import builtin_schema
from zhida.settings import Settings
from zhida.store.db import session_scope
from zhida.store.models import (
    ApplicationToken,
    InboxMessage,
    Notification,
    OptOut,
    Transition,
)

SH = ZoneInfo("Asia/Shanghai")
DAY = dt.datetime(2026, 5, 6, 10, 0, tzinfo=SH)  # a Wednesday morning in Shanghai
NIGHT = dt.datetime(2026, 5, 6, 21, 30, tzinfo=SH)
POLICY = """id: {pid}
title: 测试政策{pid}
audience: enterprise
window: {{opens: {opens}, closes: {closes}}}
benefit: {{amount: 50万}}
criteria:
  - {{id: rev, label: 营收不低于1亿元, when: revenue >= 1亿}}
"""


def settings(**kw: object) -> Settings:
    """No digest window by default: an SMS is due as it is planned (digests:
    tests/channels/test_digest.py)."""
    return Settings(**{"digest_minutes": 0, **kw})  # type: ignore[arg-type]


def add_version(
    session: object, pid: str, opens: str = "2026-05-01", closes: str = "2026-06-30"
) -> int:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    return published_row(session, pid, POLICY.format(pid=pid, opens=opens, closes=closes))


def company(pid: str, phone: str | None = "+8613812345678", revenue: float | None = 2e8) -> dict:
    return {
        "id": pid,
        "name": f"杭州{pid}科技有限公司",
        "phone": phone,
        "revenue": revenue,
        "region": "330106",
    }


def setup(
    url: str,
    rows: list[dict],
    transitions: list[tuple[str, str, int]],
    policies: dict[str, tuple[str, str]] | None = None,
) -> None:
    with session_scope(url) as s:
        store_profiles(s, make_frame(rows, builtin_schema("enterprise")))
        versions = {
            pid: add_version(s, pid, *window)
            for pid, window in (policies or {"p1": ("2026-05-01", "2026-06-30")}).items()
        }
        for profile_id, policy_id, to in transitions:
            s.add(
                Transition(
                    run_id=1,
                    profile_id=profile_id,
                    policy_id=policy_id,
                    policy_version_id=versions[policy_id],
                    from_outcome=0,
                    to_outcome=to,
                )
            )


def notes(url: str) -> list[Notification]:
    with session_scope(url) as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def test_eligible_gets_inapp_and_sms_in_the_day(db_url: str) -> None:
    setup(db_url, [company("E1")], [("E1", "p1", 2)])
    with session_scope(db_url) as s:
        summary = plan_notifications(s, DAY, settings())
    assert (summary.inapp, summary.sms_queued) == (1, 1)
    [inapp] = [n for n in notes(db_url) if n.channel == "inapp"]
    assert inapp.body.startswith("经评估，贵企业符合“测试政策p1”的申报条件")
    [sms] = [n for n in notes(db_url) if n.channel == "sms"]
    assert sms.status == "queued" and sms.to == "+8613812345678"
    # no text and no link at rest: the sender composes them; the segments are known
    assert sms.body == "" and sms.body_hash is None and sms.segments == 2
    assert summary.queued_ids == [sms.id]
    with session_scope(db_url) as s:
        message = s.scalars(select(InboxMessage)).one()
        assert message.profile_id == "E1" and message.body == inapp.body
        assert s.scalar(select(func.count()).select_from(ApplicationToken)) == 0


def test_quiet_hours_defer_sms_to_the_morning_but_inapp_goes_at_once(db_url: str) -> None:
    setup(db_url, [company("E1")], [("E1", "p1", 2)])
    with session_scope(db_url) as s:
        summary = plan_notifications(s, NIGHT, settings())
    assert (summary.inapp, summary.sms_queued, summary.sms_deferred) == (1, 0, 1)
    [sms] = [n for n in notes(db_url) if n.channel == "sms"]
    assert sms.status == "deferred"
    due = sms.due_at if sms.due_at.tzinfo else sms.due_at.replace(tzinfo=dt.UTC)
    assert due.astimezone(SH) == dt.datetime(2026, 5, 7, 8, 0, tzinfo=SH)


def test_sms_due() -> None:
    s = settings()
    assert sms_due(DAY, s) == DAY
    assert sms_due(dt.datetime(2026, 5, 6, 7, 59, tzinfo=SH), s).astimezone(SH).hour == 8
    assert sms_due(dt.datetime(2026, 5, 6, 20, 0, tzinfo=SH), s).astimezone(SH).day == 7


def test_frequency_cap_and_opt_out(db_url: str) -> None:
    policies = {p: ("2026-05-01", "2026-06-30") for p in ("p1", "p2", "p3")}
    rows = [company("E1"), company("E2", phone="+8613900000000")]
    setup(db_url, rows, [("E1", p, 2) for p in policies] + [("E2", "p1", 2)], policies)
    with session_scope(db_url) as s:
        s.add(OptOut(phone="+8613900000000", opted_out=True, keyword="TD"))
    with session_scope(db_url) as s:  # one SMS per policy: the cap binds
        summary = plan_notifications(s, DAY, settings(sms_digests=False))
    assert summary.inapp == 4
    assert summary.sms_queued == 2
    assert summary.skipped == {"frequency_cap": 1, "opted_out": 1}


def test_unknown_gets_only_an_inapp_maybe_message(db_url: str) -> None:
    setup(db_url, [company("E1", revenue=None)], [("E1", "p1", 1)])
    with session_scope(db_url) as s:
        summary = plan_notifications(s, DAY, settings())
    assert (summary.inapp, summary.sms_queued) == (1, 0)
    [inapp] = notes(db_url)
    assert "可能符合" in inapp.body and "上年度营业收入" in inapp.body
    with session_scope(db_url) as s:
        summary = plan_notifications(s, DAY, settings(inapp_for_unknown=False))
    assert summary.transitions == 0


def test_windows_closed_or_far_away(db_url: str) -> None:
    policies = {
        "old": ("2026-01-01", "2026-03-31"),
        "later": ("2026-09-01", "2026-10-31"),
        "soon": ("2026-05-10", "2026-06-30"),
    }
    setup(db_url, [company("E1")], [("E1", p, 2) for p in policies], policies)
    with session_scope(db_url) as s:
        summary = plan_notifications(s, DAY, settings(sms_digests=False))
    assert summary.skipped["window_closed"] == 1
    assert summary.waiting == 1  # 'later' stays unnotified for a later day
    assert summary.sms_queued == 1  # 'soon' opens within the 7-day lead
    with session_scope(db_url) as s:
        left = s.scalars(select(Transition).where(Transition.notified.is_(False))).all()
        assert [t.policy_id for t in left] == ["later"]


def test_planning_twice_plans_nothing_twice(db_url: str) -> None:
    setup(db_url, [company("E1")], [("E1", "p1", 2)])
    with session_scope(db_url) as s:
        plan_notifications(s, DAY, settings())
    with session_scope(db_url) as s:  # the same transition again (e.g. a re-delivered task)
        s.execute(Transition.__table__.update().values(notified=False))
    with session_scope(db_url) as s:
        summary = plan_notifications(s, DAY, settings())
    assert summary.inapp == 0 and summary.sms_queued == 0
    assert len(notes(db_url)) == 2


def test_a_bad_stored_row_is_skipped_and_the_rest_are_planned(db_url: str) -> None:
    """A year-0 date stored before the readers checked the range made every planning
    pass fail, for everyone; now that transition is reported and skipped."""
    from sqlalchemy import update

    from zhida.store.models import Profile

    setup(
        db_url,
        [company("E1", revenue=None), company("E2", revenue=None)],
        [("E1", "p1", 1), ("E2", "p1", 1)],
    )
    with session_scope(db_url) as s:
        data = s.scalar(select(Profile.data).where(Profile.id == "E1"))
        s.execute(
            update(Profile)
            .where(Profile.id == "E1")
            .values(data={**data, "established": "0000-01-01"})
        )
    with session_scope(db_url) as s:
        summary = plan_notifications(s, DAY, settings())
    assert summary.bad_profiles == ["E1"] and summary.skipped["bad_profile_data"] == 1
    assert [n.profile_id for n in notes(db_url)] == ["E2"]
    with session_scope(db_url) as s:  # handled: the next pass does not fail on it again
        assert plan_notifications(s, DAY, settings()).transitions == 0
