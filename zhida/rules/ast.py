"""Expression syntax tree. Every node keeps its place in the policy file.

Operators and function calls share one shape (`Op` and `Call`) so that both
evaluators dispatch on a name. The checker fills `ty` on every node and may
replace constant subtrees by a `Literal` (constant folding).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from zhida.errors import Location
from zhida.rules.types import Type

# A literal's value: float for numbers, bool, datetime.date, str, or None for a
# constant that is unknown (e.g. folded 1/0). Lists are ListLit nodes.
Value = Any

ARITH_OPS = frozenset({"+", "-", "*", "/"})
CMP_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})
BOOL_OPS = frozenset({"and", "or"})


@dataclass(eq=False)
class Node:
    loc: Location
    ty: Type | None = field(default=None, init=False)

    def key(self) -> tuple[Any, ...]:
        """A structural key: equal keys mean the same computation (for sharing work)."""
        raise NotImplementedError

    def children(self) -> list[Node]:
        return []


@dataclass(eq=False)
class Literal(Node):
    value: Value = None
    text: str = ""  # as written, for messages

    def key(self) -> tuple[Any, ...]:
        v = self.value
        return ("lit", type(v).__name__, v.isoformat() if isinstance(v, dt.date) else v)


@dataclass(eq=False)
class ListLit(Node):
    items: list[Node] = field(default_factory=list)

    def key(self) -> tuple[Any, ...]:
        return ("list", *(i.key() for i in self.items))

    def children(self) -> list[Node]:
        return list(self.items)


@dataclass(eq=False)
class Name(Node):
    name: str = ""
    is_define: bool = False  # set by the checker

    def key(self) -> tuple[Any, ...]:
        return ("define" if self.is_define else "field", self.name)


@dataclass(eq=False)
class Call(Node):
    fn: str = ""
    args: list[Node] = field(default_factory=list)

    def key(self) -> tuple[Any, ...]:
        return ("call", self.fn, *(a.key() for a in self.args))

    def children(self) -> list[Node]:
        return list(self.args)


@dataclass(eq=False)
class Op(Node):
    """neg, not, and, or, + - * /, == != < <= > >=, in, not in, between."""

    op: str = ""
    args: list[Node] = field(default_factory=list)

    def key(self) -> tuple[Any, ...]:
        return ("op", self.op, *(a.key() for a in self.args))

    def children(self) -> list[Node]:
        return list(self.args)


def walk(node: Node) -> list[Node]:
    """All nodes of a tree, parents before children."""
    out = [node]
    for child in node.children():
        out.extend(walk(child))
    return out


def names_in(node: Node) -> list[Name]:
    return [n for n in walk(node) if isinstance(n, Name)]


def is_constant(node: Node) -> bool:
    """A literal, or a list literal of constants (after folding)."""
    if isinstance(node, Literal):
        return True
    if isinstance(node, ListLit):
        return all(is_constant(i) for i in node.items)
    return False


def constant_value(node: Node) -> Value:
    """The value of a constant node; list literals become Python lists."""
    if isinstance(node, Literal):
        return node.value
    assert isinstance(node, ListLit)
    return [constant_value(i) for i in node.items]
