"""Deep policies: long `and`/`or` chains work at any length; deeper nesting is refused
with a located error naming the limit, never a RecursionError."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.factories import make_frame
from zhida.errors import ErrorList, PolicyError, ZhidaError
from zhida.matcher.batch import BatchEvaluator
from zhida.matcher.reference import evaluate_policy
from zhida.profiles.schema import SchemaSet
from zhida.rules.loader import load_policy_text
from zhida.rules.parser import MAX_DEPTH
from zhida.rules.policy import Policy
from zhida.rules.yamlnodes import MAX_YAML_DEPTH

HEAD = "id: deep\ntitle: 深\ndepartment: 测试\naudience: enterprise\n"
AS_OF = dt.date(2026, 4, 1)


def policy_with(when: str, extra: str = "") -> str:
    return HEAD + extra + f"criteria:\n  - id: c\n    label: 条件\n    when: {when}\n"


SCHEMAS = SchemaSet.builtin()
NAMES = ["ineligible", "unknown", "eligible"]


def load(text: str) -> Policy:
    return load_policy_text(text, "deep.yaml", SCHEMAS)


def error_of(text: str) -> str:
    with pytest.raises(ZhidaError) as caught:
        load(text)
    assert isinstance(caught.value, PolicyError | ErrorList)
    return str(caught.value)


@pytest.mark.parametrize("op", ["and", "or"])
def test_a_thousand_conditions_in_one_chain_load_and_evaluate(op: str) -> None:
    terms = [f"employees > {i}" for i in range(1000)]
    policy = load(policy_with(f" {op} ".join(terms)))
    for employees, expected in (
        (5000, "eligible"),
        (500, "eligible" if op == "or" else "ineligible"),
        (0, "ineligible"),
    ):
        profile = {"id": "E1", "employees": employees}
        assert evaluate_policy(policy, profile, AS_OF).outcome == expected
        schema = SCHEMAS[policy.audience]
        frame = make_frame([profile], schema)
        result = next(BatchEvaluator([policy], AS_OF, threads=1).evaluate(frame, schema))
        assert NAMES[int(result.outcome[0][0])] == expected


@given(
    st.lists(st.sampled_from(["true", "false", "revenue > 1"]), min_size=1, max_size=40),
    st.sampled_from(["and", "or"]),
    st.sampled_from([None, 0, 5]),
)
def test_a_balanced_chain_means_the_left_to_right_chain(
    terms: list[str], op: str, revenue: int | None
) -> None:
    """Kleene `and`/`or` are associative: balancing the chain changes no outcome."""
    values = [
        {"true": True, "false": False}.get(t, None if revenue is None else revenue > 1)
        for t in terms
    ]
    expected = values[0]
    for v in values[1:]:
        if op == "and":
            expected = (
                False if False in (expected, v) else (None if None in (expected, v) else True)
            )
        else:
            expected = True if True in (expected, v) else (None if None in (expected, v) else False)
    policy = load(policy_with(f" {op} ".join(terms)))
    profile = {"id": "E1"} if revenue is None else {"id": "E1", "revenue": revenue}
    outcome = evaluate_policy(policy, profile, AS_OF).outcome
    assert outcome == {True: "eligible", False: "ineligible", None: "unknown"}[expected]


def test_deep_not_is_refused_at_its_place() -> None:
    message = error_of(policy_with("not " * 244 + "true"))
    assert message.startswith("deep.yaml:8:")
    assert f"nested more than {MAX_DEPTH} levels deep (the limit" in message


def test_parentheses_add_no_depth_but_long_arithmetic_is_refused() -> None:
    policy = load(policy_with("(" * 400 + "revenue > 1" + ")" * 400))
    assert evaluate_policy(policy, {"id": "E1", "revenue": 2}, AS_OF).outcome == "eligible"
    assert "levels deep" in error_of(policy_with(" + ".join(["revenue"] * 300) + " > 0"))


def test_a_long_chain_of_define_names_is_refused() -> None:
    defines = "define:\n  d0: revenue\n" + "".join(f"  d{i}: d{i - 1} + 1\n" for i in range(1, 400))
    message = error_of(policy_with("d399 > 1", defines))
    assert message.startswith("deep.yaml:") and "(the limit)" in message


def nested_any(depth: int) -> str:
    inner = "{id: x0, label: x, when: true}"
    for d in range(1, depth + 1):
        inner = f"{{id: x{d}, label: x, any: [{inner}]}}"
    return inner


def test_deeply_nested_criteria_are_refused_from_the_yaml_events() -> None:
    message = error_of(HEAD + "criteria:\n  - " + nested_any(242) + "\n")
    assert message.startswith("deep.yaml:6:")
    assert f"nested more than {MAX_YAML_DEPTH} levels deep (the limit" in message


def test_twenty_levels_of_criteria_still_work() -> None:
    policy = load(HEAD + "criteria:\n  - " + nested_any(20) + "\n")
    assert evaluate_policy(policy, {"id": "E1"}, AS_OF).outcome == "eligible"
