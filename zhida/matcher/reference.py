"""The reference interpreter: one profile, one policy, plain Python, with a trace.

It walks the checked syntax tree with the scalar semantics of
`zhida.rules.semantics` (operators) and `zhida.rules.functions` (functions). It
is the oracle the vectorised evaluator is tested against, the engine behind
`zhida explain` and policy tests, and fast enough for single profiles (real-time
path, application forms).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from zhida.rules import semantics
from zhida.rules.ast import Call, ListLit, Literal, Name, Node, Op
from zhida.rules.functions import FUNCTIONS
from zhida.rules.policy import ELIGIBLE, INELIGIBLE, UNKNOWN, Criterion, Outcome, Policy

Value = Any


@dataclass
class Read:
    """One value an expression read: a profile field or a `define:` name."""

    name: str
    value: Value
    is_define: bool = False


@dataclass
class CriterionTrace:
    criterion: Criterion
    value: bool | None
    reads: list[Read] = field(default_factory=list)
    children: list[CriterionTrace] = field(default_factory=list)


@dataclass
class PolicyResult:
    policy: Policy
    outcome: Outcome
    failed: list[str]
    unknown: list[str]
    benefit: float | None
    criteria: list[CriterionTrace]
    as_of: dt.date
    profile: dict[str, Value] = field(default_factory=dict)  # as evaluated (normalised)

    @property
    def top_codes(self) -> list[bool | None]:
        return [t.value for t in self.criteria]


def normalize_profile(profile: dict[str, Value]) -> dict[str, Value]:
    """Numbers as floats (as the vectorised path sees them); datetimes as dates."""
    out: dict[str, Value] = {}
    for k, v in profile.items():
        if isinstance(v, bool) or v is None or isinstance(v, str | dt.date | list | tuple):
            out[k] = v.date() if isinstance(v, dt.datetime) else v
        elif isinstance(v, int | float):
            out[k] = float(v)
        else:
            out[k] = v
    return out


class _Env:
    def __init__(self, policy: Policy, profile: dict[str, Value], as_of: dt.date):
        self.policy = policy
        self.profile = profile
        self.as_of = as_of
        self.memo: dict[str, Value] = {}
        self.reads: list[Read] | None = None

    def record(self, read: Read) -> None:
        if self.reads is not None and all(r.name != read.name for r in self.reads):
            self.reads.append(read)

    def eval(self, node: Node) -> Value:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, ListLit):
            return [self.eval(i) for i in node.items]
        if isinstance(node, Name):
            return self._name(node)
        if isinstance(node, Call):
            return FUNCTIONS[node.fn].apply([self.eval(a) for a in node.args], self.as_of)
        assert isinstance(node, Op)
        return semantics.apply_op(node.op, [self.eval(a) for a in node.args])

    def _name(self, node: Name) -> Value:
        if node.is_define:
            if node.name not in self.memo:
                outer, self.reads = self.reads, []
                self.memo[node.name] = self.eval(self.policy.defines[node.name])
                inner, self.reads = self.reads, outer
                for r in inner or []:
                    self.record(r)
            value = self.memo[node.name]
            self.record(Read(node.name, value, is_define=True))
            return value
        value = self.profile.get(node.name)
        self.record(Read(node.name, value))
        return value

    def criterion(self, crit: Criterion) -> CriterionTrace:
        if crit.kind == "when":
            assert crit.when is not None
            self.reads = []
            value = self.eval(crit.when)
            trace = CriterionTrace(crit, value, self.reads)
            self.reads = None
            return trace
        children = [self.criterion(c) for c in crit.children]
        values = [c.value for c in children]
        combined = semantics.all_of(values) if crit.kind == "all" else semantics.any_of(values)
        return CriterionTrace(crit, combined, children=children)


def outcome_of(values: list[bool | None]) -> Outcome:
    combined = semantics.all_of(values)
    return ELIGIBLE if combined is True else INELIGIBLE if combined is False else UNKNOWN


def evaluate_policy(policy: Policy, profile: dict[str, Value], as_of: dt.date) -> PolicyResult:
    env = _Env(policy, normalize_profile(profile), as_of)
    traces = [env.criterion(c) for c in policy.criteria]
    values = [t.value for t in traces]
    benefit = None
    if policy.benefit_amount is not None:
        raw = env.eval(policy.benefit_amount)
        benefit = None if raw is None else float(raw)
    return PolicyResult(
        policy=policy,
        outcome=outcome_of(values),
        failed=[t.criterion.id for t in traces if t.value is False],
        unknown=[t.criterion.id for t in traces if t.value is None],
        benefit=benefit,
        criteria=traces,
        as_of=as_of,
        profile=env.profile,
    )


def evaluate_define_values(
    policy: Policy, profile: dict[str, Value], as_of: dt.date
) -> dict[str, Value]:
    env = _Env(policy, normalize_profile(profile), as_of)
    return {
        name: env.eval(Name(node.loc, name, is_define=True))
        for name, node in policy.defines.items()
    }


def evaluate_form(policy: Policy, profile: dict[str, Value], as_of: dt.date) -> dict[str, Value]:
    """The application form prefilled from the profile: label -> value (None if unknown)."""
    env = _Env(policy, normalize_profile(profile), as_of)
    return {label: env.eval(node) for label, node in policy.form.items()}


def evaluate_node(
    policy: Policy,
    node: Node,
    fields: dict[str, Value],
    defines: dict[str, Value],
    as_of: dt.date,
) -> Value:
    """One expression of the policy from values already read (an explanation's: the
    fields and `define:` values a criterion read), e.g. the side of a comparison."""
    env = _Env(policy, normalize_profile(fields), as_of)
    env.memo.update(defines)
    return env.eval(node)
