"""Calendar functions: whole units between a date and the evaluation date.

`years_since(d)`, `months_since(d)`, `days_since(d)`, `days_until(d)`, counted as
dateutil's relativedelta counts them. Their value depends on the evaluation date,
so they are never folded at load time and a policy that calls one is re-evaluated
daily.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from dateutil.relativedelta import relativedelta

from zhida.rules.ast import Call
from zhida.rules.functions.checks import need
from zhida.rules.functions.entry import Function, Value, Vectors
from zhida.rules.types import DATE, NUMBER, Type
from zhida.rules.vectors import NAN, date_to_days, days_to_date


def _date_argument(node: Call) -> Type:
    need(node, 0, DATE)
    return NUMBER


# -- scalar -----------------------------------------------------------------------


def months_between(as_of: dt.date, d: dt.date) -> int:
    delta = relativedelta(as_of, d)
    return delta.years * 12 + delta.months


def years_since(d: Value, as_of: dt.date) -> float | None:
    return None if d is None else float(relativedelta(as_of, d).years)


def months_since(d: Value, as_of: dt.date) -> float | None:
    return None if d is None else float(months_between(as_of, d))


def days_since(d: Value, as_of: dt.date) -> float | None:
    return None if d is None else float((as_of - d).days)


def days_until(d: Value, as_of: dt.date) -> float | None:
    return None if d is None else float((d - as_of).days)


# -- vector -----------------------------------------------------------------------


def civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day of integer days since 1970-01-01 (H. Hinnant's algorithm)."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _days_in_month(year: int, month: int) -> int:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - dt.date(year, month, 1)).days


def months_since_days(days: Any, as_of: dt.date) -> Any:
    """Whole months from each date to `as_of`, counted as dateutil's relativedelta does.

    When the dates span fewer days than there are rows, the months are computed once
    for each day of the span and gathered (dates cluster: a column of a million
    founding dates spans a few tens of thousands of days)."""
    if np.ndim(days) == 0:
        if np.isnan(days):
            return NAN
        return np.float64(months_between(as_of, days_to_date(float(days))))
    missing = np.isnan(days)
    if missing.all():
        return np.full(np.shape(days), np.nan)
    lo, hi = np.nanmin(days), np.nanmax(days)
    if hi - lo + 1 <= len(days):
        table = _months_of_days(np.arange(int(lo), int(hi) + 1, dtype=np.int64), as_of)
        at = np.where(missing, 0, days - lo).astype(np.intp)
        return np.where(missing, np.nan, np.take(table, at))
    months = _months_of_days(np.where(missing, 0, days).astype(np.int64), as_of)
    return np.where(missing, np.nan, months)


def _months_of_days(ints: np.ndarray, as_of: dt.date) -> np.ndarray:
    year, month, day = civil_from_days(ints)
    months = (as_of.year - year) * 12 + (as_of.month - month)
    clamp = np.minimum(day, _days_in_month(as_of.year, as_of.month))
    forward = ints <= date_to_days(as_of)
    months = months - (forward & (as_of.day < clamp)) + (~forward & (as_of.day > clamp))
    return months.astype(np.float64)


_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def months_between_days(as_of_days: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Whole months from each date to each evaluation date (int64 day numbers, row by row),
    counted as `months_since_days` counts them for one evaluation date."""
    year, month, day = civil_from_days(np.asarray(days, dtype=np.int64))
    ty, tm, td = civil_from_days(np.asarray(as_of_days, dtype=np.int64))
    leap = (ty % 4 == 0) & ((ty % 100 != 0) | (ty % 400 == 0))
    month_days = _MONTH_DAYS[tm - 1] + (leap & (tm == 2))
    months = (ty - year) * 12 + (tm - month)
    clamp = np.minimum(day, month_days)
    forward = days <= as_of_days
    result: np.ndarray = months - (forward & (td < clamp)) + (~forward & (td > clamp))
    return result


def _months_vector(v: Vectors, node: Call) -> Any:
    arg = node.args[0]
    days = v.value(arg)  # shared by years_since and months_since of the same date
    return v.memo(("months_since", v.key(arg)), lambda: months_since_days(days, v.as_of))


def _years_vector(v: Vectors, node: Call) -> Any:
    return np.trunc(_months_vector(v, node) / 12.0) + 0.0  # + 0.0 turns -0.0 into 0.0


def _days_since_vector(v: Vectors, node: Call) -> Any:
    return np.subtract(v.as_of_days, v.value(node.args[0]))


def _days_until_vector(v: Vectors, node: Call) -> Any:
    return np.subtract(v.value(node.args[0]), v.as_of_days)


# -- entries ----------------------------------------------------------------------

#: each calendar function as whole units since its date (days_until counts them down):
#: (unit, +1 counting up / -1 counting down), what near misses (matcher/nearmiss.py) read
CALENDAR_UNITS: dict[str, tuple[str, int]] = {
    "years_since": ("years", 1),
    "months_since": ("months", 1),
    "days_since": ("days", 1),
    "days_until": ("days", -1),
}

FUNCTIONS = (
    Function(
        "years_since",
        (1, 1),
        _date_argument,
        years_since,
        _years_vector,
        dated=True,
        words="自{0}起已满的年数",
    ),
    Function(
        "months_since",
        (1, 1),
        _date_argument,
        months_since,
        _months_vector,
        dated=True,
        words="自{0}起已满的月数",
    ),
    Function(
        "days_since",
        (1, 1),
        _date_argument,
        days_since,
        _days_since_vector,
        dated=True,
        words="自{0}起的天数",
    ),
    Function(
        "days_until",
        (1, 1),
        _date_argument,
        days_until,
        _days_until_vector,
        dated=True,
        words="距{0}的天数",
    ),
)
