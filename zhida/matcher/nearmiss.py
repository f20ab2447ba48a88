"""Near misses: one step from eligible.

A result is a near miss when exactly one top-level criterion is false and none is
unknown (DESIGN "Command line"). Its `holds_on` is the first evaluation date after
`as_of` on which that criterion holds with the profile unchanged, found for the date
functions (`years_since`, `months_since`, `days_since`, `days_until`) compared with
constants (`>=`, `>`, `<=`, `<`, `==`, `between`), directly or through `define:`
names, combined by `and`/`or` and `all:`/`any:`. Anything else that depends on the
date (`not` over a date test, `!=`, a date function inside arithmetic) is not
analysed: `holds_on` is null, as it is when time does not enter the criterion at all
or when the date lies beyond HORIZON_DAYS.

`plan_criterion` reads the criterion once per policy (the same for both engines);
`near_miss_chunk` (`near_miss_mask` + `holds_on_days`) is the vectorised form (a truth interval
[lo, hi) of days per row and test, intersected for `and`, first dates minimised for
`or`); `near_miss_scalar` is the reference: it asks the reference interpreter about
each following day in turn.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from zhida.rules.ast import Call, Literal, Name, Node, Op, walk
from zhida.rules.functions.dates import CALENDAR_UNITS, civil_from_days, months_between_days
from zhida.rules.policy import Criterion, Policy
from zhida.rules.types import BOOL
from zhida.rules.vectors import date_to_days, days_to_date

#: a date further than this from the evaluation date is not a near miss's date
HORIZON_DAYS = 3660
DATE_FUNCTIONS = frozenset(CALENDAR_UNITS)
NEVER = np.int64(1 << 40)  # a day number no date reaches
BEFORE = np.int64(-(1 << 40))

_FLIP = {">=": "<=", "<=": ">=", ">": "<", "<": ">", "==": "=="}


@dataclass(frozen=True)
class NearMiss:
    criterion: str  # id of the one false top-level criterion
    holds_on: dt.date | None

    def as_json(self) -> dict[str, str | None]:
        return {
            "criterion": self.criterion,
            "holds_on": self.holds_on.isoformat() if self.holds_on else None,
        }


# -- the plan: how a criterion's truth depends on the evaluation date -------------------


@dataclass(frozen=True)
class Static:
    """No date dependence: true from now on or never."""

    node: Node | Criterion


@dataclass(frozen=True)
class Test:
    """`unit_since(arg)` in [lo, hi) (whole units; None = unbounded): a day interval."""

    unit: str  # days | months | years
    arg: Node
    lo: int | None
    hi: int | None


@dataclass(frozen=True)
class Both:
    parts: tuple[Plan, ...]


@dataclass(frozen=True)
class Either:
    parts: tuple[Plan, ...]


Plan = Static | Test | Both | Either


class _Unsupported(Exception):
    pass


def plan_criterion(crit: Criterion, policy: Policy) -> Plan | None:
    """The plan of a top-level criterion, or None when time alone cannot be analysed or
    cannot matter (no date function in it)."""
    try:
        plan = _crit_plan(crit, policy)
    except _Unsupported:
        return None
    return None if isinstance(plan, Static) else plan


def _crit_plan(crit: Criterion, policy: Policy) -> Plan:
    if crit.kind == "when":
        assert crit.when is not None
        plan = _expr_plan(crit.when, policy)
        return Static(crit) if isinstance(plan, Static) else plan
    parts = [_crit_plan(c, policy) for c in crit.children]
    if all(isinstance(p, Static) for p in parts):
        return Static(crit)
    return _combine("and" if crit.kind == "all" else "or", parts)


def _combine(op: str, parts: list[Plan]) -> Plan:
    if op == "and":
        if any(isinstance(p, Either) for p in parts):
            raise _Unsupported  # an `or` under an `and` is not one interval
        return Both(tuple(parts))
    return Either(tuple(parts))


def _resolve(node: Node, policy: Policy) -> Node:
    while isinstance(node, Name) and node.is_define:
        node = policy.defines[node.name]
    return node


def _dated(node: Node, policy: Policy, seen: frozenset[str] = frozenset()) -> bool:
    for n in walk(node):
        if isinstance(n, Call) and n.fn in DATE_FUNCTIONS:
            return True
        if (
            isinstance(n, Name)
            and n.is_define
            and n.name not in seen
            and _dated(policy.defines[n.name], policy, seen | {n.name})
        ):
            return True
    return False


def _expr_plan(node: Node, policy: Policy) -> Plan:
    node = _resolve(node, policy)
    if not _dated(node, policy):
        return Static(node)
    if isinstance(node, Op) and node.op in ("and", "or"):
        parts = [_expr_plan(a, policy) for a in node.args]
        return _combine(node.op, parts)
    if isinstance(node, Op) and node.op in _FLIP:
        left, right = (_resolve(a, policy) for a in node.args)
        if _is_call(left) and _constant(right):
            return _test(left, node.op, [right])
        if _is_call(right) and _constant(left):
            return _test(right, _FLIP[node.op], [left])
    if isinstance(node, Op) and node.op == "between":
        x, lo, hi = (_resolve(a, policy) for a in node.args)
        if _is_call(x) and _constant(lo) and _constant(hi):
            return _test(x, "between", [lo, hi])
    raise _Unsupported


def _is_call(node: Node) -> bool:
    return isinstance(node, Call) and node.fn in DATE_FUNCTIONS


def _constant(node: Node) -> bool:
    return isinstance(node, Literal) and (
        node.value is None
        or (isinstance(node.value, int | float) and not isinstance(node.value, bool))
    )


def _test(call: Node, op: str, consts: list[Node]) -> Plan:
    assert isinstance(call, Call)
    values = [c.value for c in consts if isinstance(c, Literal)]
    if any(v is None for v in values):
        unknown = Literal(call.loc, None)
        unknown.ty = BOOL
        return Static(unknown)  # compared with unknown: never true
    nums = [float(v) for v in values]
    unit, sign = CALENDAR_UNITS[call.fn]
    if sign < 0:  # days_until(d) = -days_since(d)
        nums = [-v for v in reversed(nums)]
        op = _FLIP.get(op, op)
    c = nums[0]
    lo: int | None
    hi: int | None
    if op == ">=":
        lo, hi = math.ceil(c), None
    elif op == ">":
        lo, hi = math.floor(c) + 1, None
    elif op == "<=":
        lo, hi = None, math.floor(c) + 1
    elif op == "<":
        lo, hi = None, math.ceil(c)
    elif op == "==":
        lo, hi = (int(c), int(c) + 1) if c.is_integer() else (0, 0)
    else:  # between, inclusive
        lo, hi = math.ceil(nums[0]), math.floor(nums[1]) + 1
    return Test(unit, call.args[0], lo, hi)


# -- vectorised -------------------------------------------------------------------


def near_miss_mask(c: int, total: np.ndarray, outcome: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (n,) bool := exactly one of a policy's c top-level criteria is not true, and it
    is false, from `total`, the sum of their int8 codes ((n,) int8 from fewer than 64
    criteria; overwritten), and `outcome`, their minimum. The codes sum to 2C - 2 when
    one is false and the rest true, or when two are unknown and the rest true: the
    outcome (0, not 1) tells them apart. Nothing allocated."""
    if c <= 1:
        return np.equal(outcome, 0, out=out) if c else np.logical_and(False, out, out=out)
    np.equal(total, 2 * c - 2, out=out)
    ineligible = np.equal(outcome, 0, out=total.view(bool)[: len(out)])
    return np.logical_and(out, ineligible, out=out)


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a civil date (H. Hinnant's algorithm, the inverse of
    rules/functions/dates.civil_from_days)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = np.where(month > 2, month - 3, month + 9)
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    result: np.ndarray = era * 146097 + doe - 719468
    return result


