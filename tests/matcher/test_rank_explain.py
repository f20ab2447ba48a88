"""Ranking order and Chinese explanations."""

from __future__ import annotations

import datetime as dt

import numpy as np

from tests.support.factories import enterprise, make_policy
from zhida.matcher.explain import explain_text, format_amount, format_value
from zhida.matcher.reference import evaluate_policy
from zhida.profiles.schema import builtin_schema
from zhida.ranking.heuristic import heuristic_scores, ranks, urgency
from zhida.rules.policy import Window


def test_unknown_ranks_below_a_comparable_eligible() -> None:
    policies = [make_policy(pid="a"), make_policy(pid="b")]
    outcome = np.array([[1], [2]], dtype=np.int8)  # a unknown, b eligible; one profile
    criteria = [np.array([[1]], dtype=np.int8), np.array([[2]], dtype=np.int8)]
    benefit = [np.array([1e5]), np.array([1e5])]
    scores = heuristic_scores(policies, outcome, criteria, benefit, dt.date(2026, 4, 1))
    assert 0 < scores[0, 0] < scores[1, 0] <= 1
    assert ranks(scores, outcome)[:, 0].tolist() == [2, 1]


def test_ineligible_has_no_rank_and_bigger_benefit_ranks_first() -> None:
    policies = [make_policy(pid=p) for p in "abc"]
    outcome = np.array([[2], [0], [2]], dtype=np.int8)
    criteria = [np.array([[2]], dtype=np.int8)] * 3
    benefit = [np.array([1e4]), np.array([1e9]), np.array([1e6])]
    scores = heuristic_scores(policies, outcome, criteria, benefit, dt.date(2026, 4, 1))
    assert ranks(scores, outcome)[:, 0].tolist() == [2, 0, 1]
    assert scores[1, 0] == 0


def test_urgency_by_window() -> None:
    today = dt.date(2026, 6, 1)
    assert urgency(Window(), today) == 0.5
    assert urgency(Window(dt.date(2026, 7, 1), None), today) == 0.3
    assert urgency(Window(None, dt.date(2026, 6, 20)), today) == 1.0
    assert urgency(Window(None, dt.date(2026, 5, 1)), today) == 0.0


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
