"""Explanations as data: what was decided, criterion by criterion, and from which values.

`build_explanation` turns the reference interpreter's trace into an `Explanation`;
`zhida.matcher.explain` is the one renderer that writes it as Chinese text. Pages
and messages that show an explanation read this structure (or call that renderer);
none of them parses the text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from zhida.matcher.reference import CriterionTrace, PolicyResult, Read
from zhida.profiles.schema import ProfileSchema
from zhida.rules.policy import CriterionKind, Outcome


@dataclass(frozen=True)
class ValueRead:
    """One value a criterion read: a profile field (with its schema label and unit) or a
    `define:` name (labelled by its name)."""

    name: str
    label: str
    value: Any
    unit: str | None = None
    is_define: bool = False


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
    criteria = tuple(_criterion_line(t, schema) for t in result.criteria)
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
        defines=tuple(ValueRead(k, k, v, is_define=True) for k, v in (define_values or {}).items()),
        criteria=criteria,
        missing=_missing(criteria),
    )


def missing_labels(result: PolicyResult, schema: ProfileSchema) -> list[str]:
    """Labels of the missing fields that keep an unknown result from being decided."""
    return [m.label for m in build_explanation(result, schema).missing]


def value_read(read: Read, schema: ProfileSchema) -> ValueRead:
    if read.is_define:
        return ValueRead(read.name, read.name, read.value, is_define=True)
    field = schema.get(read.name)
    if field is None:
        return ValueRead(read.name, read.name, read.value)
    return ValueRead(read.name, field.label, read.value, field.unit)


def _criterion_line(trace: CriterionTrace, schema: ProfileSchema) -> CriterionLine:
    crit = trace.criterion
    return CriterionLine(
        id=crit.id,
        label=crit.label,
        kind=crit.kind,
        holds=trace.value,
        reads=tuple(value_read(r, schema) for r in trace.reads),
        children=tuple(_criterion_line(c, schema) for c in trace.children),
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