_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def add_months(a: np.ndarray, k: int) -> np.ndarray:
    """a + k months, the day clipped to the month's last (as relativedelta adds)."""
    year, month, day = civil_from_days(a)
    total = year * 12 + (month - 1) + k
    y, m = total // 12, total % 12 + 1
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    last = _MONTH_DAYS[m - 1] + (leap & (m == 2))
    return _days_from_civil(y, m, np.minimum(day, last))


def first_month(a: np.ndarray, k: np.ndarray | int) -> np.ndarray:
    """The first day t with months_since(a) as of t >= k, per row (a: int64 days).

    months_since is non-decreasing in t; the day lies within a few weeks of a + k
    months, found by bisection (exact, as the evaluator counts months)."""
    k = np.broadcast_to(np.asarray(k, dtype=np.int64), a.shape)
    lo = a + np.minimum(28 * k, 31 * k) - 64  # months_since(lo) < k
    hi = a + np.maximum(28 * k, 31 * k) + 64  # months_since(hi) >= k
    while True:
        open_ = hi - lo > 1
        if not open_.any():
            return hi
        mid = (lo + hi) // 2
        ok = months_between_days(mid, a) >= k
        hi = np.where(open_ & ok, mid, hi)
        lo = np.where(open_ & ~ok, mid, lo)


