"""The function registry (zhida/rules/functions/) is the one list of expression functions:
every entry is complete, nothing else in zhida names a function, the differential tests
exercise each one, and an entry added here alone works in the checker and in every
evaluator."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.factories import enterprise, make_frame, make_policy, schemas_for_tests
from zhida.errors import ZhidaError
from zhida.matcher.batch import BatchEvaluator
from zhida.matcher.realtime import RealtimeMatcher
from zhida.matcher.reference import evaluate_policy
from zhida.rules.ast import Call, Literal, constant_value
from zhida.rules.functions import FUNCTIONS, Function, Vectors
from zhida.rules.functions.checks import need
from zhida.rules.semantics import Value
from zhida.rules.types import NUMBER, Type

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "zhida" / "rules" / "functions"
AS_OF = dt.date(2026, 4, 1)


def test_every_entry_is_complete() -> None:
    assert FUNCTIONS, "the registry is empty"
    for name, fn in FUNCTIONS.items():
        assert fn.name == name
        lo, hi = fn.arity
        assert lo >= 0 and (hi is None or hi >= lo), name
        assert all(i >= 0 and (hi is None or i < hi) for i in fn.constant_args), name
        assert callable(fn.type_rule) and callable(fn.scalar) and callable(fn.vector), name
        # explanations say it in Chinese, never by its name
        assert fn.words and fn.name not in fn.words, name
        fn.words.format(*"abcdefgh", args="a、b", places="浙江省")  # a valid template


def test_no_other_module_names_a_function() -> None:
    """A string equal to a function name outside the registry is a second list."""
    found = []
    for path in sorted((ROOT / "zhida").rglob("*.py")):
        if path.is_relative_to(REGISTRY):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in FUNCTIONS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not found, "function names outside zhida/rules/functions/:\n" + "\n".join(found)


@pytest.mark.parametrize("test_file", ["test_differential.py", "test_realtime.py"])
def test_the_agreement_tests_call_every_function(test_file: str) -> None:
    source = (ROOT / "tests" / "matcher" / test_file).read_text(encoding="utf-8")
    if "tests.support.strategies import" in source:  # the shared expression strategies
        source += (ROOT / "tests" / "support" / "strategies.py").read_text(encoding="utf-8")
    missing = [
        name
        for name in FUNCTIONS
        if not re.search(rf'\b{re.escape(name)}\(|"{re.escape(name)}"', source)
    ]
    assert not missing, f"add these to the expression strategies of {test_file}: {missing}"


# -- a function added in a test only ------------------------------------------------------


def _scaled_type(node: Call) -> Type:
    need(node, 0, NUMBER)
    need(node, 1, NUMBER)
    return NUMBER


def _scaled(x: Value, k: Value) -> Value:
    return None if x is None or k is None else x * k


def _scaled_vector(v: Vectors, node: Call) -> Any:
    return np.multiply(v.value(node.args[0]), np.float64(constant_value(node.args[1])))


SCALED = Function("scaled", (2, 2), _scaled_type, _scaled, _scaled_vector, constant_args=(1,))


@pytest.fixture
def scaled(monkeypatch: pytest.MonkeyPatch) -> Function:
    monkeypatch.setitem(FUNCTIONS, SCALED.name, SCALED)
    return SCALED


def _policy_with(when: str, benefit: str = "0") -> Any:
    return make_policy(
        criteria=f"  - {{id: c1, label: 条件, when: '{when}'}}\n",
        extra=f"benefit: {{amount: '{benefit}'}}\n",
    )


def test_a_new_entry_is_checked_by_its_entry(scaled: Function) -> None:
    with pytest.raises(ZhidaError, match=r"scaled\(\) takes 2 arguments, got 1"):
        _policy_with("scaled(revenue) > 0")
    with pytest.raises(ZhidaError, match=r"argument 2 of scaled\(\) must be a constant"):
        _policy_with("scaled(revenue, employees) > 0")
    with pytest.raises(ZhidaError, match=r"argument 1 of scaled\(\) must be a number"):
        _policy_with("scaled(name, 2) > 0")
    with pytest.raises(ZhidaError, match=r"did you mean 'scaled'"):
        _policy_with("scaeld(revenue, 2) > 0")
    folded = _policy_with("true", benefit="scaled(3, 2)").benefit_amount
    assert isinstance(folded, Literal) and folded.value == 6.0


def test_a_new_entry_runs_in_every_evaluator(scaled: Function) -> None:
    policy = _policy_with("scaled(revenue, 2) >= 3亿", benefit="scaled(employees, 1000)")
    rows = [
        enterprise(id="E1", revenue=1.5e8, employees=10),
        enterprise(id="E2", revenue=1e8, employees=20),
        enterprise(id="E3", revenue=None, employees=None),
    ]
    schema = schemas_for_tests()["enterprise"]
    result = next(BatchEvaluator([policy], AS_OF).evaluate(make_frame(rows, schema), schema))
    reference = [evaluate_policy(policy, row, AS_OF) for row in rows]
    assert [r.outcome for r in reference] == ["eligible", "ineligible", "unknown"]
    assert result.outcome[0].tolist() == [2, 0, 1]
    assert [r.benefit for r in reference] == [10000.0, 20000.0, None]
    np.testing.assert_array_equal(result.benefit[0], [10000.0, 20000.0, np.nan])
    with RealtimeMatcher([policy], name_prefix="test-functions-") as matcher:
        judged = [matcher.match(row, "enterprise", AS_OF)[0] for row in rows]
    assert [r.outcome for r in judged] == ["eligible", "ineligible", "unknown"]
    assert [r.via for r in judged] == ["durable_rules", "durable_rules", "reference"]
