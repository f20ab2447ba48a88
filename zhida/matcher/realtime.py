"""The real-time path: one profile at a time, judged by durable_rules.

`RealtimeMatcher` compiles published policies (both audiences) into one
durable_rules ruleset per policy and, for each profile change, posts one event per
policy of the profile's audience. This module is its public face; the work is done
in three modules of one job each:

- `realtime_compile`: a policy's criteria -> one durable_rules condition over
  posted values (what durable_rules cannot compute is computed before posting);
- `realtime_facts`: a profile's values as event properties, written as
  durable_rules' JSON reader reads them back;
- `realtime_rulesets`: durable_rules itself (a private host, the rulesets, their
  one fixed session, posting events, freeing) and its measured pitfalls.

Judging. If a value to post is unknown (a missing field, a division by zero,
...) or not finite, durable_rules cannot judge that (profile, policy): it has
no three-valued logic. The reference interpreter decides instead
(`via="reference"`). Otherwise durable_rules decides the outcome: eligible when
the policy's rule fired, ineligible when it did not. The failed criterion ids
and the benefit of such a result come from closures compiled beside the
condition (`realtime_compile.compile_judges`: the reference's scalar semantics
over the same memoised values the event posted, no tree walk); the outcome they
imply is compared with durable_rules' and a disagreement is counted in `stats`
and logged. A criterion that needs a value the condition did not (so it may be
unknown) sends that result to the reference.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zhida.errors import ZhidaError
from zhida.matcher.realtime_compile import Judges, compile_condition, compile_judges
from zhida.matcher.realtime_facts import Compute, Ctx, Value
from zhida.matcher.realtime_rulesets import (
    CompiledPolicy,
    delete_all,
    event_text,
    new_ruleset,
    post_event,
)
from zhida.matcher.reference import evaluate_policy, normalize_profile
from zhida.profiles.schema import Audience
from zhida.rules.policy import ELIGIBLE, INELIGIBLE, Outcome, Policy

__all__ = ["VIA_DURABLE", "VIA_REFERENCE", "RealtimeMatcher", "RealtimeResult"]

log = logging.getLogger(__name__)

VIA_DURABLE = "durable_rules"
VIA_REFERENCE = "reference"


@dataclass(frozen=True)
class RealtimeResult:
    """One (profile, policy) judgement of the real-time path."""

    policy_id: str
    outcome: Outcome
    failed: list[str]
    unknown: list[str]
    benefit: float | None
    via: str  # durable_rules | reference


class RealtimeMatcher:
    """Published policies compiled into durable_rules rulesets, one per policy.

    `match` judges one profile against every policy of its audience. A matcher is
    safe to share between threads (calls are serialised); `close()` frees the
    rulesets (it is also a context manager; a matcher that is garbage-collected
    or alive at exit is freed too).
    """

    def __init__(self, policies: Sequence[Policy], name_prefix: str = "zhida-"):
        ids = [p.id for p in policies]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ZhidaError(f"policy ids must be unique in a matcher: {', '.join(dupes)}")
        self.name_prefix = name_prefix
        self._lock = threading.Lock()
        self._shared: dict[str, Compute] = {}
        self._by_audience: dict[Audience, list[CompiledPolicy]] = {a: [] for a in Audience}
        self._judges: dict[str, Judges] = {}
        self._closed = False
        self.stats: dict[str, int] = {VIA_DURABLE: 0, VIA_REFERENCE: 0, "disagreements": 0}
        # frees the rulesets when the matcher is closed, collected, or at exit
        self._free = weakref.finalize(self, delete_all, self._by_audience.values())
        try:
            for policy in policies:
                compiled = self._compile(policy)
                self._by_audience[Audience(policy.audience)].append(compiled)
        except BaseException:
            self.close()
            raise

    # -- compiling
    def _compile(self, policy: Policy) -> CompiledPolicy:
        condition, posted = compile_condition(policy, self._shared)
        self._judges[policy.id] = compile_judges(policy, self._shared)
        return new_ruleset(policy, self.name_prefix, condition, posted)

    @property
    def policies(self) -> list[Policy]:
        return [c.policy for group in self._by_audience.values() for c in group]

    @property
    def ruleset_names(self) -> dict[str, str]:
        """Policy id -> the name of its durable_rules ruleset."""
        return {c.policy.id: c.name for group in self._by_audience.values() for c in group}

    def conditions(self) -> dict[str, dict[str, Any]]:
        """Policy id -> its durable_rules condition (JSON), for inspection."""
        return {c.policy.id: c.condition for group in self._by_audience.values() for c in group}

    # -- matching
    def match(
        self, profile: dict[str, Value], kind: Audience | str, as_of: dt.date
    ) -> list[RealtimeResult]:
        """Judge one profile against every policy of its audience, in compilation order."""
        try:
            audience = Audience(kind)
        except ValueError:
            raise ZhidaError(
                f"unknown profile kind {kind!r}; expected enterprise or citizen"
            ) from None
        with self._lock:
            if self._closed:
                raise ZhidaError("this real-time matcher is closed")
            ctx = Ctx(normalize_profile(profile), as_of)
            return [self._judge(c, profile, ctx) for c in self._by_audience[audience]]

    def _judge(
        self, compiled: CompiledPolicy, profile: dict[str, Value], ctx: Ctx
    ) -> RealtimeResult:
        text = event_text(compiled, ctx)
        if text is None:  # unknown: durable_rules has no three-valued logic
            return self._by_reference(compiled.policy, profile, ctx.as_of)
        eligible = post_event(compiled, text)
        outcome: Outcome = ELIGIBLE if eligible else INELIGIBLE
        judges = self._judges[compiled.policy.id]
        truths = [judge(ctx) for judge in judges.criteria]
        if any(t is None for t in truths):  # a value the condition did not need is unknown
            return self._by_reference(compiled.policy, profile, ctx.as_of)
        if all(truths) != eligible:
            self.stats["disagreements"] += 1
            log.warning(
                "durable_rules says %s, the criteria %s: policy %s, profile %s",
                outcome,
                ELIGIBLE if all(truths) else INELIGIBLE,
                compiled.policy.id,
                profile.get("id"),
            )
        failed = [c.id for c, t in zip(compiled.policy.criteria, truths, strict=True) if not t]
        benefit = None
        if judges.benefit is not None:
            raw = judges.benefit(ctx)
            benefit = None if raw is None else float(raw)
        self.stats[VIA_DURABLE] += 1
        return RealtimeResult(compiled.policy.id, outcome, failed, [], benefit, VIA_DURABLE)

    def _by_reference(
        self, policy: Policy, profile: dict[str, Value], as_of: dt.date
    ) -> RealtimeResult:
        ref = evaluate_policy(policy, profile, as_of)
        self.stats[VIA_REFERENCE] += 1
        return RealtimeResult(
            policy.id, ref.outcome, ref.failed, ref.unknown, ref.benefit, VIA_REFERENCE
        )

    # -- lifetime
    def close(self) -> None:
        """Delete the rulesets (their memory is the engine's, not Python's). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._free()

    def __enter__(self) -> RealtimeMatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
