"""Explanations as structured lines, and the one renderer that writes them as Chinese."""

from __future__ import annotations

import datetime as dt

from tests.support.factories import enterprise, make_policy
from zhida.matcher.explain import criterion_text, explain_text, mark_of, render_text
from zhida.matcher.explanation import (
    MissingField,
    ValueRead,
    build_explanation,
    missing_labels,
)
from zhida.matcher.reference import evaluate_define_values, evaluate_policy
from zhida.profiles.schema import builtin_schema

AS_OF = dt.date(2026, 4, 1)
SCHEMA = builtin_schema("enterprise")
NESTED = (
    "  - {id: rev, label: 上年度营业收入不低于1亿元, when: revenue >= 1亿}\n"
    "  - id: inno\n    label: 创新能力\n    any:\n"
    "      - {id: pat, label: Ⅰ类知识产权2项以上, when: invention_patents >= 2}\n"
    "      - {id: rds, label: 研发人员占比不低于15%, when: rd_staff / employees >= 15%}\n"
)


def test_structure_holds_every_criterion_its_verdict_and_the_values_read() -> None:
    policy = make_policy(criteria=NESTED, extra="define: {rd_ratio: rd_expense / revenue}\n")
    profile = enterprise(revenue=8e7, invention_patents=None, rd_staff=20, employees=100)
    result = evaluate_policy(policy, profile, AS_OF)
    defines = evaluate_define_values(policy, profile, AS_OF)
    e = build_explanation(result, SCHEMA, "E1", defines)
    assert (e.policy_id, e.profile_id, e.outcome, e.failed) == (
        policy.id,
        "E1",
        "ineligible",
        ("rev",),
    )
    assert [(depth, line.id, line.kind, line.holds) for depth, line in e.lines()] == [
        (0, "rev", "when", False),
        (0, "inno", "any", True),
        (1, "pat", "when", None),
        (1, "rds", "when", True),
    ]
    rev = e.criteria[0]
    assert rev.reads == (ValueRead("revenue", "上年度营业收入", 8e7, "元"),)
    assert e.criteria[1].children[0].reads == (
        ValueRead("invention_patents", "发明专利数", None, SCHEMA.get("invention_patents").unit),
    )
    assert [d.name for d in e.defines] == ["rd_ratio"] and e.defines[0].is_define
    assert e.missing == ()  # the missing patents do not matter: 创新能力 holds


def test_missing_fields_are_those_of_undecided_criteria_whatever_the_outcome() -> None:
    policy = make_policy(criteria=NESTED)
    profile = enterprise(revenue=8e7, invention_patents=None, rd_staff=5, employees=100)
    result = evaluate_policy(policy, profile, AS_OF)
    e = build_explanation(result, SCHEMA)
    assert e.outcome == "ineligible" and e.unknown == ("inno",)
    assert e.missing == (MissingField("invention_patents", "发明专利数"),)
    assert missing_labels(result, SCHEMA) == ["发明专利数"]
    assert "需补充" not in render_text(e)  # shown for an unknown outcome only


def test_one_renderer_writes_the_text_from_the_structure() -> None:
    policy = make_policy(criteria=NESTED)
    profile = enterprise(revenue=8e7, invention_patents=None, rd_staff=20, employees=100)
    result = evaluate_policy(policy, profile, AS_OF)
    e = build_explanation(result, SCHEMA, "E1")
    text = render_text(e)
    assert text == explain_text(result, SCHEMA, "E1")
    for depth, line in e.lines():
        assert f"\n{'  ' * (depth + 1)}{mark_of(line)} {criterion_text(line)}" in text
    assert criterion_text(e.criteria[1]) == "符合：创新能力（满足其一）"
    assert "需补充" not in text  # shown for an unknown outcome only


def test_unknown_outcome_renders_the_missing_fields() -> None:
    policy = make_policy(
        criteria="  - {id: age, label: 成立满3年, when: years_since(established) >= 3}\n"
    )
    result = evaluate_policy(policy, enterprise(established=None), AS_OF)
    e = build_explanation(result, SCHEMA)
    assert e.outcome == "unknown" and e.unknown == ("age",)
    assert e.missing == (MissingField("established", "成立日期"),)
    assert render_text(e).endswith("\n需补充：成立日期")
