"""The hand-written numpy baseline of the batch evaluator (DESIGN "Performance targets").

What a programmer would write for the benchmark policies (`bench.policies`) without
an expression language: the profile columns integer-coded once (`code_columns`,
outside the timing: dates as yyyymmdd integers, region and industry prefixes and
the tax credit as small integer codes, booleans as int8 with -1 missing), then per
distinct condition a (true, unknown) pair of masks, computed once and shared by the
policies, and per policy the three-valued outcome (0 ineligible, 1 unknown, 2
eligible) from them. Unknown is kept, as zhida keeps it, so that its outcomes can be
checked against the evaluator's; failed-criteria lists and benefits are not built.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl

from bench.policies import BenchPolicy, Cond

Masks = tuple[np.ndarray, np.ndarray]  # (true, unknown); both False means false

_NUMERIC = ("revenue", "employees", "patents", "invention_patents", "rd_expense", "rd_staff")


def _codes(series: pl.Series) -> tuple[np.ndarray, list[Any]]:
    values = series.unique().drop_nulls().sort().to_list()
    table = {v: i for i, v in enumerate(values)}
    codes = series.replace_strict(table, default=-1, return_dtype=pl.Int16).to_numpy()
    return codes, values


def code_columns(df: pl.DataFrame) -> dict[str, Any]:
    """The integer-coded columns the baseline reads (not timed: done once per data set)."""
    cols: dict[str, Any] = {}
    for name in _NUMERIC:
        cols[name] = df.get_column(name).cast(pl.Float64).to_numpy()
    est = df.get_column("established")
    ymd = est.dt.year() * 10000 + est.dt.month().cast(pl.Int32) * 100 + est.dt.day()
    cols["established"] = ymd.fill_null(-1).cast(pl.Int32).to_numpy()
    for name, expr in (
        ("city", pl.col("region").str.slice(0, 4)),
        ("section", pl.col("industry").str.slice(0, 1)),
        ("tax_credit", pl.col("tax_credit")),
    ):
        cols[name] = _codes(df.select(expr).to_series())
    for name in ("high_tech", "specialized_sme"):
        cols[name] = df.get_column(name).cast(pl.Int8).fill_null(-1).to_numpy()
    return cols


class Baseline:
    def __init__(self, policies: list[BenchPolicy], as_of: dt.date):
        self.policies = policies
        self.as_of_ymd = as_of.year * 10000 + as_of.month * 100 + as_of.day

    def evaluate(self, cols: dict[str, Any]) -> np.ndarray:
        """(P, n) int8 outcomes."""
        memo: dict[str, Masks] = {}
        n = len(cols["revenue"])
        out = np.empty((len(self.policies), n), dtype=np.int8)
        for j, policy in enumerate(self.policies):
            false_any = np.zeros(n, dtype=bool)
            true_all = np.ones(n, dtype=bool)
            for crit in policy.criteria:
                true, unknown = self._criterion(crit, cols, memo)
                true_all &= true
                false_any |= ~(true | unknown)
            out[j] = np.where(false_any, 0, np.where(true_all, 2, 1))
        return out

    def _criterion(
        self, crit: Cond | list[Cond], cols: dict[str, Any], memo: dict[str, Masks]
    ) -> Masks:
        if isinstance(crit, Cond):
            if crit.expr not in memo:
                memo[crit.expr] = self._condition(crit, cols)
            return memo[crit.expr]
        parts = [self._criterion(c, cols, memo) for c in crit]
        true = np.logical_or.reduce([t for t, _ in parts])
        false = np.logical_and.reduce([~(t | u) for t, u in parts])
        return true, ~(true | false)

    def _condition(self, c: Cond, cols: dict[str, Any]) -> Masks:
        f, v = c.field, c.value
        if f == "age_years":  # years_since(established) >= v
            est = cols["established"]
            return est <= self.as_of_ymd - int(v) * 10000, est < 0
        if f in ("rd_ratio", "rd_staff_ratio"):
            num, den = ("rd_expense", "revenue") if f == "rd_ratio" else ("rd_staff", "employees")
            a, b = cols[num], cols[den]
            with np.errstate(all="ignore"):
                ratio = a / b
            unknown = np.isnan(ratio) | (b == 0)
            return (ratio >= v) & ~unknown, unknown
        if f in ("city", "section", "tax_credit"):
            codes, values = cols[f]
            code = values.index(v) if v in values else -2
            return codes == code, codes < 0
        if f in ("high_tech", "specialized_sme"):
            col = cols[f]
            return col == (1 if v else 0), col < 0
        col = cols[f]
        true = col >= v if c.op == ">=" else col <= v
        return true, np.isnan(col)


def chunks(cols: dict[str, Any], size: int) -> Iterator[dict[str, Any]]:
    """The coded columns cut in row ranges (views), for a chunked run."""
    n = len(cols["revenue"])
    for start in range(0, n, size):
        stop = start + size
        yield {
            k: (v[0][start:stop], v[1]) if isinstance(v, tuple) else v[start:stop]
            for k, v in cols.items()
        }
