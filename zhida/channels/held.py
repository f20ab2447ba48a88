"""What a profile already holds: the policies it applied for, was granted, or confirmed
a 免申即享 grant of; and the one rule on excluding policies, that a profile holding one
of a pair is not to take the other (`held_exclusion`: application forms, submissions
and grant confirmations all ask it)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.publishing.catalogue import compiled
from zhida.publishing.versions import published_versions
from zhida.rules.policy import Policy
from zhida.store.models import FeedbackEvent, FeedbackKind, Grant, Submission

CONFIRMED, DECLINED = "confirmed", "declined"  # a profile's decision on a grant
STATE_NONE, STATE_APPLIED, STATE_GRANTED = "未申报", "已申报", "已领取"


def decisions_of(session: Session, profile_id: str) -> dict[str, str]:
    """policy id -> the profile's latest grant decision."""
    rows = session.scalars(
        select(Grant).where(Grant.profile_id == profile_id).order_by(Grant.decided_at)
    )
    return {g.policy_id: g.decision for g in rows}


def states_of(session: Session, profile_id: str) -> dict[str, str]:
    """policy id -> 已申报 (a submission) or 已领取 (recorded as granted)."""
    states = {
        pid: STATE_APPLIED
        for pid in session.scalars(
            select(Submission.policy_id).where(Submission.profile_id == profile_id)
        )
    }
    granted = session.scalars(
        select(FeedbackEvent.policy_id).where(
            FeedbackEvent.profile_id == profile_id,
            FeedbackEvent.kind == FeedbackKind.GRANTED.value,
        )
    )
    states.update(dict.fromkeys(granted, STATE_GRANTED))
    return states


@dataclass
class Held:
    """A policy the profile already holds (applied for, granted or confirmed) that
    excludes another: what a refusal names."""

    policy: str
    title: str
    state: str  # 已申报 | 已领取


def held_exclusion(session: Session, profile_id: str, policy: Policy) -> Held | None:
    """The policy excluding `policy` (either side's `excludes:`) that the profile
    already holds, if any: a second one of the pair is not to be submitted."""
    published = {
        c.policy.id: c.policy
        for c in map(compiled, published_versions(session, policy.audience.value))
    }
    excluding = set(policy.excludes) | {
        pid for pid, other in published.items() if policy.id in other.excludes
    }
    excluding.discard(policy.id)
    if not excluding:
        return None
    states = states_of(session, profile_id)
    for pid, decision in decisions_of(session, profile_id).items():
        if decision == CONFIRMED:
            states.setdefault(pid, STATE_APPLIED)
    held = sorted(excluding & set(states))
    if not held:
        return None
    other = published.get(held[0])
    return Held(held[0], other.title if other is not None else held[0], states[held[0]])
