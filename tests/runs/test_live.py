"""The real-time path against the store: an event makes a profile eligible at once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from tests.support.factories import make_frame, store_profiles
from zhida.profiles.events import parse_event
from zhida.profiles.schema import builtin_schema
from zhida.publishing.officers import add_officer
from zhida.publishing.versions import approve, submit
from zhida.runs.live import load_live_matcher, process_event
from zhida.store.db import session_scope
from zhida.store.models import Decision, Profile, Transition

AS_OF = dt.date(2026, 4, 1)
POLICY = """id: patents
title: 发明专利企业奖励
audience: enterprise
benefit: {amount: 5万}
criteria:
  - {id: pat, label: 拥有发明专利2项以上, when: invention_patents >= 2}
  - {id: rev, label: 营收不低于1000万元, when: revenue >= 1000万}
"""


def publish(url: str) -> None:
    with session_scope(url) as s:
        author, _ = add_officer(s, "a", "author")
        approver, _ = add_officer(s, "b", "approver")
        version = submit(s, author, POLICY, "patents.yaml")
        approve(s, approver, version, None)


def test_a_granted_patent_makes_a_company_eligible_at_once(db_url: str) -> None:
    publish(db_url)
    with session_scope(db_url) as s:
        store_profiles(
            s,
            make_frame(
                [{"id": "E1", "name": "甲", "invention_patents": 1, "patents": 1, "revenue": 2e7}],
                builtin_schema("enterprise"),
            ),
        )
    with session_scope(db_url) as s:
        matcher = load_live_matcher(s)
    try:
        event = parse_event({"type": "patent.granted", "profile": "E1", "invention": True})
        with session_scope(db_url) as s:
            made = process_event(s, matcher, event, AS_OF)
            assert [(t.policy_id, t.from_outcome, t.to_outcome) for t in made] == [
                ("patents", 0, 2)
            ]
        with session_scope(db_url) as s:
            decision = s.scalars(select(Decision)).one()
            assert (decision.profile_id, decision.outcome, decision.benefit) == ("E1", 2, 5e4)
            assert s.get(Profile, "E1").data["invention_patents"] == 2  # type: ignore[union-attr]
            assert s.scalars(select(Transition)).one().run_id is None
        # the same event again: the profile changes (3 patents), the outcome does not
        with session_scope(db_url) as s:
            assert process_event(s, matcher, event, AS_OF) == []
        assert matcher.counts["durable_rules"] == 2
    finally:
        matcher.close()


def test_a_registered_company_with_missing_data_is_judged_without_durable_rules(
    db_url: str,
) -> None:
    publish(db_url)
    with session_scope(db_url) as s:
        matcher = load_live_matcher(s)
    try:
        event = parse_event(
            {
                "type": "company.registered",
                "profile": {"id": "E9", "name": "新公司", "invention_patents": 3},
            }
        )
        with session_scope(db_url) as s:
            made = process_event(s, matcher, event, AS_OF)
            assert [(t.to_outcome) for t in made] == [1]  # revenue unknown: unknown
        assert matcher.counts["compiled"] == 1  # durable_rules cannot judge an unknown
    finally:
        matcher.close()
