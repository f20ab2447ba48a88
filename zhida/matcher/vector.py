"""Vectorised evaluation of checked expressions over a chunk of profiles.

Values per type are those of `zhida.rules.vectors` (float64 with NaN, int8
three-valued codes, `Coded` strings and lists).

Every node's value is cached by its structural key for the chunk, so a
condition shared by many policies (`years_since(established)`) is computed
once. Rare combinations without a columnar form (two string columns compared,
`if` returning a string) fall back to the scalar semantics row by row: slower
but the same meaning.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from zhida.matcher.columns import Chunk
from zhida.rules import semantics
from zhida.rules.ast import Call, ListLit, Literal, Name, Node, Op, constant_value
from zhida.rules.functions import FUNCTIONS
from zhida.rules.policy import Policy
from zhida.rules.types import BOOL, DATE, NUMBER, Type
from zhida.rules.vectors import NAN, Coded, F, T, U, date_to_days, days_to_date, tri

_NUM_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


_MISSING = object()


def isnan(x: Any) -> Any:
    return np.isnan(x)


class KeyMap:
    """Structural keys with `define:` names inlined, so policies share work.

    A key is a small int naming one structure (interned once per node), so that the
    chunk caches hash ints, not nested tuples."""

    def __init__(self) -> None:
        self._memo: dict[int, int] = {}
        self._ids: dict[tuple[Any, ...], int] = {}

    def key(self, node: Node, policy: Policy) -> int:
        k = self._memo.get(id(node))
        if k is None:
            if isinstance(node, Name) and node.is_define:  # the same key as its definition
                k = self.key(policy.defines[node.name], policy)
            else:
                k = self._ids.setdefault(self._build(node, policy), len(self._ids))
            self._memo[id(node)] = k
        return k

    def _build(self, node: Node, policy: Policy) -> tuple[Any, ...]:
        if isinstance(node, Literal):
            return (str(node.ty), *node.key())
        if isinstance(node, Call):
            return ("call", node.fn, *(self.key(a, policy) for a in node.args))
        if isinstance(node, Op):
            return ("op", node.op, *(self.key(a, policy) for a in node.args))
        if isinstance(node, ListLit):
            return ("list", *(self.key(a, policy) for a in node.items))
        return node.key()


class ChunkEvaluator:
    """Evaluates nodes of many policies over one chunk, sharing common subexpressions.

    Function calls go to the vector implementation of their entry in
    `zhida.rules.functions`, which sees this evaluator as its `Vectors`."""

    def __init__(self, chunk: Chunk, as_of: dt.date, keys: KeyMap):
        self.chunk = chunk
        self.n = chunk.n
        self.as_of = as_of
        self.as_of_days = date_to_days(as_of)
        self.keys = keys
        self.cache: dict[Any, Any] = {}
        self.policy: Policy | None = None

    # -- entry points -----------------------------------------------------------
    def eval(self, node: Node, policy: Policy) -> Any:
        self.policy = policy
        return self.value(node)

    def key(self, node: Node) -> int:
        assert self.policy is not None
        return self.keys.key(node, self.policy)

    def value(self, node: Node) -> Any:
        key = self.key(node)
        value = self.cache.get(key, _MISSING)
        if value is _MISSING:
            value = self.cache[key] = self._compute(node)
        return value

    def is_nan(self, node: Node, value: Any) -> Any:
        key = ("isnan", self.key(node))
        if key not in self.cache:
            self.cache[key] = np.isnan(value)
        return self.cache[key]

    def memo(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    # -- dispatch ---------------------------------------------------------------
    def _compute(self, node: Node) -> Any:
        if isinstance(node, Literal):
            return self.constant(node.value, node.ty)
        if isinstance(node, ListLit):
            return [self.value(i) for i in node.items]
        if isinstance(node, Name):
            if node.is_define:
                assert self.policy is not None
                return self.value(self.policy.defines[node.name])
            return self.chunk.get(node.name)
        if isinstance(node, Call):
            return self._call(node)
        assert isinstance(node, Op)
        return self._op(node)

    def constant(self, value: Any, ty: Type | None) -> Any:
        if ty == BOOL:
            return U if value is None else (T if value else F)
        if ty == NUMBER:
            return NAN if value is None else np.float64(value)
        if ty == DATE:
            return NAN if value is None else np.float64(date_to_days(value))
        return value  # string constant or None

    # -- operators ----------------------------------------------------------------
    def _op(self, node: Op) -> Any:
        op, args = node.op, node.args
        if op == "and":
            return np.minimum(self.value(args[0]), self.value(args[1]))
        if op == "or":
            return np.maximum(self.value(args[0]), self.value(args[1]))
        if op == "not":
            return np.subtract(T, self.value(args[0]), dtype=np.int8)
        if op == "neg":
            return np.negative(self.value(args[0]))
        if op in ("+", "-", "*", "/"):
            return self._arith(op, self.value(args[0]), self.value(args[1]))
        if op in _NUM_CMP:
            return self._compare(op, args[0], args[1])
        if op == "between":
            lo = self._compare("<=", args[1], args[0])
            hi = self._compare("<=", args[0], args[2])
            return np.minimum(lo, hi)
        if op in ("in", "not in"):
            result = self._member(args[0], args[1])
            return np.subtract(T, result, dtype=np.int8) if op == "not in" else result
        raise AssertionError(op)

    def _arith(self, op: str, a: Any, b: Any) -> Any:
        with np.errstate(all="ignore"):
            if op == "+":
                return np.add(a, b)
            if op == "-":
                return np.subtract(a, b)
            if op == "*":
                return np.multiply(a, b)
            result = np.divide(a, b)
            zero = np.equal(b, 0.0)
            if np.ndim(zero) == 0:
                return np.full(np.shape(result), np.nan)[()] if zero else result
            return np.where(zero, np.nan, result)

    def _compare(self, op: str, left: Node, right: Node) -> Any:
        ty = left.ty if left.ty is not None and left.ty.kind != "any" else right.ty
        a, b = self.value(left), self.value(right)
        if ty in (NUMBER, DATE):
            with np.errstate(invalid="ignore"):
                true = _NUM_CMP[op](a, b)
            nan_a, nan_b = self.is_nan(left, a), self.is_nan(right, b)
            if np.ndim(nan_b) == 0 and not nan_b:
                unknown = nan_a  # the common `field >= constant`
            elif np.ndim(nan_a) == 0 and not nan_a:
                unknown = nan_b
            else:
                unknown = np.logical_or(nan_a, nan_b)
            if op == "!=":
                true = np.logical_and(true, np.logical_not(unknown))
            return tri(true, unknown)
        if ty == BOOL:
            unknown = np.logical_or(np.equal(a, U), np.equal(b, U))
            true = np.equal(a, b) if op == "==" else np.not_equal(a, b)
            return tri(np.logical_and(true, np.logical_not(unknown)), unknown)
        # strings
        if isinstance(a, Coded) and not isinstance(b, Coded):
            return self._coded_const_cmp(op, a, b)
        if isinstance(b, Coded) and not isinstance(a, Coded):
            return self._coded_const_cmp(op, b, a)
        return self.rowwise(lambda x, y: semantics.compare(op, x, y), [a, b], [ty, ty], BOOL)

    def _coded_const_cmp(self, op: str, col: Coded, const: Any) -> Any:
        if const is None:
            return np.full(self.n, U)
        return self.per_unique_bool(
            ("cmp", op, const), col, lambda u: semantics.compare(op, u, const)
        )

    def _member(self, item_node: Node, items_node: Node) -> Any:
        item = self.value(item_node)
        if isinstance(items_node, Literal):  # a folded constant list, or unknown
            folded = items_node.value
            if isinstance(item, Coded):
                return self.per_unique_bool(
                    ("in", repr(folded)), item, lambda u: semantics.member(u, folded)
                )
            return self.rowwise(lambda x: semantics.member(x, folded), [item], [item_node.ty], BOOL)
        items = self.value(items_node)
        if isinstance(items, list):  # list literal: OR of equalities
            if (
                isinstance(item, Coded)
                and isinstance(items_node, ListLit)
                and all(isinstance(i, Literal) for i in items_node.items)
            ):
                values = constant_value(items_node)
                return self.per_unique_bool(
                    ("in", tuple(map(str, values))), item, lambda u: semantics.member(u, values)
                )
            assert isinstance(items_node, ListLit)
            result: Any = F
            for sub in items_node.items:
                result = np.maximum(result, self._compare("==", item_node, sub))
            return result
        if isinstance(items, Coded) and not isinstance(item, Coded | np.ndarray):

            def has(u: Any) -> bool | None:
                return semantics.member(item, None if u is None else list(u))

            return self.per_unique_bool(("has", item), items, has)
        ty = item_node.ty
        return self.rowwise(semantics.member, [item, items], [ty, items_node.ty], BOOL)

    # -- functions: their entries in zhida.rules.functions ----------------------------
    def _call(self, node: Call) -> Any:
        return FUNCTIONS[node.fn].vector(self, node)

    # -- per distinct value ---------------------------------------------------------
    def _per_unique(
        self, tag: tuple[Any, ...], col: Coded, compute: Callable[[list[Any]], np.ndarray]
    ) -> Any:
        table = (
            self.chunk.columns.per_unique((col.uid, *tag), lambda: compute(col.uniques))
            if not col.uid.startswith("<")
            else compute(col.uniques)
        )
        return np.take(table, col.codes)  # code -1 picks the last entry: the unknown value

    def per_unique_bool(
        self, tag: tuple[Any, ...], col: Coded, fn: Callable[[Any], bool | None]
    ) -> Any:
        def compute(uniques: list[Any]) -> np.ndarray:
            out = np.empty(len(uniques) + 1, dtype=np.int8)
            for i, u in enumerate(uniques):
                v = fn(u)
                out[i] = U if v is None else (T if v else F)
            last = fn(None)  # the value for a missing entry (code -1)
            out[-1] = U if last is None else (T if last else F)
            return out

        return self._per_unique(("b", *tag), col, compute)

    def per_unique_num(
        self,
        tag: tuple[Any, ...],
        col: Coded,
        fn: Callable[[Any], Any],
        bulk: Callable[[list[Any]], np.ndarray] | None = None,
    ) -> Any:
        def compute(uniques: list[Any]) -> np.ndarray:
            out = np.empty(len(uniques) + 1, dtype=np.float64)
            if bulk is not None and uniques:
                out[:-1] = bulk(uniques)
            else:
                for i, u in enumerate(uniques):
                    v = fn(u)
                    out[i] = np.nan if v is None else v
            last = fn(None)
            out[-1] = np.nan if last is None else last
            return out

        return self._per_unique(("n", *tag), col, compute)

    # -- the row-by-row fallback -------------------------------------------------------
    def rowwise(
        self, fn: Callable[..., Any], values: list[Any], tys: list[Type | None], out_ty: Type | None
    ) -> Any:
        columns = [to_python(v, t, self.n) for v, t in zip(values, tys, strict=True)]
        results = [fn(*row) for row in zip(*columns, strict=True)]
        return from_python(results, out_ty)


# -- conversions for the row-by-row fallback ------------------------------------------


def to_python(value: Any, ty: Type | None, n: int) -> list[Any]:
    if isinstance(value, Coded):
        uniques = value.uniques
        return [None if c < 0 else _as_list(uniques[c]) for c in value.codes.tolist()]
    if isinstance(value, list):  # list literal
        cols = [to_python(v, ty.elem if ty else None, n) for v in value]
        return [list(row) for row in zip(*cols, strict=True)] if cols else [[] for _ in range(n)]
    arr = np.broadcast_to(np.asarray(value), (n,)) if not isinstance(value, str | None) else None
    if arr is None:
        return [value] * n
    if ty == BOOL:
        return [None if c == 1 else c == 2 for c in arr.tolist()]
    if ty == DATE:
        return [None if np.isnan(d) else days_to_date(d) for d in arr.tolist()]
    return [None if np.isnan(x) else float(x) for x in arr.tolist()]


def _as_list(u: Any) -> Any:
    return list(u) if isinstance(u, tuple) else u


def from_python(values: list[Any], ty: Type | None) -> Any:
    if ty == BOOL:
        return np.array([U if v is None else (T if v else F) for v in values], dtype=np.int8)
    if ty == NUMBER:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if ty == DATE:
        return np.array([np.nan if v is None else date_to_days(v) for v in values])
    index: dict[Any, int] = {}
    codes = np.empty(len(values), dtype=np.int32)
    for i, v in enumerate(values):
        codes[i] = (
            -1
            if v is None
            else index.setdefault(tuple(v) if isinstance(v, list) else v, len(index))
        )
    return Coded(codes, list(index), "<rowwise>")
