"""Run the `tests:` written inside policies (what `zhida check` reports)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from zhida.matcher.reference import evaluate_policy
from zhida.rules.policy import Policy, PolicyTest


@dataclass
class TestOutcome:
    policy: Policy
    test: PolicyTest
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems


def _same_number(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def run_test(policy: Policy, test: PolicyTest) -> TestOutcome:
    result = evaluate_policy(policy, test.profile, test.as_of)
    exp = test.expect
    problems: list[str] = []
    if result.outcome != exp.outcome:
        problems.append(f"expected {exp.outcome}, got {result.outcome}")
    if exp.failed is not None and sorted(exp.failed) != sorted(result.failed):
        problems.append(f"expected failed {sorted(exp.failed)}, got {sorted(result.failed)}")
    if exp.unknown is not None and sorted(exp.unknown) != sorted(result.unknown):
        problems.append(f"expected unknown {sorted(exp.unknown)}, got {sorted(result.unknown)}")
    if exp.check_benefit and not _same_number(exp.benefit, result.benefit):
        problems.append(f"expected benefit {exp.benefit}, got {result.benefit}")
    if problems and exp.failed is None and result.failed:
        problems.append(f"failed criteria: {', '.join(result.failed)}")
    if problems and exp.unknown is None and result.unknown:
        problems.append(f"unknown criteria: {', '.join(result.unknown)}")
    return TestOutcome(policy, test, problems)


def run_policy_tests(policy: Policy) -> list[TestOutcome]:
    return [run_test(policy, t) for t in policy.tests]
