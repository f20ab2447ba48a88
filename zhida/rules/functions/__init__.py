"""The functions of the expression language: one registry, one entry per function.

`FUNCTIONS` maps each name to its `Function` entry (arity, constant arguments,
type rule, scalar and vector implementations). The checker, the reference
interpreter, the real-time path and the vectorised evaluator all read it, and
nothing else in zhida lists function names: a function added here is checked,
folded and evaluated everywhere. The entries live by family in `dates`, `text`
and `values`; the shape of an entry and the evaluator protocol in `entry`.
"""

from __future__ import annotations

from zhida.rules.ast import Call, Node
from zhida.rules.functions import dates, text, values
from zhida.rules.functions.entry import Function, TypeRule, VectorRule, Vectors

__all__ = ["FUNCTIONS", "Function", "TypeRule", "VectorRule", "Vectors", "is_dated_call"]

#: name -> entry, in the order "did you mean" offers them
FUNCTIONS: dict[str, Function] = {
    fn.name: fn for fn in (*dates.FUNCTIONS, *text.FUNCTIONS, *values.FUNCTIONS)
}


def is_dated_call(node: Node) -> bool:
    """A call of a function whose value depends on the evaluation date."""
    return isinstance(node, Call) and node.fn in FUNCTIONS and FUNCTIONS[node.fn].dated
