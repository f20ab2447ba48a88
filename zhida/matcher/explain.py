"""Explanations in plain Chinese, built from criterion labels and the values read."""

from __future__ import annotations

import datetime as dt
from typing import Any

from zhida.matcher.reference import CriterionTrace, PolicyResult, Read
from zhida.profiles.schema import ProfileSchema
from zhida.rules.policy import ELIGIBLE, INELIGIBLE, UNKNOWN, Outcome

OUTCOME_TEXT: dict[Outcome, str] = {
    ELIGIBLE: "符合",
    INELIGIBLE: "不符合",
    UNKNOWN: "可能符合，需补充信息",
}
_MARK = {True: ("✓", "符合"), False: ("✗", "不符合"), None: ("?", "信息不足")}


def format_amount(value: float, unit: str = "元") -> str:
    """People's way of reading money: 8,000万元, 1.5亿元, 5,000元."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v >= 1e8:
        return f"{sign}{_trim(v / 1e8)}亿{unit}"
    if v >= 1e4:
        return f"{sign}{_trim(v / 1e4, grouped=True)}万{unit}"
    return f"{sign}{_trim(v, grouped=True)}{unit}"


def _trim(x: float, grouped: bool = False) -> str:
    text = f"{x:,.2f}" if grouped else f"{x:.2f}"
    return text.rstrip("0").rstrip(".")


def format_value(value: Any, unit: str | None = None) -> str:
    if value is None:
        return "未知（缺少数据）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value) if value else "（空）"
    if isinstance(value, float | int):
        if unit == "元":
            return format_amount(float(value))
        text = _trim(float(value), grouped=True) if float(value) != 0 else "0"
        if unit:
            return f"{text}{unit}"
        if 0 < abs(value) < 1:
            return f"{text}（{_trim(value * 100)}%）"
        return text
    return str(value)


def describe_read(read: Read, schema: ProfileSchema) -> str:
    if read.is_define:
        return f"{read.name} = {format_value(read.value)}"
    field = schema.get(read.name)
    label = field.label if field else read.name
    return f"{label} {format_value(read.value, field.unit if field else None)}"


def _criterion_lines(trace: CriterionTrace, schema: ProfileSchema, depth: int) -> list[str]:
    mark, word = _MARK[trace.value]
    indent = "  " * depth
    crit = trace.criterion
    detail = ""
    if trace.reads:
        what = "实际" if trace.value is not True else "依据"
        detail = f"（{what}：" + "；".join(describe_read(r, schema) for r in trace.reads) + "）"
    if crit.kind != "when":
        detail = "（满足全部）" if crit.kind == "all" else "（满足其一）"
        if crit.label.endswith(("其一）", "全部）")):
            detail = ""
    lines = [f"{indent}{mark} {word}：{crit.label}{detail}"]
    for child in trace.children:
        lines.extend(_criterion_lines(child, schema, depth + 1))
    return lines


def explain_lines(result: PolicyResult, schema: ProfileSchema, profile_id: str | None = None,
                  define_values: dict[str, Any] | None = None) -> list[str]:
    policy = result.policy
    lines = [f"政策：{policy.title}（{policy.id}）"]
    who = f"对象：{profile_id}    " if profile_id else ""
    lines.append(f"{who}评估日期：{result.as_of.isoformat()}")
    verdict = OUTCOME_TEXT[result.outcome]
    if result.outcome == INELIGIBLE:
        verdict += f"（{len(result.failed)} 项条件不满足）"
    elif result.outcome == UNKNOWN:
        verdict += f"（{len(result.unknown)} 项条件缺少数据）"
    lines.append(f"结论：{verdict}")
    if result.benefit is not None:
        lines.append(f"可获支持：{format_amount(result.benefit)}")
    elif policy.benefit_summary:
        lines.append(f"可获支持：{policy.benefit_summary}")
    if define_values:
        lines.append("计算值：" + "；".join(
            f"{k} = {format_value(v)}" for k, v in define_values.items()))
    lines.append("条件：")
    for trace in result.criteria:
        lines.extend(_criterion_lines(trace, schema, 1))
    if result.outcome == UNKNOWN:
        labels = missing_labels(result, schema)
        if labels:
            lines.append("需补充：" + "、".join(labels))
    return lines


def missing_labels(result: PolicyResult, schema: ProfileSchema) -> list[str]:
    """Labels of the missing fields that keep an unknown result from being decided."""
    names = sorted({r.name for t in result.criteria for r in _unknown_reads(t)
                    if r.value is None and not r.is_define})
    fields = [schema.get(n) for n in names]
    return [f.label if f else n for f, n in zip(fields, names, strict=True)]


def _unknown_reads(trace: CriterionTrace) -> list[Read]:
    """Values read by the criteria that are unknown: what the profile should add."""
    if trace.value is not None:
        return []
    out = list(trace.reads)
    for c in trace.children:
        out.extend(_unknown_reads(c))
    return out


def explain_text(result: PolicyResult, schema: ProfileSchema, profile_id: str | None = None,
                 define_values: dict[str, Any] | None = None) -> str:
    return "\n".join(explain_lines(result, schema, profile_id, define_values))
