"""The shape of one function of the expression language: everything zhida knows about it.

A `Function` is the whole definition in one place: its name, how many arguments
it takes, which of them must be constants, its type rule (what the checker
accepts and what type the call has), its scalar three-valued meaning (the
reference interpreter, the real-time path and constant folding) and its
vectorised meaning (the batch evaluator). The two meanings must agree bit for
bit; tests/matcher/test_differential.py checks that they do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from zhida.rules.ast import Call, Node
from zhida.rules.semantics import Value
from zhida.rules.types import Type
from zhida.rules.vectors import Coded

__all__ = ["Function", "TypeRule", "Value", "VectorRule", "Vectors"]


class Vectors(Protocol):
    """What a vector implementation may ask of the evaluator of one chunk of rows
    (`zhida.matcher.vector.ChunkEvaluator`). Values are encoded as in
    `zhida.rules.vectors`."""

    @property
    def as_of(self) -> dt.date: ...

    @property
    def as_of_days(self) -> float: ...

    def value(self, node: Node) -> Any:
        """The vector value of a node (computed once per chunk)."""

    def is_nan(self, node: Node, value: Any) -> Any:
        """The unknown mask of a number or date node's value (computed once per chunk)."""

    def constant(self, value: Value, ty: Type | None) -> Any:
        """A scalar value in the vector encoding of type `ty`."""

    def key(self, node: Node) -> int:
        """The structural key of a node, `define:` names inlined (a small int naming the
        structure: equal for equal structures)."""

    def memo(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """A value computed once per chunk under `key`."""

    def per_unique_bool(
        self, tag: tuple[Any, ...], col: Coded, fn: Callable[[Any], bool | None]
    ) -> Any:
        """`fn` run once per distinct value of `col` (and None), gathered as int8 codes."""

    def per_unique_num(
        self,
        tag: tuple[Any, ...],
        col: Coded,
        fn: Callable[[Any], Any],
        bulk: Callable[[list[Any]], Any] | None = None,
    ) -> Any:
        """`fn` (or `bulk` over all distinct values) once per distinct value, as float64."""

    def rowwise(
        self, fn: Callable[..., Any], values: list[Any], tys: list[Type | None], out_ty: Type | None
    ) -> Any:
        """The scalar `fn` applied row by row: the general fallback."""


#: checks a call whose arguments are already checked (their `ty` is set) and returns
#: the call's type, or raises PolicyTypeError at the offending argument
TypeRule = Callable[[Call], Type]
#: the value of a call over a chunk, in the encoding of `zhida.rules.vectors`
VectorRule = Callable[[Vectors, Call], Any]


@dataclass(frozen=True)
class Function:
    """One expression function. `scalar` takes the argument values (None = unknown),
    plus the evaluation date last when `dated`."""

    name: str
    arity: tuple[int, int | None]  # fewest and most arguments; None: no upper bound
    type_rule: TypeRule
    scalar: Callable[..., Value]
    vector: VectorRule
    constant_args: tuple[int, ...] = ()  # 0-based positions that must be constants
    dated: bool = False  # depends on the evaluation date: never folded at load time
    # how explanations say it in Chinese: str.format over the arguments described
    # ({0}, {1}...; {args}: all of them; {places}: argument 1's region codes as places)
    words: str = ""

    def apply(self, args: Sequence[Value], as_of: dt.date) -> Value:
        """The scalar meaning on evaluated arguments, as of an evaluation date."""
        return self.scalar(*args, as_of) if self.dated else self.scalar(*args)