def _first_day(unit: str, a: np.ndarray, k: int | None, unbounded: np.int64) -> np.ndarray:
    if k is None:
        return np.full(a.shape, unbounded, dtype=np.int64)
    if unit == "days":
        return a + k
    if len(a) < TABLE_FROM:
        return _first_month_day(unit, a, k)
    if a.min() < TABLE_START or a.max() >= TABLE_START + TABLE_DAYS:
        return _first_month_day(unit, a, k)
    return np.take(_first_day_table(unit, k), a - TABLE_START)


def _first_month_day(unit: str, a: np.ndarray, k: int) -> np.ndarray:
    months = k if unit == "months" else 12 * k if k >= 1 else 12 * k - 11  # years: truncated
    if months >= 1:  # counting forward from a: exactly a + k months
        return add_months(a, months)
    return first_month(a, months)


#: the first days of a month or year count depend on the date alone, not on the evaluation
#: date: for many rows they are looked up in a table of every day from TABLE_START on
TABLE_START = int(date_to_days(dt.date(1900, 1, 1)))
TABLE_DAYS = int(date_to_days(dt.date(2100, 1, 1))) - TABLE_START
TABLE_FROM = 64  # rows, from which a table pays for itself


@functools.lru_cache(maxsize=32)
def _first_day_table(unit: str, k: int) -> np.ndarray:
    days = np.arange(TABLE_START, TABLE_START + TABLE_DAYS, dtype=np.int64)
    table = _first_month_day(unit, days, k)
    table.flags.writeable = False
    return table


