"""Scalar semantics of the expression language: one value at a time, three-valued.

`None` is *unknown*. These functions are the definition the vectorised
evaluator is tested against, and the checker folds constants with them, so
there is one meaning for every operator and function.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from dateutil.relativedelta import relativedelta
from rapidfuzz import fuzz

Value = Any  # float | bool | date | str | list | None


# --- Kleene logic ----------------------------------------------------------------

def kleene_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def kleene_or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def kleene_not(a: bool | None) -> bool | None:
    return None if a is None else not a


def all_of(values: Sequence[bool | None]) -> bool | None:
    result: bool | None = True
    for v in values:
        result = kleene_and(result, v)
    return result


def any_of(values: Sequence[bool | None]) -> bool | None:
    result: bool | None = False
    for v in values:
        result = kleene_or(result, v)
    return result


# --- arithmetic and comparison --------------------------------------------------

def arith(op: str, a: Value, b: Value) -> float | None:
    if a is None or b is None:
        return None
    a, b = float(a), float(b)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0.0:  # division by zero is unknown, not an error
        return None
    return a / b


def negate(a: Value) -> float | None:
    return None if a is None else -float(a)


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def compare(op: str, a: Value, b: Value) -> bool | None:
    if a is None or b is None:
        return None
    if isinstance(a, list) or isinstance(b, list):
        return bool(_CMP[op](tuple(a), tuple(b)))
    return bool(_CMP[op](a, b))


def member(x: Value, items: Sequence[Value] | None) -> bool | None:
    """`x in [..]`: the `or` of `x == item` over the items (so `x in []` is false)."""
    if items is None:
        return None
    return any_of([compare("==", x, item) for item in items])


def between(x: Value, lo: Value, hi: Value) -> bool | None:
    return kleene_and(compare("<=", lo, x), compare("<=", x, hi))


# --- functions ------------------------------------------------------------------

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


_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def normalize_text(s: str) -> str:
    """For fuzzy matching: full-width to half-width (NFKC), lower case, no spaces or punctuation."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", s).lower())


def fuzzy(s: Value, query: Value) -> float | None:
    if s is None or query is None:
        return None
    return float(fuzz.partial_ratio(normalize_text(s), normalize_text(query)))


def in_region(code: Value, prefixes: Sequence[Value] | None) -> bool | None:
    if code is None or prefixes is None:
        return None
    return any_of([None if p is None else code.startswith(p) for p in prefixes])


def starts_with(s: Value, prefix: Value) -> bool | None:
    if s is None or prefix is None:
        return None
    return bool(s.startswith(prefix))


def contains(s: Value, sub: Value) -> bool | None:
    if s is None or sub is None:
        return None
    return sub in s


def contains_any(s: Value, subs: Sequence[Value] | None) -> bool | None:
    if s is None or subs is None:
        return None
    return any_of([contains(s, sub) for sub in subs])


def if_(cond: Value, a: Value, b: Value) -> Value:
    if cond is None:
        return None
    return a if cond else b


def band(x: Value, pairs: Sequence[Sequence[Value]], default: Value) -> Value:
    """Points of the first pair whose threshold x reaches; `default` if none does."""
    if x is None:
        return None
    for threshold, points in pairs:
        reached = compare(">=", x, threshold)
        if reached is None:
            return None
        if reached:
            return points
    return default


def is_known(x: Value) -> bool:
    return x is not None


def coalesce(*xs: Value) -> Value:
    for x in xs:
        if x is not None:
            return x
    return None


def min_(*xs: Value) -> Value:
    return None if any(x is None for x in xs) else min(xs)


def max_(*xs: Value) -> Value:
    return None if any(x is None for x in xs) else max(xs)


def abs_(x: Value) -> float | None:
    return None if x is None else abs(float(x))


def len_(x: Value) -> float | None:
    return None if x is None else float(len(x))


# Functions whose value depends on the evaluation date: never folded at build time.
DATE_FUNCTIONS: dict[str, Callable[[Value, dt.date], Value]] = {
    "years_since": years_since,
    "months_since": months_since,
    "days_since": days_since,
    "days_until": days_until,
}

PURE_FUNCTIONS: dict[str, Callable[..., Value]] = {
    "in_region": in_region,
    "starts_with": starts_with,
    "contains": contains,
    "contains_any": contains_any,
    "fuzzy": fuzzy,
    "if": if_,
    "band": band,
    "is_known": is_known,
    "coalesce": coalesce,
    "min": min_,
    "max": max_,
    "abs": abs_,
    "len": len_,
}


def apply_op(op: str, args: Sequence[Value]) -> Value:
    """Evaluate an operator on already-evaluated operands (`and`/`or` included)."""
    if op == "and":
        return kleene_and(args[0], args[1])
    if op == "or":
        return kleene_or(args[0], args[1])
    if op == "not":
        return kleene_not(args[0])
    if op == "neg":
        return negate(args[0])
    if op in ("+", "-", "*", "/"):
        return arith(op, args[0], args[1])
    if op in _CMP:
        return compare(op, args[0], args[1])
    if op == "in":
        return member(args[0], args[1])
    if op == "not in":
        return kleene_not(member(args[0], args[1]))
    if op == "between":
        return between(args[0], args[1], args[2])
    raise ValueError(f"unknown operator {op}")
