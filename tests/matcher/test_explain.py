"""Chinese explanations."""

from __future__ import annotations

import datetime as dt

from tests.support.factories import enterprise, make_policy
from zhida.matcher.explain import explain_text, format_amount, format_value
from zhida.matcher.reference import evaluate_policy
from zhida.profiles.schema import builtin_schema


def test_amounts_read_the_chinese_way() -> None:
    assert format_amount(80_000_000) == "8,000万元"
    assert format_amount(150_000_000) == "1.5亿元"
    assert format_amount(500_000) == "50万元"
    assert format_amount(3_500) == "3,500元"
    assert format_value(None) == "未知（缺少数据）"
    assert format_value(0.15) == "0.15（15%）"


def test_explanation_shows_nested_criteria_values_and_missing_data() -> None:
    crit = (
        "  - {id: rev, label: 上年度营业收入不低于1亿元, when: revenue >= 1亿}\n"
        "  - id: inno\n    label: 创新能力（满足其一）\n    any:\n"
        "      - {id: pat, label: Ⅰ类知识产权2项以上, when: invention_patents >= 2}\n"
        "      - {id: rds, label: 研发人员占比不低于15%, when: rd_staff / employees >= 15%}\n"
    )
    policy = make_policy(criteria=crit, extra="define: {rd_ratio: rd_expense / revenue}\n")
    profile = enterprise(revenue=8e7, invention_patents=None, rd_staff=20, employees=100)
    result = evaluate_policy(policy, profile, dt.date(2026, 4, 1))
    text = explain_text(result, builtin_schema("enterprise"), "E1")
    assert "结论：不符合（1 项条件不满足）" in text
    assert "✗ 不符合：上年度营业收入不低于1亿元（实际：上年度营业收入 8,000万元）" in text
    assert "    ? 信息不足：Ⅰ类知识产权2项以上（实际：发明专利数 未知（缺少数据））" in text
    assert "    ✓ 符合：研发人员占比不低于15%（依据：研发人员数 20人；职工人数 100人）" in text


def test_unknown_outcome_lists_the_data_to_add() -> None:
    policy = make_policy(
        criteria="  - {id: age, label: 成立满3年, when: years_since(established) >= 3}\n"
    )
    result = evaluate_policy(policy, enterprise(established=None), dt.date(2026, 4, 1))
    text = explain_text(result, builtin_schema("enterprise"))
    assert "结论：可能符合，需补充信息" in text
    assert text.endswith("需补充：成立日期")
