"""Chinese explanations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.support.factories import enterprise, make_policy
from zhida.matcher.explain import _parts, explain_text, format_amount, format_value
from zhida.matcher.reference import evaluate_define_values, evaluate_policy
from zhida.profiles.schema import builtin_schema
from zhida.rules.loader import load_pack


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
    assert (
        "    ✓ 符合：研发人员占比不低于15%（依据：研发人员数 20人；职工人数 100人；"
        "研发人员数 / 职工人数 = 0.2（20%））"
    ) in text


def test_unknown_outcome_lists_the_data_to_add() -> None:
    policy = make_policy(
        criteria="  - {id: age, label: 成立满3年, when: years_since(established) >= 3}\n"
    )
    result = evaluate_policy(policy, enterprise(established=None), dt.date(2026, 4, 1))
    text = explain_text(result, builtin_schema("enterprise"))
    assert "结论：可能符合，需补充信息" in text
    assert text.endswith("需补充：成立日期")


# --- issue 14.7: the comparison visible at the boundary, labels, places, division by zero


def _explain(criteria: str, profile: dict[str, object], extra: str = "") -> str:
    policy = make_policy(criteria=criteria, extra=extra)
    result = evaluate_policy(policy, enterprise(**profile), dt.date(2026, 4, 1))
    defines = evaluate_define_values(policy, enterprise(**profile), dt.date(2026, 4, 1))
    return explain_text(result, builtin_schema("enterprise"), "E1", defines)


def test_a_value_just_over_the_line_does_not_look_equal_to_it() -> None:
    text = _explain(
        "  - {id: rev, label: 营业收入不超过300万元, when: revenue <= 300万}\n",
        {"revenue": 3_000_000.01},
    )
    assert "✗ 不符合：营业收入不超过300万元（实际：上年度营业收入 3,000,000.01元）" in text
    text = _explain(
        "  - {id: rds, label: 研发人员占比低于1.5%, when: rd_staff / employees < 1.5%}\n",
        {"rd_staff": 2, "employees": 133},
    )
    assert "研发人员数 / 职工人数 = 0.01504（1.5038%）" in text
    # away from the line, the usual few digits
    text = _explain(
        "  - {id: rev, label: 营业收入不超过300万元, when: revenue <= 300万}\n",
        {"revenue": 2_500_000.0},
    )
    assert "上年度营业收入 250万元" in text


@given(
    t=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
    delta=st.floats(min_value=-1e3, max_value=1e3, allow_nan=False),
    unit=st.sampled_from([None, "元", "人", "月"]),
)
def test_a_number_and_the_number_it_is_compared_with_never_look_equal(
    t: float, delta: float, unit: str | None
) -> None:
    """Whatever the scale and the gap: two different numbers are never rendered alike
    when one is shown beside the other (the threshold rendered the same way)."""
    v = t + delta * 10.0 ** -st_scale(delta)
    if v == t:
        return
    shown, threshold = format_value(v, unit, [t]), format_value(t, unit, [v])
    assert shown != threshold
    assert not (_parts(shown) & _parts(threshold))  # nor any number they show


def st_scale(delta: float) -> int:
    """Gaps from 1e3 down to 1e-9 of the threshold's units."""
    return int(abs(delta) * 1000) % 13


@given(
    threshold=st.integers(min_value=1, max_value=10_000).map(lambda n: n * 1000),
    cents=st.integers(min_value=1, max_value=99),
)
def test_a_failed_money_comparison_shows_the_gap(threshold: int, cents: int) -> None:
    """End to end: revenue one cent to 99 cents over 不超过N元 fails, and its rendering
    differs from the threshold's."""
    value = threshold + cents / 100
    text = _explain(
        f"  - {{id: rev, label: 营业收入不超过{threshold}元, when: revenue <= {threshold}}}\n",
        {"revenue": value},
    )
    assert "✗ 不符合" in text
    shown = text.split("上年度营业收入 ")[1].split("）")[0]
    assert shown == format_value(value, "元", [float(threshold)])
    assert shown != format_value(float(threshold), "元", [value])


def test_internal_names_and_region_codes_never_show() -> None:
    """zj-tech-sme's `define:` names (staff_score, total...) are shown by what they
    compute, and the region code 330106 by its place name."""
    loaded = load_pack([Path(__file__).resolve().parents[2] / "examples" / "policies"])
    policy = next(p for p in loaded.policies if p.id == "zj-tech-sme")
    schema = loaded.schemas["enterprise"]
    profile = enterprise(
        region="330106",
        employees=100,
        tech_staff=12,
        rd_expense=2e6,
        revenue=5e7,
        invention_patents=0,
        patents=2,
        tax_credit="B",
        high_tech=False,
    )
    result = evaluate_policy(policy, profile, dt.date(2026, 4, 1))
    defines = evaluate_define_values(policy, profile, dt.date(2026, 4, 1))
    text = explain_text(result, schema, "E1", defines)
    for name in policy.defines:
        assert name not in text
    assert "330106" not in text and "浙江省杭州市西湖区" in text
    assert "按科技人员数 / 职工人数分档的得分 = 4" in text


def test_a_division_by_zero_is_explained_as_such() -> None:
    text = _explain(
        "  - {id: rds, label: 研发人员占比不低于15%, when: rd_staff / employees >= 15%}\n"
        "  - {id: rdr, label: 研发费用占比不低于3%, when: rd_ratio >= 3%}\n",
        {"rd_staff": 2, "employees": 0, "rd_expense": 1e5, "revenue": 0},
        extra="define: {rd_ratio: rd_expense / revenue}\n",
    )
    assert "结论：可能符合，需补充信息（2 项条件无法计算（除数为0））" in text
    assert "? 无法计算：研发费用占比不低于3%（实际：研发费用 10万元；上年度营业收入 0元；" in text
    assert "? 无法计算：研发人员占比不低于15%（实际：" in text
    assert "职工人数为0，无法相除" in text
    assert "研发费用 / 上年度营业收入 = 无法计算（上年度营业收入为0）" in text
    assert "缺少数据" not in text and "需补充：" not in text
