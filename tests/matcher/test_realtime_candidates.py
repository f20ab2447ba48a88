"""The live path's fast mode (`post="candidates"`) agrees with the audit mode.

In the audit mode (`post="all"`) durable_rules judges every (profile, policy) whose
values are known and the reference interpreter the rest; in the fast mode only the
rulesets that could fire (the compiled criteria all true) get the event and the
compiled closures decide the others. Hypothesis writes random policies and profiles
(with and without missing values and zero divisors): both modes must give the same
outcome, failed and unknown ids and benefit, which must also be the reference
interpreter's, and the fast mode must post exactly the events of eligible results.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given

from tests.matcher.test_realtime import (
    KNOWN_CASES,
    KNOWN_SETTINGS,
    MISSING_CASES,
    MISSING_SETTINGS,
    REV_EMP,
    _one,
    _policies,
)
from zhida.errors import ZhidaError
from zhida.matcher.realtime import (
    POST_ALL,
    POST_CANDIDATES,
    VIA_COMPILED,
    VIA_DURABLE,
    RealtimeMatcher,
)
from zhida.matcher.reference import evaluate_policy
from zhida.rules.policy import Policy

AS_OF = dt.date(2026, 4, 1)


def _same_benefit(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a == b)


def _modes_agree(policies: list[Policy], rows: list[dict[str, object]], as_of: dt.date) -> None:
    for i, r in enumerate(rows):
        r["id"] = f"E{i}"
    with (
        RealtimeMatcher(policies, name_prefix="audit-", post=POST_ALL) as audit,
        RealtimeMatcher(policies, name_prefix="fast-", post=POST_CANDIDATES) as fast,
    ):
        for row in rows:
            slow = audit.match(row, "enterprise", as_of)
            quick = fast.match(row, "enterprise", as_of)
            for policy, a, b in zip(policies, slow, quick, strict=True):
                ref = evaluate_policy(policy, row, as_of)
                context = f"row {row}\npolicy {policy.id}:\n{policy.text}\n{a}\n{b}"
                assert a.policy_id == b.policy_id == policy.id
                assert a.outcome == b.outcome == ref.outcome, context
                assert a.failed == b.failed == ref.failed, context
                assert a.unknown == b.unknown == ref.unknown, context
                assert _same_benefit(a.benefit, b.benefit), context
                assert _same_benefit(b.benefit, ref.benefit), context
                # only a rule that could fire gets the event; the others are compiled
                if b.via == VIA_DURABLE:
                    assert b.outcome == "eligible", context
                else:
                    assert b.via == VIA_COMPILED, context
                    if b.outcome == "eligible":  # durable_rules cannot read a value
                        assert a.via != VIA_DURABLE, context
        assert audit.stats["disagreements"] == fast.stats["disagreements"] == 0


@KNOWN_SETTINGS
@given(**KNOWN_CASES)
def test_fast_mode_agrees_with_durable_rules_on_known_profiles(
    criteria: list[str], benefit: str, rows: list[dict[str, object]], as_of: dt.date
) -> None:
    _modes_agree(_policies(criteria, benefit), rows, as_of)


@MISSING_SETTINGS
@given(**MISSING_CASES)
def test_fast_mode_agrees_with_the_reference_on_missing_values(
    criteria: list[str], benefit: str, rows: list[dict[str, object]], as_of: dt.date
) -> None:
    _modes_agree(_policies(criteria, benefit), rows, as_of)


def test_fast_mode_posts_only_what_could_fire() -> None:
    with RealtimeMatcher([_one(REV_EMP)], name_prefix="cand-", post=POST_CANDIDATES) as m:
        (yes,) = m.match({"id": "E1", "revenue": 2e8, "employees": 20}, "enterprise", AS_OF)
        (no,) = m.match({"id": "E2", "revenue": 2e7, "employees": 20}, "enterprise", AS_OF)
        (unk,) = m.match({"id": "E3", "revenue": None, "employees": 20}, "enterprise", AS_OF)
        assert (yes.outcome, yes.via) == ("eligible", VIA_DURABLE)
        assert (no.outcome, no.via, no.failed) == ("ineligible", VIA_COMPILED, ["rev"])
        assert (unk.outcome, unk.via, unk.unknown) == ("unknown", VIA_COMPILED, ["rev"])
        assert m.stats == {VIA_DURABLE: 1, "reference": 0, VIA_COMPILED: 2, "disagreements": 0}


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ZhidaError, match="post must be"):
        RealtimeMatcher([_one(REV_EMP)], post="some")


def test_every_truth_table_of_the_connectives() -> None:
    # each connective over true / false / unknown operands, in both modes and the reference
    rev, emp = "revenue >= 1亿", "employees >= 10"
    whens = [f"{rev} or {emp}", f"{rev} and {emp}", f"not ({rev} or {emp})", f"({rev}) != ({emp})"]
    groups = [
        "  - id: g\n    label: 组\n    any:\n"
        f"      - {{id: a, label: 甲, when: {rev}}}\n      - {{id: b, label: 乙, when: {emp}}}\n",
        "  - id: g\n    label: 组\n    all:\n"
        f"      - {{id: a, label: 甲, when: {rev}}}\n      - {{id: b, label: 乙, when: {emp}}}\n",
    ]
    criteria = [f"  - {{id: w, label: 式, when: '{w}'}}\n" for w in whens] + groups
    policies = [_one(c, pid=f"t{k}") for k, c in enumerate(criteria)]
    rows: list[dict[str, object]] = [
        {"revenue": r, "employees": e} for r in (2e8, 1e7, None) for e in (20, 5, None)
    ]
    _modes_agree(policies, rows, AS_OF)
