"""The real-time path against the store: apply an event, judge the profile at once.

An event (profile update or life event) changes one stored profile; the profile
is judged against every published policy of its audience by the durable_rules
matcher (`zhida.matcher.realtime`), and changed decisions and transitions are
written through the same code as a run's chunks (`apply_profile_results`), so a
newly qualifying profile is found in well under a second, not at the next batch.
The API and `zhida events post` both call `process_event`.

The matcher judges with `post="candidates"`: durable_rules gets the events of the
rules that could fire, the compiled criteria decide the rest (see
`zhida.matcher.realtime`). `live_matcher` keeps the matchers built for the API's
requests (a self-declaration on /me, an officer's correction): one per database and
set of published versions (their ids and content hashes, read at each call, so a version
published or retired a moment ago is used at once), at most `CACHE_SIZE`, built once
whatever the threads; one dropped from the cache is freed when its last user is done
(its rulesets are freed when it is collected).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.matcher.realtime import POST_CANDIDATES, RealtimeMatcher, RealtimeResult
from zhida.profiles.events import Event, apply_event
from zhida.profiles.schema import SchemaSet
from zhida.publishing.catalogue import CompiledVersion, compiled, content_sha256
from zhida.publishing.versions import published_versions
from zhida.ranking.heuristic import heuristic_scores
from zhida.rules.policy import Policy
from zhida.runs.decisions import apply_profile_results
from zhida.store.models import OUTCOME_CODES, PolicyVersion, Profile, Transition
from zhida.store.profiles import frame_from_json, stored_profile

CACHE_SIZE = 4  # sets of published versions; more than one only while a publish lands


@dataclass
class LiveMatcher:
    """Published policies compiled once; rebuild after a publish (or use `live_matcher`)."""

    matcher: RealtimeMatcher
    policies: dict[str, Policy]
    version_ids: dict[str, int]
    schemas: SchemaSet
    counts: dict[str, int] = field(
        default_factory=lambda: {"durable_rules": 0, "compiled": 0, "reference": 0}
    )
    # a cached matcher is shared by the request threads (`live_matcher`)
    _counting: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, vias: Iterable[str]) -> None:
        """Add one event's results to `counts` (which judge decided each)."""
        seen = Counter(vias)
        with self._counting:
            for via, n in seen.items():
                self.counts[via] = self.counts.get(via, 0) + n

    def close(self) -> None:
        self.matcher.close()


def load_live_matcher(session: Session) -> LiveMatcher:
    """A new matcher of the versions published now (the caller closes it)."""
    return _build([(v, compiled(v)) for v in published_versions(session)])


def _build(versions: list[tuple[PolicyVersion, CompiledVersion]]) -> LiveMatcher:
    policies = {v.policy_id: c.policy for v, c in versions}
    # the profile fields of the first version that has a pack schema
    schemas = next((c.schemas for v, c in versions if v.schema_yaml), SchemaSet.builtin())
    return LiveMatcher(
        RealtimeMatcher(list(policies.values()), "zhida-live-", post=POST_CANDIDATES),
        policies,
        {v.policy_id: v.id for v, _ in versions},
        schemas,
    )


_CacheKey = tuple[object, ...]  # the database, then (version id, content hash) each
_cache: OrderedDict[_CacheKey, LiveMatcher] = OrderedDict()
_cache_lock = threading.Lock()  # guards _cache and _building
_building: dict[_CacheKey, threading.Lock] = {}  # one lock per set being built


def live_matcher(session: Session) -> LiveMatcher:
    """The shared matcher of the versions published now, built once per set of versions
    (see the module docstring). Not to be closed by the caller."""
    versions = published_versions(session)
    bind = session.get_bind()
    database = (bind if isinstance(bind, Engine) else bind.engine).url.render_as_string()
    key = (
        database,
        *sorted((v.id, content_sha256(v.yaml_text, v.schema_yaml)) for v in versions),
    )
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
        building = _building.setdefault(key, threading.Lock())
    with building:  # a second thread asking for the same set waits here
        with _cache_lock:
            found = _cache.get(key)
        if found is not None:
            return found
        try:
            found = _build([(v, compiled(v)) for v in versions])
            with _cache_lock:
                _cache[key] = found
                while len(_cache) > CACHE_SIZE:
                    _cache.popitem(last=False)  # freed when its last user lets go
        finally:
            with _cache_lock:
                if _building.get(key) is building:
                    del _building[key]
    return found


def clear_live_matchers() -> None:
    """Drop every cached matcher (tests; they are freed when no longer used)."""
    with _cache_lock:
        _cache.clear()


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
    matcher.count(r.via for r in results)
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
