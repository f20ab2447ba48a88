"""Planning in batches: any batch size plans exactly what one batch plans; a failed write
loses nothing; two planners never plan a key twice."""

from __future__ import annotations

import datetime as dt
import random
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text, update

from tests.channels.test_plan import DAY, company, notes, setup
from tests.channels.test_plan import settings as plan_settings
from tests.support.scratch import empty_tables
from tests.support.strategies import examples
from zhida.channels import plan_store
from zhida.channels.plan import plan_notifications
from zhida.store.db import session_scope
from zhida.store.models import (
    ApplicationToken,
    InboxMessage,
    Notification,
    OptOut,
    PolicyVersion,
    Transition,
)

WINDOWS = {
    "open": ("2026-05-01", "2026-06-30"),
    "closed": ("2026-01-01", "2026-03-31"),
    "later": ("2026-09-01", "2026-10-31"),
    "soon": ("2026-05-10", "2026-06-30"),
}
PHONES = ["+8613800000001", "+8613800000002", "+8613800000003", None]


def scenario(seed: int) -> dict[str, Any]:
    """Profiles sharing a few phones, four policy windows, eligible and unknown transitions
    (some keys twice, from two runs), opt-outs and SMS already sent this week."""
    rng = random.Random(seed)
    rows = [
        company(f"E{i}", phone=rng.choice(PHONES), revenue=rng.choice([2e8, 2e8, None]))
        for i in range(10)
    ]
    transitions = [
        (rng.choice(rows)["id"], rng.choice(list(WINDOWS)), rng.choice([1, 2, 2]))
        for _ in range(rng.randint(1, 25))
    ]
    return {
        "rows": rows,
        "transitions": transitions,
        "opted_out": [p for p in PHONES[:3] if rng.random() < 0.3],
        "sent": [p for p in PHONES[:3] if rng.random() < 0.5],
    }


def store_scenario(url: str, world: dict[str, Any]) -> None:
    rows, wanted = world["rows"], world["transitions"]
    setup(url, rows, [], WINDOWS)
    with session_scope(url) as s:
        versions = {v.policy_id: v.id for v in s.scalars(select(PolicyVersion))}
        for n, (profile_id, policy_id, outcome) in enumerate(wanted):
            s.add(
                Transition(
                    run_id=n,
                    profile_id=profile_id,
                    policy_id=policy_id,
                    policy_version_id=versions[policy_id],
                    from_outcome=0,
                    to_outcome=outcome,
                )
            )
        s.add_all(OptOut(phone=p, opted_out=True, keyword="TD") for p in world["opted_out"])
        s.add_all(
            Notification(
                profile_id="OLD",
                policy_id=f"old{i}",
                policy_version_id=0,
                channel="sms",
                status="delivered",
                to=phone,
                created_at=DAY - dt.timedelta(days=2),
            )
            for i, phone in enumerate(world["sent"])
        )


def planned(url: str) -> list[tuple[Any, ...]]:
    """What was planned, comparable across runs."""
    with session_scope(url) as s:
        rows = [
            (
                n.profile_id,
                n.policy_id,
                n.channel,
                n.status,
                n.to,
                n.last_error,
                n.segments,
                n.body,
            )
            for n in s.scalars(
                select(Notification)
                .where(Notification.profile_id != "OLD")
                .order_by(Notification.transition_id, Notification.channel)
            )
        ]
        inbox = sorted(
            (m.profile_id, m.policy_id, m.kind, m.title) for m in s.scalars(select(InboxMessage))
        )
        left = sorted(s.scalars(select(Transition.id).where(Transition.notified.is_(False))))
        links = s.scalar(select(func.count()).select_from(ApplicationToken))
    return [*rows, ("inbox", *inbox), ("pending", *left), ("links", links)]


def unplan(url: str) -> None:
    """Back to the state before planning."""
    with session_scope(url) as s:
        for model in (InboxMessage, ApplicationToken):
            s.execute(delete(model))
        s.execute(delete(Notification).where(Notification.profile_id != "OLD"))
        s.execute(update(Transition).values(notified=False))


@settings(max_examples=examples(12), deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10**6))
def test_any_batch_size_plans_what_one_batch_plans(pg_url: str, seed: int) -> None:
    """Batches of 1 and 3 (each written while the next is built) against one batch: the
    cap, opt-outs, duplicate keys and waiting windows come out the same. One database
    for all examples, emptied before each."""
    world = scenario(seed)
    url = pg_url
    empty_tables(url)
    store_scenario(url, world)
    results = []
    for size in (5000, 1, 3):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("zhida.channels.plan.BATCH", size)
            with session_scope(url) as s:
                plan_notifications(s, DAY, plan_settings())
        results.append(planned(url))
        unplan(url)
    assert results[1] == results[0]
    assert results[2] == results[0]


