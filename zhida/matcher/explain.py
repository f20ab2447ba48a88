"""The one renderer of explanations: an `Explanation` (see `zhida.matcher.explanation`)
written as plain Chinese text, and the Chinese ways of reading values and money."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
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


def _trim(x: float, grouped: bool = False, decimals: int = 2) -> str:
    text = f"{x:,.{decimals}f}" if grouped else f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


#: fixed decimals up to this step; one step more shows the number exactly (repr)
_FINEST = 19


def _number_text(x: float, unit: str | None, k: int) -> str:
    """A number at precision step k (2: the usual; each step one digit more)."""
    if k > _FINEST:
        return f"{x!r}{unit or ''}"
    if unit == "元":
        return format_amount(x) if k <= 2 else f"{_trim(x, True, k - 3)}元"
    text = _trim(x, grouped=True, decimals=k) if x != 0 else "0"
    if unit:
        return f"{text}{unit}"
    if 0 < abs(x) < 1:
        return f"{text}（{_trim(x * 100, decimals=k - 1)}%）"
    return text


def _parts(text: str) -> set[str]:
    """The numbers a rendering shows (0.02（1.5%） shows two: each may not look equal)."""
    return {p for p in text.replace("）", "").split("（") if p}


def _precision(x: float, unit: str | None, against: Sequence[float]) -> int:
    """The fewest digits with which `x` never looks equal to a number it is compared
    with and differs from (3,000,000.01 is not shown as 300万 beside 不超过300万元)."""
    others = [t for t in against if t != x]
    for k in range(2, _FINEST + 2):
        mine = _parts(_number_text(x, unit, k))
        if all(not (_parts(_number_text(t, unit, k)) & mine) for t in others):
            return k
    return _FINEST + 1


def format_value(value: Any, unit: str | None = None, against: Sequence[float] = ()) -> str:
    """A value as people read it; a number with enough digits that it never looks equal
    to any of `against` (the numbers it is compared with) unless it is equal."""
    if value is None:
        return "未知（缺少数据）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value) if value else "（空）"
    if isinstance(value, float | int):
        x = float(value)
        return _number_text(x, unit, _precision(x, unit, against) if against else 2)
    return str(value)


def describe_read(read: ValueRead, against: Sequence[float] = ()) -> str:
    """One value read: `标签 值` for a profile field, `计算式 = 值` for a define or a
    computed side of a comparison; a place name for a region code; a value that could
    not be computed because something divides by zero says so."""
    if read.value is None and read.zero_divisor:
        value = f"无法计算（{read.zero_divisor}为0）"
    elif read.shown is not None:
        value = read.shown
    else:
        value = format_value(read.value, read.unit, against)
    if read.is_define or not read.name:
        return f"{read.label} = {value}"
    return f"{read.label} {value}"


def mark_of(line: CriterionLine) -> str:
    """✓ (holds), ✗ (does not) or ? (unknown)."""
    return _MARK[line.holds][0]


def criterion_text(line: CriterionLine) -> str:
    """A criterion line without its mark and indent: `符合：标签（依据：...）`."""
    word = _MARK[line.holds][1]
    if line.holds is None and line.zero_divisors:
        word = "无法计算"
    detail = ""
    if line.reads or line.computed:
        what = "实际" if line.holds is not True else "依据"
        parts = [describe_read(r, line.thresholds) for r in (*line.reads, *line.computed)]
        parts += [f"{d}为0，无法相除" for d in line.zero_divisors]
        detail = f"（{what}：" + "；".join(parts) + "）"
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
        undecided = [c for c in explanation.criteria if c.id in explanation.unknown]
        zero = sum(1 for c in undecided if any(ln.zero_divisors for _, ln in c.walk()))
        parts = []
        if len(undecided) - zero:
            parts.append(f"{len(undecided) - zero} 项条件缺少数据")
        if zero:
            parts.append(f"{zero} 项条件无法计算（除数为0）")
        verdict += f"（{'，'.join(parts)}）"
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
