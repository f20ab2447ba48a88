"""Choice and number functions: `if`, `band`, `is_known`, `coalesce`, `min`, `max`,
`abs`, `len`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zhida.errors import PolicyTypeError
from zhida.rules.ast import Call, ListLit, constant_value
from zhida.rules.functions.checks import arg_type, is_text_or_list, need, same_type
from zhida.rules.functions.entry import Function, Value, Vectors
from zhida.rules.semantics import compare
from zhida.rules.types import BOOL, DATE, NUMBER, Type, type_name
from zhida.rules.vectors import NAN, Coded, F, T, U, tri

# -- if(cond, a, b) ---------------------------------------------------------------


def _if_type(node: Call) -> Type:
    need(node, 0, BOOL)
    a, b = arg_type(node, 1), arg_type(node, 2)
    if not a.compatible(b):
        raise PolicyTypeError(
            f"both branches of if() must have one type: {type_name(a)} and {type_name(b)}",
            node.args[2].loc,
        )
    return a.unify(b)


def if_(cond: Value, a: Value, b: Value) -> Value:
    if cond is None:
        return None
    return a if cond else b


def _if_vector(v: Vectors, node: Call) -> Any:
    cond = v.value(node.args[0])
    a, b = v.value(node.args[1]), v.value(node.args[2])
    if node.ty in (NUMBER, DATE):
        return np.where(np.equal(cond, T), a, np.where(np.equal(cond, F), b, np.nan))
    if node.ty == BOOL:
        return np.where(np.equal(cond, T), a, np.where(np.equal(cond, F), b, U)).astype(np.int8)
    tys = [BOOL, node.ty, node.ty]
    return v.rowwise(if_, [cond, a, b], tys, node.ty)


# -- band(x, [[threshold, points], ...], default) -----------------------------------


def _band_type(node: Call) -> Type:
    need(node, 0, NUMBER)
    pairs = node.args[1]
    ok = isinstance(pairs, ListLit) and all(
        isinstance(p, ListLit) and len(p.items) == 2 and all(i.ty == NUMBER for i in p.items)
        for p in pairs.items
    )
    if not ok:
        raise PolicyTypeError(
            "argument 2 of band() must be a list of [threshold, points] number pairs",
            pairs.loc,
        )
    need(node, 2, NUMBER)
    return NUMBER


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


def _band_vector(v: Vectors, node: Call) -> Any:
    args = node.args
    x = v.value(args[0])
    pairs = constant_value(args[1])
    result = (
        np.broadcast_to(np.asarray(v.value(args[2]), dtype=np.float64), np.shape(x)).copy()
        if np.ndim(x)
        else v.value(args[2])
    )
    if any(t is None for t, _ in pairs):  # an unknown threshold: the general path
        return v.rowwise(
            lambda x_, d: band(x_, pairs, d), [x, v.value(args[2])], [NUMBER, NUMBER], NUMBER
        )
    with np.errstate(invalid="ignore"):
        for threshold, points in reversed(pairs):
            p = np.nan if points is None else points
            result = np.where(np.greater_equal(x, threshold), p, result)
    return np.where(v.is_nan(args[0], x), np.nan, result)


# -- is_known(x), coalesce(x, y, ...) ---------------------------------------------------


def _bool_type(node: Call) -> Type:
    return BOOL


def is_known(x: Value) -> bool:
    return x is not None


def _is_known_vector(v: Vectors, node: Call) -> Any:
    arg = node.args[0]
    value = v.value(arg)
    if isinstance(value, Coded):
        return v.per_unique_bool(("is_known",), value, is_known)
    if isinstance(value, list):
        return T
    if arg.ty == BOOL:
        return tri(np.not_equal(value, U))
    if arg.ty in (NUMBER, DATE):
        return tri(np.logical_not(v.is_nan(arg, value)))
    return F if value is None else T


def _coalesce_type(node: Call) -> Type:
    t = same_type(node)
    if t.kind == "list":
        raise PolicyTypeError("coalesce() takes single values, not lists", node.loc)
    return t


def coalesce(*xs: Value) -> Value:
    for x in xs:
        if x is not None:
            return x
    return None


def _coalesce_vector(v: Vectors, node: Call) -> Any:
    values = [v.value(a) for a in node.args]
    if node.ty in (NUMBER, DATE):
        result = values[0]
        for other in values[1:]:
            result = np.where(np.isnan(result), other, result)
        return result
    if node.ty == BOOL:
        result = values[0]
        for other in values[1:]:
            result = np.where(np.equal(result, U), other, result).astype(np.int8)
        return result
    return v.rowwise(coalesce, values, [node.ty] * len(values), node.ty)


# -- min, max, abs, len -----------------------------------------------------------------


def _ordered_type(node: Call) -> Type:
    t = same_type(node)
    if t not in (NUMBER, DATE):
        raise PolicyTypeError(
            f"{node.fn}() takes numbers or dates, got {type_name(t)}", node.args[0].loc
        )
    return t


def min_(*xs: Value) -> Value:
    return None if any(x is None for x in xs) else min(xs)


def max_(*xs: Value) -> Value:
    return None if any(x is None for x in xs) else max(xs)


def _reduce_vector(reduce: Callable[[Any, Any], Any]) -> Callable[[Vectors, Call], Any]:
    def vector(v: Vectors, node: Call) -> Any:
        values = [v.value(a) for a in node.args]
        result = values[0]
        for other in values[1:]:
            result = reduce(result, other)
        return result

    return vector


def _abs_type(node: Call) -> Type:
    need(node, 0, NUMBER)
    return NUMBER


def abs_(x: Value) -> float | None:
    return None if x is None else abs(float(x))


def _abs_vector(v: Vectors, node: Call) -> Any:
    return np.abs(v.value(node.args[0]))


def _len_type(node: Call) -> Type:
    t = arg_type(node, 0)
    if not is_text_or_list(t):
        raise PolicyTypeError(
            f"len() takes a string or a list, got {type_name(t)}", node.args[0].loc
        )
    return NUMBER


def len_(x: Value) -> float | None:
    return None if x is None else float(len(x))


def _len_vector(v: Vectors, node: Call) -> Any:
    value = v.value(node.args[0])
    if isinstance(value, list):
        return np.float64(len(value))
    if isinstance(value, Coded):
        return v.per_unique_num(("len",), value, len_)
    return NAN if value is None else np.float64(len(value))


# -- entries ----------------------------------------------------------------------------

FUNCTIONS = (
    Function("if", (3, 3), _if_type, if_, _if_vector, words="{0}时为{1}，否则为{2}"),
    Function(
        "band", (3, 3), _band_type, band, _band_vector, constant_args=(1,), words="按{0}分档的得分"
    ),
    Function("is_known", (1, 1), _bool_type, is_known, _is_known_vector, words="{0}是否已知"),
    Function(
        "coalesce",
        (2, None),
        _coalesce_type,
        coalesce,
        _coalesce_vector,
        words="{0}（缺失时取{1}）",
    ),
    Function(
        "min", (1, None), _ordered_type, min_, _reduce_vector(np.minimum), words="{args}中的较小者"
    ),
    Function(
        "max", (1, None), _ordered_type, max_, _reduce_vector(np.maximum), words="{args}中的较大者"
    ),
    Function("abs", (1, 1), _abs_type, abs_, _abs_vector, words="{0}的绝对值"),
    Function("len", (1, 1), _len_type, len_, _len_vector, words="{0}的项数"),
)