class _Vector:
    def __init__(self, ev: Any, policy: Policy, sel: np.ndarray):
        self.ev, self.policy, self.sel = ev, policy, sel

    def codes(self, node: Node | Criterion) -> np.ndarray:
        value = self._value(node)
        return np.broadcast_to(np.asarray(value), (self.ev.n,))[self.sel]

    def _value(self, node: Node | Criterion) -> Any:
        if isinstance(node, Criterion):
            if node.kind == "when":
                assert node.when is not None
                return self.ev.eval(node.when, self.policy)
            parts = [self._value(c) for c in node.children]
            combine = np.minimum if node.kind == "all" else np.maximum
            out = parts[0]
            for p in parts[1:]:
                out = combine(out, p)
            return out
        return self.ev.eval(node, self.policy)

    def interval(self, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
        m = len(self.sel)
        if isinstance(plan, Static):
            true = self.codes(plan.node) == 2
            lo = np.where(true, BEFORE, NEVER)
            return lo, np.full(m, NEVER)
        if isinstance(plan, Test):
            raw = np.broadcast_to(
                np.asarray(self.ev.eval(plan.arg, self.policy), dtype=np.float64), (self.ev.n,)
            )[self.sel]
            missing = np.isnan(raw)
            a = np.where(missing, 0, raw).astype(np.int64)
            lo = _first_day(plan.unit, a, plan.lo, BEFORE)
            hi = _first_day(plan.unit, a, plan.hi, NEVER)
            return np.where(missing, NEVER, lo), np.where(missing, NEVER, hi)
        assert isinstance(plan, Both)
        los, his = zip(*(self.interval(p) for p in plan.parts), strict=True)
        return np.maximum.reduce(los), np.minimum.reduce(his)

    def first(self, plan: Plan, today: int) -> np.ndarray:
        if isinstance(plan, Either):
            return np.minimum.reduce([self.first(p, today) for p in plan.parts])
        lo, hi = self.interval(plan)
        start = np.maximum(lo, today + 1)
        return np.where(start < hi, start, NEVER)


def holds_on_days(
    ev: Any, policy: Policy, plan: Plan, sel: np.ndarray, as_of: dt.date
) -> np.ndarray:
    """For rows `sel` of the chunk `ev` evaluates: the day number (since 1970-01-01) from
    which the planned criterion holds, or NaN."""
    today = int(date_to_days(as_of))
    first = _Vector(ev, policy, sel).first(plan, today)
    ok = first <= today + HORIZON_DAYS
    return np.where(ok, first.astype(np.float64), np.nan)


@dataclass(frozen=True)
class NearRows:
    """One policy's near misses in a chunk: a mask of the rows, the policy's top-level
    criterion rows (the false one is the one with code 0), and the holds_on day numbers
    of the near-miss rows that have one."""

    mask: np.ndarray  # (n,) bool
    codes: Sequence[np.ndarray]
    holds_rows: np.ndarray  # ascending
    holds_days: np.ndarray  # float64

    def at(self, policy: Policy, row: int) -> NearMiss | None:
        if not self.mask[row]:
            return None
        which = next(i for i, r in enumerate(self.codes) if r[row] == 0)
        k = int(np.searchsorted(self.holds_rows, row))
        found = k < len(self.holds_rows) and self.holds_rows[k] == row
        day = days_to_date(float(self.holds_days[k])) if found else None
        return NearMiss(policy.criteria[which].id, day)

    def dense(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """((n,) int16 criterion index or -1, (n,) float64 holds_on day or NaN)."""
        crit = np.full(n, -1, dtype=np.int16)
        for i, r in enumerate(self.codes):
            crit[self.mask & np.equal(r, 0)] = i
        holds = np.full(n, np.nan)
        holds[self.holds_rows] = self.holds_days
        return crit, holds


def near_miss_chunk(
    ev: Any,
    policy: Policy,
    codes: Sequence[np.ndarray],
    plans: list[Plan | None],
    as_of: dt.date,
    mask: np.ndarray,
    scratch: np.ndarray,
) -> NearRows:
    """The near misses of one policy in a chunk: `mask`, (n,) bool, as `near_miss_mask`
    wrote it; `scratch` an (n,) int8 row to use.

    `ev` is the chunk's evaluator (matcher/vector.ChunkEvaluator), `codes` the policy's
    top-level criterion rows, `plans` the `plan_criterion` of each top-level criterion:
    holds_on is computed only at the near-miss rows whose false criterion has a plan."""
    found: list[tuple[np.ndarray, np.ndarray]] = []
    for plan, row in zip(plans, codes, strict=True):
        if plan is None or (not found and not mask.any()):
            continue
        hit = np.equal(row, 0, out=scratch.view(bool)[: len(mask)])
        sel = np.flatnonzero(np.logical_and(hit, mask, out=hit))
        if len(sel):
            found.append((sel, holds_on_days(ev, policy, plan, sel, as_of)))
    if not found:
        return NearRows(mask, codes, np.empty(0, dtype=np.intp), np.empty(0))
    sel_all = np.concatenate([f[0] for f in found])
    days = np.concatenate([f[1] for f in found])
    keep = ~np.isnan(days)
    order = np.argsort(sel_all[keep], kind="stable")
    return NearRows(mask, codes, sel_all[keep][order], days[keep][order])


NEAR_MISS_TYPE = pl.Struct({"criterion": pl.String, "holds_on": pl.Date})


def no_near_misses(n: int) -> pl.Series:
    """A `near_miss` column of n nulls."""
    return pl.repeat(None, n, dtype=NEAR_MISS_TYPE, eager=True).alias("near_miss")


def near_miss_column(
    criterion: np.ndarray | None, holds: np.ndarray | None, policy: Policy, rows: np.ndarray
) -> pl.Series:
    """The `near_miss` values of `zhida evaluate` for rows (indices into one chunk) of one
    policy, from a ChunkResult's near_criterion[j] and near_holds[j] (None: not asked,
    all null). A struct {criterion, holds_on} or null, as JSON Lines print it."""
    if criterion is None or holds is None or len(policy.criteria) == 0:
        return no_near_misses(len(rows))
    which = np.take(criterion, rows).astype(np.int64)
    ids = pl.Series([c.id for c in policy.criteria], dtype=pl.String)
    hit = which >= 0
    crit = ids.gather(np.where(hit, which, 0))
    days = pl.Series(np.take(holds, rows)).fill_nan(None).cast(pl.Int32).cast(pl.Date)
    frame = pl.DataFrame({"criterion": crit, "holds_on": days, "hit": hit})
    return frame.select(
        pl.when(pl.col("hit"))
        .then(pl.struct("criterion", "holds_on"))
        .otherwise(None)
        .alias("near_miss")
    ).to_series()


# -- scalar reference ---------------------------------------------------------------


def near_miss_scalar(policy: Policy, profile: dict[str, Any], as_of: dt.date) -> NearMiss | None:
    """The reference: the reference interpreter's codes, then each following day in turn
    (up to HORIZON_DAYS) until the one false criterion holds."""
    from zhida.matcher.reference import evaluate_policy

    result = evaluate_policy(policy, profile, as_of)
    values = result.top_codes
    false = [i for i, v in enumerate(values) if v is False]
    if len(false) != 1 or any(v is None for v in values):
        return None
    crit = policy.criteria[false[0]]
    if plan_criterion(crit, policy) is None:
        return NearMiss(crit.id, None)
    single = Policy(id=policy.id, title=policy.title, audience=policy.audience, loc=policy.loc)
    single.defines, single.criteria = policy.defines, [crit]
    for step in range(1, HORIZON_DAYS + 1):
        day = as_of + dt.timedelta(days=step)
        if evaluate_policy(single, profile, day).top_codes[0] is True:
            return NearMiss(crit.id, day)
    return NearMiss(crit.id, None)
