"""Every way a policy can be wrong gets one clear, located message."""

from __future__ import annotations

import re

import pytest

from zhida.errors import ErrorList, PolicyError, ZhidaError
from zhida.profiles.schema import SchemaSet
from zhida.rules.loader import load_policy_text

HEAD = "id: p1\ntitle: 测试\naudience: enterprise\n"


def errors_of(text: str) -> list[str]:
    with pytest.raises(ZhidaError) as info:
        load_policy_text(text, "p.yaml", SchemaSet.builtin())
    err = info.value
    return [str(e) for e in (err.errors if isinstance(err, ErrorList) else [err])]


def one_error(text: str) -> str:
    errs = errors_of(text)
    assert len(errs) == 1, errs
    assert re.match(r"^p\.yaml:\d+:\d+: error: ", errs[0]), errs[0]
    return errs[0]


def crit(when: str) -> str:
    return HEAD + f"criteria:\n  - id: c1\n    label: 条件\n    when: {when}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD + "criteria: [\n",
            "p.yaml:5:1: error: malformed YAML: expected the node content, but found '<stream end>'",
        ),
        (
            HEAD + "titel: x\ncriteria:\n  - {id: a, label: a, when: true}\n",
            "p.yaml:4:1: error: unknown key 'titel' in the policy (did you mean 'title'?)",
        ),
        (
            HEAD
            + "criteria:\n  - id: a\n    label: a\n    when: true\n    any: [{id: b, label: b, "
            "when: true}]\n",
            "p.yaml:5:5: error: criterion 'a' needs exactly one of when/all/any, "
            "found when and any",
        ),
        (
            HEAD
            + "criteria:\n  - {id: a, label: a, when: true}\n  - {id: a, label: b, when: true}\n",
            "p.yaml:6:10: error: duplicate criterion id 'a' (first used at line 5)",
        ),
        (
            crit("revenu >= 1亿"),
            "p.yaml:7:11: error: unknown field 'revenu' for enterprise profiles "
            "(did you mean 'revenue'?)",
        ),
        (
            crit("yeers_since(established) >= 3"),
            "p.yaml:7:11: error: unknown function 'yeers_since' (did you mean 'years_since'?)",
        ),
        (
            crit("years_since(established, 1) >= 3"),
            "p.yaml:7:11: error: years_since() takes 1 argument, got 2",
        ),
        (crit("established >= 3"), "p.yaml:7:26: error: cannot compare a date with a number"),
        (
            crit("established >= 2026-02-30"),
            "p.yaml:7:26: error: invalid date 2026-02-30 (day is out of range for month)",
        ),
        (
            crit("established >= 0000-01-01"),
            "p.yaml:7:26: error: invalid date 0000-01-01 (year 0 is out of range)",
        ),
        (
            HEAD + "criteria:\n  - {id: a, label: a, when: true}\ntests:\n  - name: t\n"
            "    as_of: 2026-01-01\n    profile: {established: 2026-02-30}\n    expect: eligible\n",
            "p.yaml:9:28: error: invalid date 2026-02-30 (day is out of range for month)",
        ),
        (crit('revenue + "x" > 1'), "p.yaml:7:21: error: '+' needs numbers, got a string"),
        (crit("revenue >= "), "p.yaml:7:19: error: expression ends too early"),
        (
            crit("revenue >= 1亿 )"),
            "p.yaml:7:25: error: unexpected ')', expected the end of the expression",
        ),
        (
            crit("revenue （ 1"),
            "p.yaml:7:19: error: full-width character '（' in expression (use '(')",
        ),
        (
            crit("revenue"),
            "p.yaml:7:11: error: the condition of criterion 'c1' must be true/false, got a number",
        ),
        (
            crit('industry in "C39"'),
            "p.yaml:7:23: error: the right side of 'in' must be a list, got "
            "a string (use contains(s, sub) to search in a string)",
        ),
        (
            crit("in_region(region, [industry])"),
            "p.yaml:7:29: error: argument 2 of in_region() must be a constant",
        ),
        (
            HEAD
            + "define:\n  a: b + 1\n  b: a * 2\ncriteria:\n  - {id: c, label: c, when: a > 1}\n",
            "p.yaml:5:6: error: define names refer to each other in a cycle: a -> b -> a",
        ),
        (
            HEAD + "criteria:\n  - {id: a, label: a, any: []}\n",
            "p.yaml:5:28: error: 'any:' of criterion 'a' must not be empty",
        ),
        (HEAD + "criteria: []\n", "p.yaml:4:11: error: criteria must not be empty"),
        (
            "id: P_1\ntitle: x\naudience: enterprise\ncriteria:\n  - {id: a, label: a, when: true}\n",
            "p.yaml:1:5: error: policy id 'P_1' must match [a-z0-9][a-z0-9-]*",
        ),
        (
            "id: p\ntitle: x\naudience: company\ncriteria:\n  - {id: a, label: a, when: true}\n",
            "p.yaml:3:11: error: audience must be enterprise or citizen, got 'company'",
        ),
        (
            HEAD + "window: {opens: 2026-06-01, closes: 2026-03-01}\n"
            "criteria:\n  - {id: a, label: a, when: true}\n",
            "p.yaml:4:37: error: window closes before it opens",
        ),
        (
            HEAD + "criteria:\n  - {id: a, label: a, when: true}\ntests:\n  - name: t\n"
            "    as_of: 2026-01-01\n    profile: {revenu: 1}\n    expect: eligible\n",
            "p.yaml:9:15: error: unknown field 'revenu' for enterprise profiles (did you mean "
            "'revenue'?)",
        ),
        (
            HEAD + "criteria:\n  - {id: a, label: a, when: true}\ntests:\n  - name: t\n"
            "    as_of: 2026-01-01\n    expect: {outcome: ineligible, failed: [b]}\n",
            "p.yaml:9:43: error: 'b' in expect.failed is not a top-level criterion id",
        ),
        (
            HEAD + "criteria:\n  - {id: a, label: a, when: true}\ntests:\n  - name: t\n"
            "    as_of: 2026-01-01\n    profile: {employees: 1.5}\n    expect: eligible\n",
            "p.yaml:9:26: error: value of 'employees' must be a whole number, got '1.5'",
        ),
        (
            crit('if(high_tech, 1, "a") > 0'),
            "p.yaml:7:28: error: both branches of if() must have one type: a number and a string",
        ),
        (
            crit('band(revenue, [[1, "a"]], 0) > 1'),
            "p.yaml:7:30: error: list items must all have one type: a number and a string",
        ),
        (
            crit("band(revenue, [1, 2], 0) > 1"),
            "p.yaml:7:25: error: argument 2 of band() must be a list of [threshold, points] number "
            "pairs",
        ),
    ],
)
def test_policy_error_is_located_and_clear(text: str, expected: str) -> None:
    assert one_error(text) == expected


def test_several_errors_are_all_reported_in_file_order() -> None:
    text = HEAD + (
        "criteria:\n  - {id: a, label: a, when: revenu > 1}\n"
        "  - {id: b, label: b, when: employes > 1}\n"
    )
    errs = errors_of(text)
    assert [e.split(": error")[0] for e in errs] == ["p.yaml:5:29", "p.yaml:6:29"]


def test_block_scalar_expression_reports_the_right_line() -> None:
    text = (
        HEAD + "criteria:\n  - id: a\n    label: a\n    when: |\n      revenue > 1 and\n"
        "        employes > 3\n"
    )
    assert one_error(text).startswith("p.yaml:9:9: error: unknown field 'employes'")


def test_policy_error_is_a_policy_error() -> None:
    with pytest.raises(PolicyError):
        load_policy_text(crit("x > 1"), "p.yaml", SchemaSet.builtin())
