"""The daily run: which published policies time alone can change today, one run per kind.

Time changes eligibility (a firm turns 3, a window opens or closes); `daily_selection`
finds the published versions whose outcome can move between the previous daily run
and today, and `create_daily_runs` cuts one run per kind over them (at most one per
kind and day).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from zhida.publishing.catalogue import compiled
from zhida.ranking.heuristic import urgency
from zhida.rules.ast import Node, walk
from zhida.rules.functions import is_dated_call
from zhida.rules.policy import Policy
from zhida.runs.reevaluate import create_run, latest_published
from zhida.store.models import Run


def _nodes(policy: Policy) -> list[Node]:
    roots: list[Node] = [c.when for c in policy.all_criteria() if c.when is not None]
    roots += list(policy.defines.values())
    if policy.benefit_amount is not None:
        roots.append(policy.benefit_amount)
    out: list[Node] = []
    for root in roots:
        out.extend(walk(root))
    return out


def uses_time(policy: Policy) -> bool:
    """Whether the policy's outcome, failed/unknown criteria or benefit can change with
    the evaluation date alone: a criterion, define or benefit calls years_since,
    months_since, days_since or days_until."""
    return any(is_dated_call(n) for n in _nodes(policy))


def window_changes(policy: Policy, since: dt.date, as_of: dt.date) -> bool:
    """Whether the window's effect on the score (its urgency band: not yet open, open
    with more than 90 / 90 / 30 days left, closed) differs between the two dates."""
    return urgency(policy.window, since) != urgency(policy.window, as_of)


def daily_selection(session: Session, as_of: dt.date) -> dict[str, list[int]]:
    """kind -> the published policy versions the daily run re-evaluates as of `as_of`.

    A policy is selected when time alone can change its results: (1) it uses
    years_since / months_since / days_since / days_until anywhere its outcome or benefit
    is computed (every day: a firm turns 3 on its own date), or (2) its window's urgency
    band changed since the previous daily run of that kind (or since yesterday): the
    window opened, came within 90 or 30 days of closing, or closed. The window never
    changes an outcome (DESIGN), so (2) only refreshes scores; it makes no transitions.
    """
    out: dict[str, list[int]] = {}
    for v in latest_published(session):
        since = _previous_daily(session, v.audience, as_of)
        policy = compiled(v).policy
        if uses_time(policy) or window_changes(policy, since, as_of):
            out.setdefault(v.audience, []).append(v.id)
    return out


def _previous_daily(session: Session, kind: str, as_of: dt.date) -> dt.date:
    last = session.scalar(
        select(func.max(Run.as_of)).where(
            Run.trigger == "daily", Run.kind == kind, Run.as_of < as_of.isoformat()
        )
    )
    return dt.date.fromisoformat(last) if last else as_of - dt.timedelta(days=1)


def daily_exists(session: Session, kind: str, as_of: dt.date) -> bool:
    return (
        session.scalar(
            select(func.count())
            .select_from(Run)
            .where(Run.trigger == "daily", Run.kind == kind, Run.as_of == as_of.isoformat())
        )
        != 0
    )


def create_daily_runs(session: Session, as_of: dt.date, chunk_size: int | None = None) -> list[Run]:
    """One run per kind for today's selection; none for a kind that already has today's
    daily run (so a re-delivered daily task does not start a second one)."""
    if session.connection().dialect.name == "postgresql":  # one daily creator at a time
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('zhida.daily', 0))"))
    runs = []
    for kind, ids in sorted(daily_selection(session, as_of).items()):
        if ids and not daily_exists(session, kind, as_of):
            runs.append(create_run(session, "daily", kind, ids, as_of, chunk_size))
    return runs
