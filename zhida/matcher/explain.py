"""The one renderer of explanations: an `Explanation` (see `zhida.matcher.explanation`)
written as plain Chinese text, and the Chinese ways of reading values and money."""

from __future__ import annotations

import datetime as dt
from typing import Any

from zhida.matcher.explanation import CriterionLine, Explanation, ValueRead, build_explanation
from zhida.matcher.reference import PolicyResult
from zhida.profiles.schema import ProfileSchema
from zhida.rules.policy import ELIGIBLE, INELIGIBLE, UNKNOWN, Outcome

OUTCOME_TEXT: dict[Outcome, str] = {
    ELIGIBLE: "符合",
    INELIGIBLE: "不符合",
    UNKNOWN: "可能符合，需补充信息",
}
_MARK = {True: ("✓", "符合"), False: ("✗", "不符合"), None: ("?", "信息不足")}
INDENT = "  "  # one level of nesting in the text


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


def describe_read(read: ValueRead) -> str:
    """One value read: `标签 值` for a profile field, `name = 值` for a define."""
    if read.is_define:
        return f"{read.name} = {format_value(read.value)}"
    return f"{read.label} {format_value(read.value, read.unit)}"


def mark_of(line: CriterionLine) -> str:
    """✓ (holds), ✗ (does not) or ? (unknown)."""
    return _MARK[line.holds][0]


def criterion_text(line: CriterionLine) -> str:
    """A criterion line without its mark and indent: `符合：标签（依据：...）`."""
    word = _MARK[line.holds][1]
    detail = ""
    if line.reads:
        what = "实际" if line.holds is not True else "依据"
        detail = f"（{what}：" + "；".join(describe_read(r) for r in line.reads) + "）"
    if line.kind != "when":
        detail = "（满足全部）" if line.kind == "all" else "（满足其一）"
        if line.label.endswith(("其一）", "全部）")):
            detail = ""
    return f"{word}：{line.label}{detail}"


def missing_text(explanation: Explanation) -> str | None:
    """`需补充：...` for an unknown outcome with missing fields, else None."""
    if explanation.outcome != UNKNOWN or not explanation.missing:
        return None
    return "需补充：" + "、".join(m.label for m in explanation.missing)


def verdict_text(explanation: Explanation) -> str:
    """The outcome in words, with how many criteria failed or lack data."""
    verdict = OUTCOME_TEXT[explanation.outcome]
    if explanation.outcome == INELIGIBLE:
        verdict += f"（{len(explanation.failed)} 项条件不满足）"
    elif explanation.outcome == UNKNOWN:
        verdict += f"（{len(explanation.unknown)} 项条件缺少数据）"
    return verdict


def render_lines(explanation: Explanation) -> list[str]:
    """The explanation as lines of Chinese text (what `zhida explain` prints)."""
    e = explanation
    lines = [f"政策：{e.policy_title}（{e.policy_id}）"]
    who = f"对象：{e.profile_id}    " if e.profile_id else ""
    lines.append(f"{who}评估日期：{e.as_of.isoformat()}")
    lines.append(f"结论：{verdict_text(e)}")
    if e.benefit is not None:
        lines.append(f"可获支持：{format_amount(e.benefit)}")
    elif e.benefit_summary:
        lines.append(f"可获支持：{e.benefit_summary}")
    if e.defines:
        lines.append("计算值：" + "；".join(describe_read(d) for d in e.defines))
    lines.append("条件：")
    for depth, line in e.lines():
        lines.append(f"{INDENT * (depth + 1)}{mark_of(line)} {criterion_text(line)}")
    missing = missing_text(e)
    if missing:
        lines.append(missing)
    return lines


def render_text(explanation: Explanation) -> str:
    return "\n".join(render_lines(explanation))


def explain_text(
    result: PolicyResult,
    schema: ProfileSchema,
    profile_id: str | None = None,
    define_values: dict[str, Any] | None = None,
) -> str:
    """A reference result's explanation as Chinese text (build, then render)."""
    return render_text(build_explanation(result, schema, profile_id, define_values))
