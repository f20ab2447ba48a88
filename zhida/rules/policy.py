"""A loaded, checked policy: what the evaluators and the rest of zhida consume."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from zhida.errors import Location
from zhida.profiles.schema import Audience
from zhida.rules.ast import Node

#: a criterion holds one condition (`when:`), or all or at least one of its children
CriterionKind = Literal["when", "all", "any"]
CRITERION_KINDS: Final[tuple[CriterionKind, ...]] = ("when", "all", "any")

#: a policy's outcome for one profile: every criterion holds / one is false / otherwise
Outcome = Literal["eligible", "unknown", "ineligible"]
ELIGIBLE: Final = "eligible"
UNKNOWN: Final = "unknown"
INELIGIBLE: Final = "ineligible"
OUTCOMES: Final[tuple[Outcome, ...]] = (ELIGIBLE, INELIGIBLE, UNKNOWN)

#: how the benefit is obtained: an application form, or 免申即享 (confirm in one tap)
Grant = Literal["apply", "automatic"]
GRANTS: Final[tuple[Grant, ...]] = ("apply", "automatic")


@dataclass(eq=False)
class Criterion:
    id: str
    label: str
    kind: CriterionKind
    loc: Location
    when: Node | None = None
    children: list[Criterion] = field(default_factory=list)
    reference: str | None = None  # the article it comes from, e.g. 第五条第（二）项

    def walk(self) -> list[Criterion]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


@dataclass(frozen=True)
class Window:
    opens: dt.date | None = None
    closes: dt.date | None = None

    def is_open(self, on: dt.date) -> bool:
        opened = self.opens is None or self.opens <= on
        return opened and (self.closes is None or on <= self.closes)


@dataclass
class Expectation:
    outcome: Outcome
    failed: list[str] | None = None
    unknown: list[str] | None = None
    benefit: float | None = None
    check_benefit: bool = False


@dataclass
class PolicyTest:
    name: str
    as_of: dt.date
    profile: dict[str, Any]
    expect: Expectation
    loc: Location


@dataclass(eq=False)
class Policy:
    id: str
    title: str
    audience: Audience
    loc: Location
    department: str | None = None
    source: str | None = None
    window: Window = field(default_factory=Window)
    benefit_amount: Node | None = None
    benefit_summary: str | None = None
    defines: dict[str, Node] = field(default_factory=dict)
    form: dict[str, Node] = field(default_factory=dict)
    criteria: list[Criterion] = field(default_factory=list)
    tests: list[PolicyTest] = field(default_factory=list)
    sms_template: str | None = None  # Jinja2 text overriding the default SMS (channels/)
    sms_loc: Location | None = None
    holdout: float = 0.0  # share of the newly eligible not notified (ranking/holdout.py)
    reference: str | None = None  # the public document, e.g. 工信部企业〔2022〕63号
    tags: list[str] = field(default_factory=list)
    grant: Grant = "apply"
    excludes: list[str] = field(default_factory=list)  # 不重复享受 (ids of the pack)
    excludes_locs: list[Location] = field(default_factory=list)
    budget: float | None = None  # total money in CNY, for forecasts
    text: str = ""
    sha256: str = ""

    @property
    def path(self) -> str:
        return self.loc.file

    def criterion_ids(self) -> list[str]:
        return [c.id for c in self.criteria]

    def all_criteria(self) -> list[Criterion]:
        out: list[Criterion] = []
        for c in self.criteria:
            out.extend(c.walk())
        return out
