"""A policy's holdout share is planned but not notified, recorded as held_out, and the
same pairs are held out again on a re-run (the keyed hash)."""

from __future__ import annotations

from sqlalchemy import select

from tests.channels.test_plan import DAY, POLICY, company, settings
from tests.support.factories import make_frame, published_row, store_profiles
from zhida.channels.plan import plan_notifications
from zhida.profiles.schema import builtin_schema
from zhida.ranking.holdout import held_out
from zhida.store.db import session_scope
from zhida.store.models import FeedbackEvent, Notification, Transition

SECRET = "s" * 40
IDS = [f"E{i}" for i in range(40)]


def setup(url: str, share: str) -> None:
    text = POLICY.format(pid="p1", opens="2026-05-01", closes="2026-06-30") + f"holdout: {share}\n"
    with session_scope(url) as s:
        store_profiles(s, make_frame([company(i) for i in IDS], builtin_schema("enterprise")))
        version_id = published_row(s, "p1", text)
        for pid in IDS:
            s.add(
                Transition(
                    run_id=1,
                    profile_id=pid,
                    policy_id="p1",
                    policy_version_id=version_id,
                    from_outcome=0,
                    to_outcome=2,
                )
            )


def test_held_out_pairs_are_recorded_not_notified(db_url: str) -> None:
    setup(db_url, "50%")
    with session_scope(db_url) as s:
        summary = plan_notifications(s, DAY, settings(secret_key=SECRET))
    expected = {pid for pid in IDS if held_out(SECRET, pid, "p1", 0.5)}
    assert 0 < len(expected) < len(IDS)
    with session_scope(db_url) as s:
        held = set(
            s.scalars(select(FeedbackEvent.profile_id).where(FeedbackEvent.kind == "held_out"))
        )
        notified = set(s.scalars(select(Notification.profile_id)))
        pending = s.scalar(select(Transition.id).where(Transition.notified.is_(False)))
    assert held == expected and summary.held_out == len(expected)
    assert notified == set(IDS) - expected
    assert pending is None  # held-out transitions are done, not planned again


def test_no_holdout_key_holds_no_one(db_url: str) -> None:
    setup(db_url, "0%")
    with session_scope(db_url) as s:
        summary = plan_notifications(s, DAY, settings(secret_key=SECRET))
    assert summary.held_out == 0 and summary.inapp == len(IDS)