def test_two_transitions_of_one_key_plan_it_once(db_url: str) -> None:
    setup(db_url, [company("E1")], [("E1", "p1", 2)])
    with session_scope(db_url) as s:  # a second run found the same change again
        version_id = s.scalar(select(Transition.policy_version_id))
        s.add(
            Transition(
                run_id=2,
                profile_id="E1",
                policy_id="p1",
                policy_version_id=version_id,
                from_outcome=0,
                to_outcome=2,
            )
        )
    with session_scope(db_url) as s:
        summary = plan_notifications(s, DAY, plan_settings())
    assert (summary.transitions, summary.inapp, summary.sms_queued) == (2, 1, 1)
    assert sorted(n.channel for n in notes(db_url)) == ["inapp", "sms"]
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count()).where(Transition.notified.is_(False))) == 0


def test_cap_holds_across_batches(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One phone, four policies, one transition per batch: two SMS, two capped."""
    policies = {f"p{i}": WINDOWS["open"] for i in range(4)}
    setup(db_url, [company("E1")], [("E1", p, 2) for p in policies], policies)
    monkeypatch.setattr("zhida.channels.plan.BATCH", 1)
    with session_scope(db_url) as s:  # one SMS per policy (digests: test_digest.py)
        summary = plan_notifications(s, DAY, plan_settings(sms_digests=False))
    assert summary.sms_queued == 2 and summary.skipped == {"frequency_cap": 2}


def test_a_failed_write_keeps_nothing(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second batch's write fails (on the writer thread with PostgreSQL): the error
    reaches the caller and the transaction keeps no row of the first batch either."""
    policies = {f"p{i}": WINDOWS["open"] for i in range(3)}
    setup(db_url, [company("E1")], [("E1", p, 2) for p in policies], policies)
    monkeypatch.setattr("zhida.channels.plan.BATCH", 1)
    calls = {"n": 0}
    real = plan_store.write_batch

    def failing(target: Any, batch: plan_store.PlannedBatch) -> plan_store.Written:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(target, batch)

    monkeypatch.setattr(plan_store, "write_batch", failing)
    with pytest.raises(RuntimeError, match="disk full"), session_scope(db_url) as s:
        plan_notifications(s, DAY, plan_settings())
    assert notes(db_url) == []
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count()).where(Transition.notified.is_(False))) == 3
        assert s.scalar(select(func.count()).select_from(ApplicationToken)) == 0


def test_a_second_planner_waits_and_plans_nothing_twice(pg_url: str) -> None:
    setup(pg_url, [company("E1")], [("E1", "p1", 2)])
    first_planned, release = threading.Event(), threading.Event()
    second: dict[str, Any] = {}

    def first() -> None:
        with session_scope(pg_url) as s:
            plan_notifications(s, DAY, plan_settings())
            first_planned.set()
            release.wait(10)  # holds its transaction (and the planner lock) open

    def run_second() -> None:
        with session_scope(pg_url) as s:
            second["summary"] = plan_notifications(s, DAY, plan_settings())

    a = threading.Thread(target=first)
    a.start()
    assert first_planned.wait(10)
    b = threading.Thread(target=run_second)
    b.start()
    b.join(1.0)
    assert b.is_alive(), "the second planner did not wait for the first"
    release.set()
    a.join(10)
    b.join(10)
    assert second["summary"].transitions == 0
    assert sorted(n.channel for n in notes(pg_url)) == ["inapp", "sms"]


def test_transitions_out_of_eligibility_are_never_pending(db_url: str) -> None:
    setup(db_url, [company("E1"), company("E2")], [("E1", "p1", 0), ("E2", "p1", 2)])
    with session_scope(db_url) as s:
        summary = plan_notifications(s, DAY, plan_settings())
    assert summary.transitions == 1
    assert {n.profile_id for n in notes(db_url)} == {"E2"}


def test_unknown_without_inapp_is_handled_not_left_pending(db_url: str) -> None:
    setup(db_url, [company("E1", revenue=None)], [("E1", "p1", 1)])
    with session_scope(db_url) as s:
        summary = plan_notifications(s, DAY, plan_settings(inapp_for_unknown=False))
    assert summary.skipped == {"unknown_no_message": 1} and notes(db_url) == []
    with session_scope(db_url) as s:
        assert s.scalar(select(func.count()).where(Transition.notified.is_(False))) == 0


def test_pending_transitions_are_read_through_the_partial_index(pg_url: str) -> None:
    """The planner's predicate is spelled so that PostgreSQL can use ix_transitions_pending
    (with a bound parameter instead of a literal it could not)."""
    from sqlalchemy.dialects import postgresql

    from zhida.channels.plan import _into_eligible_or_unknown

    stmt = select(Transition.id).where(_into_eligible_or_unknown()).order_by(Transition.id)
    sql = str(stmt.compile(dialect=postgresql.dialect()))
    with session_scope(pg_url) as s:
        s.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(s.execute(text("EXPLAIN " + sql)).scalars())
    assert "ix_transitions_pending" in plan, plan
