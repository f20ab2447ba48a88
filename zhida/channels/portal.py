"""What a signed-in business or citizen sees (`/me`, `GET /api/me/policies`).

`my_policies` evaluates the profile, as stored, against every published policy of its
audience, with the batch evaluator and the ranking of `zhida evaluate` (the same
heuristic score and 1-based rank over eligible and unknown results), and returns one
`MyPolicy` per eligible or unknown result, by rank, then the near misses (ineligible
results one criterion away, rank null). Each carries the amount, the deadline, the
state (未申报 / 已申报 / 已领取), for an unknown result the missing fields, and for two
results that exclude each other (`excludes:`), which is better and by how much; the
better one is moved above the other when the score had it below (the rule of
`zhida.ranking.exclusion`, which `zhida evaluate` ranks by too).

`questions` orders the missing fields of all unknown results by the money they may
decide (the sum of those results' amounts), so the page asks for that answer first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from zhida.channels.followup import due
from zhida.channels.held import (
    CONFIRMED,
    STATE_APPLIED,
    STATE_NONE,
    decisions_of,
    states_of,
)
from zhida.channels.selfservice import declared_fields
from zhida.errors import ZhidaError
from zhida.matcher.batch import BatchEvaluator
from zhida.matcher.explain import format_amount
from zhida.matcher.explanation import ValueRead, build_explanation
from zhida.matcher.nearmiss import NearMiss
from zhida.matcher.nearmiss_text import chinese_date, near_miss_text
from zhida.matcher.reference import evaluate_policy
from zhida.profiles.schema import ProfileSchema
from zhida.publishing.catalogue import CompiledVersion, compiled
from zhida.publishing.versions import published_versions
from zhida.ranking.exclusion import exclusion_pairs, rank_exclusions
from zhida.ranking.heuristic import ranks
from zhida.ranking.score import takeup_and_score
from zhida.rules.policy import Policy
from zhida.store.profiles import frame_from_json, get_profile

OUTCOME_NAMES = ["ineligible", "unknown", "eligible"]


class ProfileNotFound(ZhidaError):
    """The signed-in profile is not (or no longer) stored."""


@dataclass
class Missing:
    name: str
    label: str


@dataclass
class MyPolicy:
    policy: str
    title: str
    outcome: str
    benefit: float | None
    rank: int | None
    deadline: dt.date | None
    state: str
    version_id: int
    score: float
    summary: str | None = None
    department: str | None = None
    reference: str | None = None
    tags: list[str] = field(default_factory=list)
    grant: str = "apply"
    opens: dt.date | None = None
    missing: list[Missing] = field(default_factory=list)
    near_miss: NearMiss | None = None
    near_miss_text: str | None = None
    near_miss_in_window: bool = False  # the day it holds falls inside the window
    exclusion: str | None = None  # 与X不可同时享受…
    excluded_by: str | None = None  # the better policy this one cannot be held with
    grant_decision: str | None = None  # 免申即享: confirmed | declined (channels/grants.py)
    values: list[ValueRead] = field(default_factory=list)  # a near miss's values, to contest
    question: bool = False  # the follow-up question is due (channels/followup.py)

    def as_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "title": self.title,
            "outcome": self.outcome,
            "benefit": self.benefit,
            "rank": self.rank,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "state": self.state,
            "missing": [m.name for m in self.missing],
            "near_miss": self.near_miss.as_json() if self.near_miss else None,
            "near_miss_text": self.near_miss_text,
            "exclusion": self.exclusion,
            "grant": self.grant,
            "grant_decision": self.grant_decision,
            "reference": self.reference,
            "tags": self.tags,
            "question": self.question,
        }


@dataclass
class Question:
    """A missing field to ask for, and the money the answer may decide."""

    name: str
    label: str
    amount: float
    policies: list[str]


@dataclass
class MyPage:
    profile_id: str
    kind: str
    name: str | None
    as_of: dt.date
    policies: list[MyPolicy]
    questions: list[Question]
    declared: set[str] = field(default_factory=set)  # self-declared, not yet verified


def my_policies(
    session: Session, profile_id: str, as_of: dt.date, ask_before: dt.datetime | None = None
) -> MyPage:
    """`ask_before`: a policy first notified by then, and not yet answered, carries the
    follow-up question (None: no questions)."""
    stored = get_profile(session, profile_id)
    if stored is None:
        raise ProfileNotFound(f"no profile '{profile_id}'")
    kind, data = stored
    versions = [compiled(v) for v in published_versions(session, kind)]
    states = states_of(session, profile_id)
    decided = decisions_of(session, profile_id)
    ask = due(session, profile_id, ask_before) if ask_before is not None else set()
    items: list[MyPolicy] = []
    for group in _by_schema(versions):
        items.extend(_evaluate(group, profile_id, data, as_of, states))
    for item in items:
        item.grant_decision = decided.get(item.policy) if item.grant == "automatic" else None
        if item.grant_decision == CONFIRMED and item.state == STATE_NONE:
            item.state = STATE_APPLIED  # confirmed: on the department's list to be paid
        item.question = item.policy in ask
    listed = [i for i in items if i.outcome != "ineligible"]
    _rerank(listed)
    _exclusions(listed, {c.policy.id: c.policy for c in versions})
    listed.sort(key=lambda i: i.rank or 0)
    near = sorted(
        (i for i in items if i.outcome == "ineligible"),
        key=lambda i: (i.near_miss is None or i.near_miss.holds_on is None, -(i.benefit or 0)),
    )
    page = MyPage(profile_id, kind, data.get("name"), as_of, listed + near, _questions(listed))
    page.declared = declared_fields(session, profile_id)
    return page


def _by_schema(versions: list[CompiledVersion]) -> list[list[CompiledVersion]]:
    """Policies checked against the same profile fields are evaluated together."""
    groups: dict[tuple[str, ...], list[CompiledVersion]] = {}
    for c in versions:
        groups.setdefault(tuple(c.schema.fields), []).append(c)
    return list(groups.values())


def _evaluate(
    group: list[CompiledVersion],
    profile_id: str,
    data: dict[str, Any],
    as_of: dt.date,
    states: dict[str, str],
) -> list[MyPolicy]:
    schema = group[0].schema
    policies = [c.policy for c in group]
    frame = frame_from_json([{**data, "id": profile_id}], schema)
    profile = frame.to_dicts()[0]
    result = next(BatchEvaluator(policies, as_of, near_miss=True).evaluate(frame, schema))
    _, scores = takeup_and_score(policies, result, as_of, None)
    rank = ranks(scores, result.outcome)
    out: list[MyPolicy] = []
    for j, (c, policy) in enumerate(zip(group, policies, strict=True)):
        code = int(result.outcome[j, 0])
        near = result.near_miss(j, policy, 0)
        if code == 0 and near is None:
            continue  # ineligible policies appear only as near misses
        benefit = float(result.benefit[j][0])
        item = MyPolicy(
            policy=policy.id,
            title=policy.title,
            outcome=OUTCOME_NAMES[code],
            benefit=None if np.isnan(benefit) else benefit,
            rank=int(rank[j, 0]) or None,
            deadline=policy.window.closes,
            opens=policy.window.opens,
            state=states.get(policy.id, STATE_NONE),
            version_id=c.version_id,
            score=float(scores[j, 0]),
            summary=policy.benefit_summary,
            department=policy.department,
            reference=policy.reference,
            tags=list(policy.tags),
            grant=policy.grant,
        )
        if code == 1:
            item.missing = _missing(policy, profile, as_of, schema)
        if near is not None:
            item.values = _reads(policy, profile, as_of, schema, near.criterion)
            item.near_miss = near
            item.near_miss_text = near_miss_text(policy, near, profile, as_of, schema)
            day = near.holds_on
            item.near_miss_in_window = day is not None and policy.window.is_open(day)
        out.append(item)
    return out


def _missing(
    policy: Policy, profile: dict[str, Any], as_of: dt.date, schema: ProfileSchema
) -> list[Missing]:
    explanation = build_explanation(evaluate_policy(policy, profile, as_of), schema)
    return [Missing(m.name, m.label) for m in explanation.missing]


def _reads(
    policy: Policy, profile: dict[str, Any], as_of: dt.date, schema: ProfileSchema, cid: str
) -> list[ValueRead]:
    """The profile fields the criterion read (for 「数据有误」 on one of them)."""
    explanation = build_explanation(evaluate_policy(policy, profile, as_of), schema)
    line = next(line for line in explanation.criteria if line.id == cid)
    seen: dict[str, ValueRead] = {}
    for _, sub in line.walk():
        for read in sub.reads:
            if not read.is_define:
                seen.setdefault(read.name, read)
    return list(seen.values())


def _rerank(items: list[MyPolicy]) -> None:
    """One rank over all groups, by descending score (ties: policy id), as ranks() does."""
    for n, item in enumerate(sorted(items, key=lambda i: (-i.score, i.rank or 0)), start=1):
        item.rank = n


def _exclusions(items: list[MyPolicy], policies: dict[str, Policy]) -> None:
    """Of two listed results that exclude each other, the better ranks first, as in
    `zhida evaluate` (`zhida.ranking.exclusion`); both say why."""
    mine = [policies[i.policy] for i in items]
    pairs = exclusion_pairs(mine)
    if not pairs:
        return
    rank = np.array([[i.rank or 0] for i in items], dtype=np.int32)
    outcome = np.array([[OUTCOME_NAMES.index(i.outcome)] for i in items], dtype=np.int8)
    benefit = [np.array([np.nan if i.benefit is None else i.benefit]) for i in items]
    score = np.array([[i.score] for i in items])
    rank_exclusions(rank, outcome, benefit, score, pairs)
    for item, r in zip(items, rank[:, 0], strict=True):
        item.rank = int(r) or None
    for j, k in pairs:
        better, worse = sorted([items[j], items[k]], key=lambda i: i.rank or 0)
        gain = (better.benefit or 0) - (worse.benefit or 0)
        more = f"，选择{better.title}可多得{format_amount(gain)}" if gain > 0 else ""
        worse.exclusion = f"与{better.title}不可同时享受{more}"
        worse.excluded_by = better.policy
        better.exclusion = f"与{worse.title}不可同时享受，本项对您更有利" + (
            f"（多{format_amount(gain)}）" if gain > 0 else ""
        )


def _questions(items: list[MyPolicy]) -> list[Question]:
    asked: dict[str, Question] = {}
    for item in items:
        if item.outcome != "unknown":
            continue
        for m in item.missing:
            q = asked.setdefault(m.name, Question(m.name, m.label, 0.0, []))
            q.amount += item.benefit or 0.0
            q.policies.append(item.policy)
    return sorted(asked.values(), key=lambda q: (-q.amount, -len(q.policies), q.name))


def deadline_text(day: dt.date | None) -> str:
    return chinese_date(day) if day else "常年受理"


def total_amount(page: MyPage) -> float:
    """What the eligible results add up to, the worse of two excluding ones left out."""
    return sum(
        p.benefit or 0.0 for p in page.policies if p.outcome == "eligible" and p.excluded_by is None
    )
