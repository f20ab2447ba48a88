"""Helpers for the type rules of function entries: argument types and their errors."""

from __future__ import annotations

from zhida.errors import PolicyTypeError
from zhida.rules.ast import Call
from zhida.rules.types import STRING, Type, type_name


def arg_type(node: Call, i: int) -> Type:
    t = node.args[i].ty
    assert t is not None
    return t


def need(node: Call, i: int, ty: Type, what: str = "") -> None:
    """Argument i must be of type `ty` (named `what` in the message, if given)."""
    t = arg_type(node, i)
    if not t.compatible(ty):
        raise PolicyTypeError(
            f"argument {i + 1} of {node.fn}() must be {what or type_name(ty)}, got {type_name(t)}",
            node.args[i].loc,
        )


def is_text_or_list(t: Type) -> bool:
    return t == STRING or t.kind == "list"


def same_type(node: Call) -> Type:
    """All arguments of one type; that type."""
    first = arg_type(node, 0)
    for i in range(1, len(node.args)):
        t = arg_type(node, i)
        if not first.compatible(t):
            raise PolicyTypeError(
                f"arguments of {node.fn}() must have one type: "
                f"{type_name(first)} and {type_name(t)}",
                node.args[i].loc,
            )
        first = first.unify(t)
    return first
