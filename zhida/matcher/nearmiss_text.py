"""A near miss in plain Chinese: what one step would make the profile eligible.

「2027年3月1日起成立满3年」 for a criterion time alone makes hold; for a comparison with
a constant, the gap: 「研发费用占营业收入比例 3.2%，需达到 4%」; otherwise the criterion
that is not met: 「尚差一项：……」.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from zhida.matcher.describe import describe
from zhida.matcher.explain import format_amount, format_value
from zhida.matcher.nearmiss import NearMiss
from zhida.matcher.reference import evaluate_node
from zhida.profiles.schema import ProfileSchema
from zhida.rules.ast import Literal, Name, Node, Op
from zhida.rules.policy import Policy

_NEED = {">=": "需达到", ">": "需超过", "<=": "需不超过", "<": "需低于", "==": "需为"}
_FLIP = {">=": "<=", "<=": ">=", ">": "<", "<": ">", "==": "=="}


def chinese_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def near_miss_text(
    policy: Policy,
    near: NearMiss,
    profile: dict[str, Any],
    as_of: dt.date,
    schema: ProfileSchema,
) -> str:
    crit = next(c for c in policy.criteria if c.id == near.criterion)
    if near.holds_on is not None:
        return f"{chinese_date(near.holds_on)}起{crit.label}"
    if crit.kind == "when" and crit.when is not None:
        gap = _gap(policy, crit.when, profile, as_of, schema)
        if gap:
            return gap
    return f"尚差一项：{crit.label}"


def _resolve(node: Node, policy: Policy) -> Node:
    while isinstance(node, Name) and node.is_define:
        node = policy.defines[node.name]
    return node


def _gap(
    policy: Policy, when: Node, profile: dict[str, Any], as_of: dt.date, schema: ProfileSchema
) -> str | None:
    node = _resolve(when, policy)
    if not (isinstance(node, Op) and node.op in _NEED):
        return None
    left, right = node.args
    op = node.op
    if isinstance(_resolve(left, policy), Literal):
        left, right, op = right, left, _FLIP[op]
    const = _resolve(right, policy)
    if not isinstance(const, Literal) or not isinstance(const.value, int | float):
        return None
    label = describe(left, policy, schema)
    value = evaluate_node(policy, left, profile, {}, as_of)
    if label is None or value is None:
        return None
    text = const.text or format_value(const.value)
    return f"{label} {_like(value, text, left, schema)}，{_NEED[op]} {text}"


def _like(value: Any, const_text: str, node: Node, schema: ProfileSchema) -> str:
    """The value written as the threshold is: 3.2% beside 4%, 8000万 beside 1亿."""
    v = float(value)
    if const_text.endswith("%"):
        return f"{round(v * 100, 2):g}%"
    if const_text.endswith(("万", "亿")):
        return format_amount(v, unit="")
    unit = None
    if isinstance(node, Name):
        field = schema.get(node.name)
        unit = field.unit if field is not None else None
    return format_value(value, unit if unit != "元" else None)
