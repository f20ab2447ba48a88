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

Judging. Each policy's top-level criteria and benefit are compiled beside its
condition into closures (`realtime_compile.compile_judges`): the reference
interpreter's three-valued semantics over the same memoised values the events
post, no tree walk. They give every result's failed and unknown criterion ids and
its benefit; who decides the outcome depends on `post`:

- `post="all"` (the audit mode, the default): every (profile, policy) whose values
  are all known and readable is posted to durable_rules, which decides (eligible
  when the policy's rule fired, `via="durable_rules"`); the closures' outcome is
  compared with it and a disagreement counted in `stats` and logged. durable_rules
  has no three-valued logic, so a result with an unknown (a missing field, a
  division by zero, ...) or unreadable (not finite) value is decided by the
  reference interpreter (`via="reference"`).
- `post="candidates"` (the live path): only the rulesets that could fire get the
  event, those whose criteria the closures found all true; durable_rules decides
  those (`via="durable_rules"`, a disagreement counted as above). Every other
  result (ineligible, or unknown) is the closures' (`via="compiled"`): no rule of
  its policy could fire, so posting would only confirm it. A property test keeps
  the two modes in agreement on random policies and profiles.
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
from zhida.matcher.reference import evaluate_policy, normalize_profile, outcome_of
from zhida.profiles.schema import Audience
from zhida.rules.policy import ELIGIBLE, INELIGIBLE, Outcome, Policy

__all__ = [
    "POST_ALL",
    "POST_CANDIDATES",
    "VIA_COMPILED",
    "VIA_DURABLE",
    "VIA_REFERENCE",
    "RealtimeMatcher",
    "RealtimeResult",
]

log = logging.getLogger(__name__)

VIA_DURABLE = "durable_rules"
VIA_REFERENCE = "reference"
VIA_COMPILED = "compiled"
POST_ALL = "all"  # every judgeable event goes to durable_rules (the audit mode)
POST_CANDIDATES = "candidates"  # only the events of rules that could fire


@dataclass(frozen=True)
class RealtimeResult:
    """One (profile, policy) judgement of the real-time path."""

    policy_id: str
    outcome: Outcome
    failed: list[str]
    unknown: list[str]
    benefit: float | None
    via: str  # durable_rules | reference | compiled


class RealtimeMatcher:
    """Published policies compiled into durable_rules rulesets, one per policy.

    `match` judges one profile against every policy of its audience; `post` says
    which events durable_rules gets (see the module's docstring). A matcher is
    safe to share between threads (calls are serialised); `close()` frees the
    rulesets (it is also a context manager; a matcher that is garbage-collected
    or alive at exit is freed too).
    """

    def __init__(
        self, policies: Sequence[Policy], name_prefix: str = "zhida-", post: str = POST_ALL
    ):
        if post not in (POST_ALL, POST_CANDIDATES):
            raise ZhidaError(f"post must be {POST_ALL} or {POST_CANDIDATES}, not {post!r}")
        self.post = post
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
        policy = compiled.policy
        judges = self._judges[policy.id]
        truths = [judge(ctx) for judge in judges.criteria]
        known = None not in truths
        if self.post == POST_ALL and not known:
            return self._by_reference(policy, profile, ctx.as_of)  # audit: the interpreter
        eligible = known and all(truths)
        outcome: Outcome = outcome_of(truths)
        via = VIA_COMPILED
        if eligible or (known and self.post == POST_ALL):  # a rule that could fire
            text = event_text(compiled, ctx)
            if text is None:  # a value durable_rules cannot read (not finite...)
                if self.post == POST_ALL:
                    return self._by_reference(policy, profile, ctx.as_of)
            else:
                via = VIA_DURABLE
                if post_event(compiled, text) != eligible:
                    self._disagree(policy, profile, eligible)
                    outcome = INELIGIBLE if eligible else ELIGIBLE  # durable_rules decides
        failed = [c.id for c, t in zip(policy.criteria, truths, strict=True) if t is False]
        unknown = [c.id for c, t in zip(policy.criteria, truths, strict=True) if t is None]
        benefit = None
        if judges.benefit is not None:
            raw = judges.benefit(ctx)
            benefit = None if raw is None else float(raw)
        self.stats[via] = self.stats.get(via, 0) + 1
        return RealtimeResult(policy.id, outcome, failed, unknown, benefit, via)

    def _disagree(self, policy: Policy, profile: dict[str, Value], eligible: bool) -> None:
        self.stats["disagreements"] += 1
        log.warning(
            "durable_rules says %s, the criteria %s: policy %s, profile %s",
            INELIGIBLE if eligible else ELIGIBLE,
            ELIGIBLE if eligible else INELIGIBLE,
            policy.id,
            profile.get("id"),
        )

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
