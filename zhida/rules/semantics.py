"""Scalar semantics of the operators: one value at a time, three-valued.

`None` is *unknown*. These are the definition the vectorised evaluator is
tested against, and the checker folds constants with them, so there is one
meaning for every operator. The functions' meanings live in their entries of
`zhida.rules.functions`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

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
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
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
