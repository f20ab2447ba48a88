"""Text functions: `in_region`, `starts_with`, `contains`, `contains_any`, `fuzzy`.

The second argument is a constant (checked), so the vector implementation runs
the scalar one once per distinct value of the subject column and gathers the
results by code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from zhida.errors import PolicyTypeError
from zhida.rules.ast import Call, constant_value
from zhida.rules.functions.checks import arg_type, is_text_or_list, need
from zhida.rules.functions.entry import Function, Value, Vectors
from zhida.rules.semantics import any_of
from zhida.rules.types import BOOL, NUMBER, STRING, Type, list_of, type_name
from zhida.rules.vectors import Coded

# -- type rules -------------------------------------------------------------------


def _string_pred(node: Call) -> Type:
    need(node, 0, STRING)
    need(node, 1, STRING)
    return BOOL


def _in_region_type(node: Call) -> Type:
    need(node, 0, STRING)
    need(node, 1, list_of(STRING))
    return BOOL


def _contains_type(node: Call) -> Type:
    t = arg_type(node, 0)
    if is_text_or_list(t):
        need(node, 1, STRING)
        return BOOL
    raise PolicyTypeError(
        f"argument 1 of contains() must be a string or a list, got {type_name(t)}", node.args[0].loc
    )


def _contains_any_type(node: Call) -> Type:
    t = arg_type(node, 0)
    if not is_text_or_list(t):
        raise PolicyTypeError(
            f"argument 1 of contains_any() must be a string or a list, got {type_name(t)}",
            node.args[0].loc,
        )
    need(node, 1, list_of(STRING))
    return BOOL


def _fuzzy_type(node: Call) -> Type:
    need(node, 0, STRING)
    need(node, 1, STRING)
    return NUMBER


# -- scalar -----------------------------------------------------------------------

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


# -- vector -----------------------------------------------------------------------


def _per_distinct(scalar: Callable[[Value, Value], bool | None]) -> Callable[[Vectors, Call], Any]:
    """The vector form of a predicate of a subject and a constant: once per distinct value."""

    def vector(v: Vectors, node: Call) -> Any:
        subject = v.value(node.args[0])
        arg = constant_value(node.args[1])
        if not isinstance(subject, Coded):  # a constant subject
            return v.constant(scalar(subject, arg), node.ty)
        return v.per_unique_bool((node.fn, repr(arg)), subject, lambda u: scalar(u, arg))

    return vector


def _fuzzy_bulk(uniques: list[Any], query: str) -> np.ndarray:
    normalized = [normalize_text(u) for u in uniques]
    scores = process.cdist(
        [normalize_text(query)], normalized, scorer=fuzz.partial_ratio, workers=1
    )
    return np.asarray(scores[0], dtype=np.float64)


def _fuzzy_vector(v: Vectors, node: Call) -> Any:
    subject = v.value(node.args[0])
    arg = constant_value(node.args[1])
    if not isinstance(subject, Coded):  # a constant subject
        return v.constant(fuzzy(subject, arg), node.ty)
    return v.per_unique_num(
        (node.fn, repr(arg)), subject, lambda u: fuzzy(u, arg), bulk=lambda us: _fuzzy_bulk(us, arg)
    )


# -- entries ----------------------------------------------------------------------

FUNCTIONS = (
    Function(
        "in_region",
        (2, 2),
        _in_region_type,
        in_region,
        _per_distinct(in_region),
        constant_args=(1,),
        words="{0}位于{places}",
    ),
    Function(
        "starts_with",
        (2, 2),
        _string_pred,
        starts_with,
        _per_distinct(starts_with),
        constant_args=(1,),
        words="{0}以{1}开头",
    ),
    Function(
        "contains",
        (2, 2),
        _contains_type,
        contains,
        _per_distinct(contains),
        constant_args=(1,),
        words="{0}包含{1}",
    ),
    Function(
        "contains_any",
        (2, 2),
        _contains_any_type,
        contains_any,
        _per_distinct(contains_any),
        constant_args=(1,),
        words="{0}包含{1}之一",
    ),
    Function(
        "fuzzy",
        (2, 2),
        _fuzzy_type,
        fuzzy,
        _fuzzy_vector,
        constant_args=(1,),
        words="{0}与{1}的相似度",
    ),
)
