"""The real-time path against the store: apply an event, judge the profile at once.

An event (profile update or life event) changes one stored profile; the profile
is judged against every published policy of its audience by the durable_rules
matcher (`zhida.matcher.realtime`), and changed decisions and transitions are
written through the same code as a run's chunks (`apply_profile_results`), so a
newly qualifying profile is found in well under a second, not at the next batch.
The API and `zhida events post` both call `process_event`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.matcher.realtime import RealtimeMatcher, RealtimeResult
from zhida.profiles.events import Event, apply_event
from zhida.profiles.schema import SchemaSet
from zhida.publishing.catalogue import compiled
from zhida.publishing.versions import published_versions
from zhida.ranking.heuristic import heuristic_scores
from zhida.rules.policy import Policy
from zhida.runs.decisions import apply_profile_results
from zhida.store.models import OUTCOME_CODES, Profile, Transition
from zhida.store.profiles import frame_from_json, stored_profile


@dataclass
class LiveMatcher:
    """Published policies compiled once; rebuild after a publish."""

    matcher: RealtimeMatcher
    policies: dict[str, Policy]
    version_ids: dict[str, int]
    schemas: SchemaSet
    counts: dict[str, int] = field(default_factory=lambda: {"durable_rules": 0, "reference": 0})

    def close(self) -> None:
        self.matcher.close()


def load_live_matcher(session: Session) -> LiveMatcher:
    versions = [(v, compiled(v)) for v in published_versions(session)]
    policies = {v.policy_id: c.policy for v, c in versions}
    # the profile fields of the first version that has a pack schema
    schemas = next((c.schemas for v, c in versions if v.schema_yaml), SchemaSet.builtin())
    return LiveMatcher(
        RealtimeMatcher(list(policies.values()), "zhida-live-"),
        policies,
        {v.policy_id: v.id for v, _ in versions},
        schemas,
    )


def _typed(
    matcher: LiveMatcher, kind: str, data: dict[str, Any] | None, profile_id: str
) -> dict[str, Any] | None:
    if data is None:
        return None
    return frame_from_json([{**data, "id": profile_id}], matcher.schemas[kind]).row(0, named=True)


def _scores(matcher: LiveMatcher, results: list[RealtimeResult], as_of: dt.date) -> list[float]:
    policies = [matcher.policies[r.policy_id] for r in results]
    outcome = np.array([[OUTCOME_CODES[r.outcome]] for r in results], dtype=np.int8)
    criteria = [
        np.array(
            [
                [
                    2
                    if c.id not in r.failed and c.id not in r.unknown
                    else (0 if c.id in r.failed else 1)
                ]
                for c in p.criteria
            ],
            dtype=np.int8,
        )
        for p, r in zip(policies, results, strict=True)
    ]
    benefit = [np.array([np.nan if r.benefit is None else r.benefit]) for r in results]
    return [float(s) for s in heuristic_scores(policies, outcome, criteria, benefit, as_of)[:, 0]]


def process_event(
    session: Session, matcher: LiveMatcher, event: Event, as_of: dt.date
) -> list[Transition]:
    """Apply one event to its stored profile, judge it, write changed decisions and
    transitions (the caller commits, then plans notifications)."""
    row = session.get(Profile, event.profile_id)
    kind = event.kind.value
    before = _typed(matcher, kind, dict(row.data), event.profile_id) if row else None
    after = apply_event(before, event)
    data = stored_profile(event.profile_id, after)
    if row is None:
        session.add(Profile(id=event.profile_id, kind=kind, data=data, source="event"))
    else:
        row.data, row.updated_at, row.source = data, utcnow(), "event"
    results = matcher.matcher.match(after, kind, as_of)
    for r in results:
        matcher.counts[r.via] = matcher.counts.get(r.via, 0) + 1
    scores = _scores(matcher, results, as_of) if results else []
    return apply_profile_results(
        session,
        event.profile_id,
        [
            (
                r.policy_id,
                matcher.version_ids[r.policy_id],
                OUTCOME_CODES[r.outcome],
                r.failed,
                r.unknown,
                r.benefit,
                score,
            )
            for r, score in zip(results, scores, strict=True)
        ],
    )
