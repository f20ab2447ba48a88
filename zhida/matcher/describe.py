"""Expressions described in plain Chinese, for explanations: a `define:` name or the side
of a comparison is shown by what it computes (「科技人员数 / 职工人数的分档得分」), never by
its internal name (`staff_score`), and region codes by their place names.

The policy format gives a `define:` no label of its own, so the expression is the
label: fields by their schema labels, defines by their own expressions, literals as
written (300万, 1.5%), functions by the `words` of their registry entry.
"""

from __future__ import annotations

from zhida.profiles.regions import place_name
from zhida.profiles.schema import ProfileSchema
from zhida.rules.ast import Call, ListLit, Literal, Name, Node, Op
from zhida.rules.functions import FUNCTIONS
from zhida.rules.policy import Policy

_CMP = {"==": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}
_ARITH = {"+", "-", "*", "/"}
MAX_DEPTH = 6  # defines within defines: deeper ones are named by "计算值"


def _places(node: Node) -> str:
    items = node.items if isinstance(node, ListLit) else [node]
    names = [place_name(str(i.value)) if isinstance(i, Literal) else "?" for i in items]
    return "或".join(names)


def describe(node: Node, policy: Policy, schema: ProfileSchema, depth: int = 0) -> str:
    """`node` in words (see the module docstring)."""

    def d(n: Node) -> str:
        text = describe(n, policy, schema, depth + 1)
        compound = isinstance(n, Op) and n.op in _ARITH | set(_CMP) | {"and", "or"}
        if isinstance(n, Name) and n.is_define:
            definition = policy.defines.get(n.name)
            compound = isinstance(definition, Op)
        return f"（{text}）" if compound and isinstance(node, Op) else text

    if isinstance(node, Literal):
        if node.text:
            return node.text.strip('"')
        return "是" if node.value is True else "否" if node.value is False else str(node.value)
    if isinstance(node, ListLit):
        return "、".join(d(i) for i in node.items)
    if isinstance(node, Name):
        if node.is_define:
            definition = policy.defines.get(node.name)
            if definition is None or depth >= MAX_DEPTH:
                return "计算值"
            return describe(definition, policy, schema, depth + 1)
        field = schema.get(node.name)
        return field.label if field is not None else node.name
    if isinstance(node, Call):
        fn = FUNCTIONS.get(node.fn)
        described = [d(x) for x in node.args]
        if fn is None or not fn.words:
            return f"{node.fn}（" + "，".join(described) + "）"
        places = _places(node.args[1]) if len(node.args) > 1 else ""
        return fn.words.format(*described, args="、".join(described), places=places)
    assert isinstance(node, Op)
    a = node.args
    if node.op == "neg":
        return f"-{d(a[0])}"
    if node.op == "not":
        return f"并非{d(a[0])}"
    if node.op in ("and", "or"):
        return ("且" if node.op == "and" else "或").join(d(x) for x in a)
    if node.op in _ARITH:
        return f" {node.op} ".join(d(x) for x in a)
    if node.op in _CMP:
        return f"{d(a[0])} {_CMP[node.op]} {d(a[1])}"
    if node.op in ("in", "not in"):
        return f"{d(a[0])}{'属于' if node.op == 'in' else '不属于'}{d(a[1])}"
    if node.op == "between":
        return f"{d(a[0])}介于{d(a[1])}与{d(a[2])}之间"
    return node.op.join(d(x) for x in a)
