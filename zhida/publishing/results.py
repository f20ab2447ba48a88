"""What a published policy achieved: eligible, reached, opened, applied, granted.

Each is a number of distinct profiles, for the policy id (all its versions):

- eligible: a stored decision `eligible` now;
- reached (知晓覆盖率 = reached / eligible): an SMS the provider reported delivered, or
  an in-app message the profile has read;
- opened: the application link was opened (feedback `opened`);
- applied (申报率 = applied / eligible): an application was submitted;
- granted (兑现率 = granted / eligible): the benefit was paid (feedback `granted`).

Feedback marked simulated (the demo's made-up history, `ranking.feedback.SIMULATED`)
counts in none of them, nor in the lift.

And the time from the first publication of the policy to its first application and to
its first grant. The same by city and by industry section. With held-out profiles
(the policy's `holdout:`), the lift of take-up notified vs held out with its 95%
interval (`zhida.ranking.holdout.lift`, what `zhida rank lift` prints); else None.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import Select, func, select, union
from sqlalchemy.orm import Session

from zhida.profiles.regions import city_of, section_of
from zhida.ranking.feedback import load_feedback, notices, real_feedback
from zhida.ranking.holdout import lift
from zhida.store.models import (
    OUTCOME_CODES,
    Decision,
    FeedbackEvent,
    InboxMessage,
    Notification,
    NotificationStatus,
    PolicyVersion,
    Profile,
    Submission,
)

METRICS = ("eligible", "reached", "opened", "applied", "granted")
RATES = {"reached": "reach_rate", "applied": "apply_rate", "granted": "grant_rate"}


def _profiles(policy_id: str, metric: str) -> Select[Any]:
    """The ids of the profiles counted by one metric (a select of one column)."""
    if metric == "eligible":
        return select(Decision.profile_id).where(
            Decision.policy_id == policy_id, Decision.outcome == OUTCOME_CODES["eligible"]
        )
    if metric == "reached":
        return select(
            union(
                select(Notification.profile_id).where(
                    Notification.policy_id == policy_id,
                    Notification.status == NotificationStatus.DELIVERED,
                ),
                select(InboxMessage.profile_id).where(
                    InboxMessage.policy_id == policy_id, InboxMessage.read_at.is_not(None)
                ),
            ).subquery()
        )
    if metric == "applied":
        return select(Submission.profile_id).where(Submission.policy_id == policy_id)
    return select(FeedbackEvent.profile_id).where(
        FeedbackEvent.policy_id == policy_id, FeedbackEvent.kind == metric, real_feedback()
    )


def _count(session: Session, stmt: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.distinct().subquery())) or 0)


def _groups(session: Session, stmt: Select[Any]) -> tuple[Counter[str], Counter[str]]:
    """(by city, by industry section) counts of the profiles the select names."""
    region = Profile.data["region"].as_string()
    residence = Profile.data["residence_region"].as_string()
    industry = Profile.data["industry"].as_string()
    rows = session.execute(
        select(func.coalesce(region, residence), industry, func.count())
        .where(Profile.id.in_(stmt.distinct()))
        .group_by(func.coalesce(region, residence), industry)
    )
    cities: Counter[str] = Counter()
    sections: Counter[str] = Counter()
    for reg, ind, n in rows:
        cities[city_of(reg)] += int(n)
        sections[section_of(ind)] += int(n)
    return cities, sections


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    return t if t is None or t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def _hours(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    a, b = _aware(start), _aware(end)
    return None if a is None or b is None else round((b - a).total_seconds() / 3600, 2)


def _rates(counts: dict[str, int]) -> dict[str, float | None]:
    eligible = counts.get("eligible", 0)
    return {
        rate: (round(counts.get(metric, 0) / eligible, 4) if eligible else None)
        for metric, rate in RATES.items()
    }


def policy_results(session: Session, policy_id: str) -> dict[str, Any]:
    counts = {m: _count(session, _profiles(policy_id, m)) for m in METRICS}
    published = session.scalar(
        select(func.min(PolicyVersion.published_at)).where(PolicyVersion.policy_id == policy_id)
    )
    first_applied = session.scalar(
        select(func.min(Submission.created_at)).where(Submission.policy_id == policy_id)
    )
    first_granted = session.scalar(
        select(func.min(FeedbackEvent.at)).where(
            FeedbackEvent.policy_id == policy_id, FeedbackEvent.kind == "granted", real_feedback()
        )
    )
    published_at = _aware(published)
    by_city: dict[str, dict[str, int]] = {}
    by_industry: dict[str, dict[str, int]] = {}
    for metric in METRICS:
        cities, sections = _groups(session, _profiles(policy_id, metric))
        for table, groups in ((by_city, cities), (by_industry, sections)):
            for key, n in groups.items():
                table.setdefault(key, dict.fromkeys(METRICS, 0))[metric] = n
    return {
        "policy": policy_id,
        **counts,
        **_rates(counts),
        "published_at": published_at.isoformat() if published_at else None,
        "hours_to_first_application": _hours(published, first_applied),
        "hours_to_first_grant": _hours(published, first_granted),
        "by_city": dict(sorted(by_city.items())),
        "by_industry": dict(sorted(by_industry.items())),
        "holdout": holdout_lift(session, policy_id),
    }


def holdout_lift(session: Session, policy_id: str) -> dict[str, Any] | None:
    result = lift(notices(load_feedback(session, simulated=False)), policy_id).as_dict()
    return result if result["held_out"] else None


def counts_by_policy(session: Session) -> dict[str, dict[str, int]]:
    """Per policy id: eligible, unknown, reached, applied, granted (for the policy list)."""
    out: dict[str, dict[str, int]] = {}

    def put(policy_id: str, key: str, n: int) -> None:
        row = out.setdefault(
            policy_id, dict.fromkeys(("eligible", "unknown", "reached", "applied", "granted"), 0)
        )
        row[key] = int(n)

    for pid, outcome, n in session.execute(
        select(Decision.policy_id, Decision.outcome, func.count()).group_by(
            Decision.policy_id, Decision.outcome
        )
    ):
        put(pid, "eligible" if outcome == OUTCOME_CODES["eligible"] else "unknown", n)
    reached = union(
        select(Notification.policy_id, Notification.profile_id).where(
            Notification.status == NotificationStatus.DELIVERED
        ),
        select(InboxMessage.policy_id, InboxMessage.profile_id).where(
            InboxMessage.read_at.is_not(None)
        ),
    ).subquery()
    for pid, n in session.execute(
        select(reached.c.policy_id, func.count()).group_by(reached.c.policy_id)
    ):
        put(pid, "reached", n)
    for pid, n in session.execute(
        select(Submission.policy_id, func.count()).group_by(Submission.policy_id)
    ):
        put(pid, "applied", n)
    granted = (
        select(FeedbackEvent.policy_id, FeedbackEvent.profile_id)
        .where(FeedbackEvent.kind == "granted", real_feedback())
        .distinct()
        .subquery()
    )
    for pid, n in session.execute(
        select(granted.c.policy_id, func.count()).group_by(granted.c.policy_id)
    ):
        put(pid, "granted", n)
    return out
