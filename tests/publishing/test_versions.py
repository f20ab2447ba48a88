"""Submitting, approving and previewing policies against a real store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from tests.support.factories import row_counts, store_profiles
from zhida.matcher.batch import BatchEvaluator
from zhida.profiles.schema import builtin_schema
from zhida.profiles.synth import synthesize_enterprises
from zhida.publishing.errors import PublishError
from zhida.publishing.officers import add_officer, officer_by_token
from zhida.publishing.versions import approve, check_policy, submit
from zhida.store.db import session_scope
from zhida.store.models import AuditLog, Decision, PolicyVersion

AS_OF = dt.date(2026, 4, 1)
POLICY = """id: big
title: 营收过亿企业奖励
audience: enterprise
benefit: {amount: 10万}
criteria:
  - {id: rev, label: 上年度营业收入不低于THRESHOLD, when: revenue >= THRESHOLD}
  - {id: age, label: 成立满1年, when: years_since(established) >= 1}
tests:
  - name: 合格
    as_of: 2026-04-01
    profile: {revenue: 5亿, established: 2020-01-01}
    expect: eligible
"""


def policy_text(threshold: str = "1亿") -> str:
    return POLICY.replace("THRESHOLD", threshold)


def officers(url: str) -> dict[str, str]:
    tokens = {}
    with session_scope(url) as s:
        for name, role in (("alice", "author"), ("bob", "approver"), ("root", "admin")):
            tokens[name] = add_officer(s, name, role)[1]
    return tokens


def test_token_is_stored_hashed_and_checked(db_url: str) -> None:
    tokens = officers(db_url)
    with session_scope(db_url) as s:
        alice = officer_by_token(s, tokens["alice"])
        assert alice.name == "alice" and alice.token_hash != tokens["alice"]
        with pytest.raises(PublishError, match="invalid or missing officer token"):
            officer_by_token(s, tokens["alice"] + "x")


def test_publish_flow_and_refusals(db_url: str) -> None:
    tokens = officers(db_url)
    with session_scope(db_url) as s:
        alice = officer_by_token(s, tokens["alice"])
        bob = officer_by_token(s, tokens["bob"])
        v1 = submit(s, alice, policy_text(), "big.yaml")
        assert (v1.version, v1.status) == (1, "draft")
        with pytest.raises(PublishError, match="already version 1"):
            submit(s, alice, policy_text(), "big.yaml")
        with pytest.raises(PublishError, match="cannot approve policies"):
            approve(s, alice, v1, None)
        approve(s, bob, v1, {"counts": {}})
        with pytest.raises(PublishError, match="already published"):
            approve(s, bob, v1, None)
        v2 = submit(s, alice, policy_text("2亿"), "big.yaml")
        approve(s, bob, v2, None)
        assert v1.status == "retired" and v2.status == "published"
        actions = [a.action for a in s.query(AuditLog).order_by(AuditLog.id)]
        assert actions.count("policy.publish") == 2 and actions.count("policy.submit") == 2


def test_author_cannot_approve_own_policy_unless_allowed(db_url: str) -> None:
    tokens = officers(db_url)
    with session_scope(db_url) as s:
        root = officer_by_token(s, tokens["root"])
        version = submit(s, root, policy_text(), "big.yaml")
        with pytest.raises(PublishError, match="cannot approve their own policy"):
            approve(s, root, version, None)
        approve(s, root, version, None, allow_self_approval=True)
        assert version.status == "published"


def test_a_policy_failing_check_cannot_be_submitted(db_url: str) -> None:
    tokens = officers(db_url)
    broken = policy_text().replace("expect: eligible", "expect: ineligible")
    with session_scope(db_url) as s:
        alice = officer_by_token(s, tokens["alice"])
        with pytest.raises(PublishError, match="policy tests fail"):
            submit(s, alice, broken, "big.yaml")
        from zhida.errors import PolicyError

        with pytest.raises(PolicyError):
            submit(s, alice, policy_text().replace("revenue >=", "revenu >="), "big.yaml")
        assert s.query(PolicyVersion).count() == 0


def test_preview_counts_match_direct_evaluation_and_write_nothing(pg_url: str) -> None:
    from zhida.runs.preview import impact_of

    frame = synthesize_enterprises(3000, seed=5)
    with session_scope(pg_url) as s:
        store_profiles(s, frame)
        # stored decisions of a previous version (threshold 1亿): the eligible ones
        old_policy = check_policy(policy_text("1亿"), "big.yaml", "")
        old = next(
            BatchEvaluator([old_policy], AS_OF).evaluate(frame, builtin_schema("enterprise"))
        ).outcome[0]
        tokens = officers(pg_url)
        alice = officer_by_token(s, tokens["alice"])
        v1 = submit(s, alice, policy_text("1亿"), "big.yaml")
        for pid, code in zip(frame["id"].to_list(), old.tolist(), strict=True):
            if code:
                s.add(
                    Decision(profile_id=pid, policy_id="big", policy_version_id=v1.id, outcome=code)
                )
    new_policy = check_policy(policy_text("5000万"), "big.yaml", "")
    new = next(
        BatchEvaluator([new_policy], AS_OF).evaluate(frame, builtin_schema("enterprise"))
    ).outcome[0]
    with session_scope(pg_url) as s:
        before = row_counts(s)
        impact = impact_of(s, new_policy, "", AS_OF)
        after = row_counts(s)
    assert before == after
    assert impact.profiles == 3000
    assert impact.counts["newly_eligible"] == int(((new == 2) & (old != 2)).sum()) > 0
    assert impact.counts["no_longer_eligible"] == int(((old == 2) & (new != 2)).sum())
    assert sum(impact.counts.values()) == 3000
    assert (
        sum(v["newly_eligible"] for v in impact.by_city.values()) == impact.counts["newly_eligible"]
    )
    assert impact.samples and "结论：" in impact.samples[0]["explanation"]
    assert np.isclose(impact.outcomes["eligible"], int((new == 2).sum()))


def test_preview_chart_is_a_png(tmp_path: Path) -> None:
    from zhida.cli.policy_admin import write_chart
    from zhida.runs.preview import Impact

    impact = Impact(
        "big",
        "2026-04-01",
        10,
        {"newly_eligible": 3, "no_longer_eligible": 1, "newly_unknown": 0, "unchanged": 6},
        {},
        by_city={"杭州市": {"newly_eligible": 3, "no_longer_eligible": 1, "newly_unknown": 0}},
    )
    path = tmp_path / "chart.png"
    write_chart(impact, "营收过亿企业奖励", path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
