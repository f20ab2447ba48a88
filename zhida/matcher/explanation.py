"""Explanations as data: what was decided, criterion by criterion, and from which values.

`build_explanation` turns the reference interpreter's trace into an `Explanation`;
`zhida.matcher.explain` is the one renderer that writes it as Chinese text. Pages
and messages that show an explanation read this structure (or call that renderer);
none of them parses the text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from zhida.matcher.describe import MAX_DEPTH, describe
from zhida.matcher.reference import CriterionTrace, PolicyResult, Read, evaluate_node
from zhida.profiles.regions import place_name
from zhida.profiles.schema import ProfileSchema
from zhida.profiles.validate import REGION, format_of
from zhida.rules.ast import ARITH_OPS, CMP_OPS, Literal, Name, Node, Op, walk
from zhida.rules.policy import CriterionKind, Outcome, Policy


@dataclass(frozen=True)
class ValueRead:
    """One value a criterion read: a profile field (with its schema label and unit), a
    `define:` name or a computed side of a comparison (both labelled by what they compute,
    `zhida.matcher.describe`). `shown`: the value's words when they are not the value
    itself (a region code's place name). `zero_divisor`: why a value that could not be
    computed could not (what divides by zero), None when it is simply missing."""

    name: str
    label: str
    value: Any
    unit: str | None = None
    is_define: bool = False
    shown: str | None = None
    zero_divisor: str | None = None


@dataclass(frozen=True)
class MissingField:
    """A profile field whose missing value keeps a criterion from being decided."""

    name: str
    label: str


@dataclass(frozen=True)
class CriterionLine:
    """One criterion, nested ones too: whether it holds (True, False, None = unknown)."""

    id: str
    label: str
    kind: CriterionKind
    holds: bool | None
    reads: tuple[ValueRead, ...] = ()
    children: tuple[CriterionLine, ...] = ()
    computed: tuple[ValueRead, ...] = ()  # sides of its comparisons that are arithmetic
    thresholds: tuple[float, ...] = ()  # the numbers its values are compared with
    zero_divisors: tuple[str, ...] = ()  # what divides by zero, when that undecides it

    def walk(self, depth: int = 0) -> Iterator[tuple[int, CriterionLine]]:
        """This line and its descendants, depth first, with their nesting depth."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


@dataclass(frozen=True)
class Explanation:
    """Why one profile is (or is not, or may be) eligible for one policy on one day.

    `failed` and `unknown` are the ids of the top-level criteria that are false or
    unknown. `missing` lists the missing fields read by the undecided criteria,
    whatever the outcome (the text shows them only for an unknown outcome).
    """

    policy_id: str
    policy_title: str
    benefit_summary: str | None
    profile_id: str | None
    as_of: dt.date
    outcome: Outcome
    failed: tuple[str, ...]
    unknown: tuple[str, ...]
    benefit: float | None
    defines: tuple[ValueRead, ...]
    criteria: tuple[CriterionLine, ...]
    missing: tuple[MissingField, ...]

    def lines(self) -> Iterator[tuple[int, CriterionLine]]:
        """Every criterion line, depth first; top-level criteria have depth 0."""
        for line in self.criteria:
            yield from line.walk()


def build_explanation(
    result: PolicyResult,
    schema: ProfileSchema,
    profile_id: str | None = None,
    define_values: dict[str, Any] | None = None,
) -> Explanation:
    """The structure of one reference result (`define_values`: the `define:` names'
    values, shown as computed values when given)."""
    policy = result.policy
    define_values = define_values or {}
    criteria = tuple(_criterion_line(t, schema, policy, result.as_of) for t in result.criteria)
    return Explanation(
        policy_id=policy.id,
        policy_title=policy.title,
        benefit_summary=policy.benefit_summary,
        profile_id=profile_id,
        as_of=result.as_of,
        outcome=result.outcome,
        failed=tuple(result.failed),
        unknown=tuple(result.unknown),
        benefit=result.benefit,
        defines=tuple(
            _define_read(k, v, policy, schema, _fields(result), define_values, result.as_of)
            for k, v in define_values.items()
        ),
        criteria=criteria,
        missing=_missing(criteria),
    )


def missing_labels(result: PolicyResult, schema: ProfileSchema) -> list[str]:
    """Labels of the missing fields that keep an unknown result from being decided."""
    return [m.label for m in build_explanation(result, schema).missing]


def value_read(read: Read, schema: ProfileSchema, policy: Policy | None = None) -> ValueRead:
    if read.is_define:
        label = read.name
        if policy is not None and read.name in policy.defines:
            label = describe(Name(policy.defines[read.name].loc, read.name, True), policy, schema)
        return ValueRead(read.name, label, read.value, is_define=True)
    field = schema.get(read.name)
    if field is None:
        return ValueRead(read.name, read.name, read.value)
    if format_of(read.name) is REGION and isinstance(read.value, str):  # a place, not a code
        label = field.label.removesuffix("代码")
        return ValueRead(read.name, label, read.value, field.unit, shown=place_name(read.value))
    return ValueRead(read.name, field.label, read.value, field.unit)


def _define_read(
    name: str,
    value: Any,
    policy: Policy,
    schema: ProfileSchema,
    fields: dict[str, Any],
    defines: dict[str, Any],
    as_of: dt.date,
) -> ValueRead:
    read = value_read(Read(name, value, is_define=True), schema, policy)
    node = policy.defines.get(name)
    if value is not None or node is None:
        return read
    zero = _zero_divisors(node, policy, schema, fields, defines, as_of)
    return replace(read, zero_divisor=zero[0] if zero else None)


def _zero_divisors(
    node: Node,
    policy: Policy,
    schema: ProfileSchema,
    fields: dict[str, Any],
    defines: dict[str, Any],
    as_of: dt.date,
    depth: int = 0,
) -> list[str]:
    """What divides by zero in `node` (defines it reads included), described."""
    found: list[str] = []
    for n in walk(node):
        if isinstance(n, Op) and n.op == "/":
            if evaluate_node(policy, n.args[1], fields, defines, as_of) == 0:
                found.append(describe(n.args[1], policy, schema))
        elif (
            isinstance(n, Name)
            and n.is_define
            and depth < MAX_DEPTH
            and n.name in policy.defines
            and defines.get(n.name) is None
        ):
            inner = policy.defines[n.name]
            found += _zero_divisors(inner, policy, schema, fields, defines, as_of, depth + 1)
    return list(dict.fromkeys(found))


def _fields(result: PolicyResult) -> dict[str, Any]:
    """The profile as evaluated, and every field any criterion read."""
    out: dict[str, Any] = dict(result.profile)
    stack = list(result.criteria)
    while stack:
        trace = stack.pop()
        out.update((r.name, r.value) for r in trace.reads if not r.is_define)
        stack.extend(trace.children)
    return out


def _comparisons(node: Node) -> list[Op]:
    return [n for n in walk(node) if isinstance(n, Op) and (n.op in CMP_OPS or n.op == "between")]


def _criterion_line(
    trace: CriterionTrace, schema: ProfileSchema, policy: Policy, as_of: dt.date
) -> CriterionLine:
    crit = trace.criterion
    fields = {r.name: r.value for r in trace.reads if not r.is_define}
    defines = {r.name: r.value for r in trace.reads if r.is_define}
    reads = tuple(
        _define_read(r.name, r.value, policy, schema, fields, defines, as_of)
        if r.is_define
        else value_read(r, schema, policy)
        for r in trace.reads
    )
    computed: list[ValueRead] = []
    thresholds: list[float] = []
    zero: list[str] = []
    if crit.when is not None:
        for cmp in _comparisons(crit.when):
            for side in cmp.args:
                if isinstance(side, Literal):
                    if isinstance(side.value, int | float) and not isinstance(side.value, bool):
                        thresholds.append(float(side.value))
                elif isinstance(side, Op) and side.op in ARITH_OPS:  # 研发人员数 / 职工人数
                    label = describe(side, policy, schema)
                    if all(c.label != label for c in computed):
                        value = evaluate_node(policy, side, fields, defines, as_of)
                        zero = (
                            _zero_divisors(side, policy, schema, fields, defines, as_of)
                            if value is None
                            else []
                        )
                        computed.append(
                            ValueRead("", label, value, zero_divisor=zero[0] if zero else None)
                        )
        if trace.value is None:
            zero = _zero_divisors(crit.when, policy, schema, fields, defines, as_of)
    return CriterionLine(
        id=crit.id,
        label=crit.label,
        kind=crit.kind,
        holds=trace.value,
        reads=reads,
        children=tuple(_criterion_line(c, schema, policy, as_of) for c in trace.children),
        computed=tuple(computed),
        thresholds=tuple(thresholds),
        zero_divisors=tuple(zero),
    )


def _missing(criteria: tuple[CriterionLine, ...]) -> tuple[MissingField, ...]:
    """The missing fields read by undecided criteria (descending only into undecided
    ones), sorted by field name."""
    found: dict[str, str] = {}
    for line in criteria:
        for read in _undecided_reads(line):
            if read.value is None and not read.is_define:
                found[read.name] = read.label
    return tuple(MissingField(name, found[name]) for name in sorted(found))


def _undecided_reads(line: CriterionLine) -> Iterator[ValueRead]:
    if line.holds is not None:
        return
    yield from line.reads
    for child in line.children:
        yield from _undecided_reads(child)
