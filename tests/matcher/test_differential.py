"""Property tests: the vectorised evaluator agrees with the reference interpreter.

Hypothesis writes random policies (every operator and function, nested all/any,
define names) and random profiles (missing values, zero divisors, month ends and
29 February), and both paths must give identical outcomes, failed and unknown
lists, and benefits.
"""

from __future__ import annotations

import datetime as dt
import math
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.factories import make_frame, make_policy, schemas_for_tests
from tests.support.strategies import NUM_EXPR, criteria_yaml, examples, profiles
from zhida.matcher.batch import BatchEvaluator
from zhida.matcher.reference import evaluate_policy

SCHEMAS = schemas_for_tests()
SCHEMA = SCHEMAS["enterprise"]
AS_OF = st.sampled_from(
    [
        dt.date(2026, 4, 1),
        dt.date(2025, 2, 28),
        dt.date(2024, 2, 29),
        dt.date(2026, 12, 31),
        dt.date(2026, 3, 31),
    ]
)


def _same(a: float | None, b: float) -> bool:
    if a is None:
        return bool(np.isnan(b))
    return not np.isnan(b) and (a == b or math.isclose(a, b, rel_tol=0, abs_tol=0))


EXAMPLES = int(os.environ.get("ZHIDA_HYPOTHESIS_EXAMPLES", "0")) or examples(300)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    criteria=criteria_yaml(),
    benefit=NUM_EXPR,
    rows=st.lists(profiles(), min_size=1, max_size=12),
    as_of=AS_OF,
    chunk=st.integers(1, 5),
)
def test_vectorised_agrees_with_reference(
    criteria: str, benefit: str, rows: list[dict[str, object]], as_of: dt.date, chunk: int
) -> None:
    extra = f"benefit: {{amount: '{benefit}'}}\ndefine: {{ratio: 'rd_expense / revenue'}}\n"
    policy = make_policy(criteria=criteria, extra=extra, schemas=SCHEMAS)
    for i, r in enumerate(rows):
        r["id"] = f"E{i}"
    frame = make_frame(rows, SCHEMA)
    evaluator = BatchEvaluator([policy], as_of, chunk_size=chunk, threads=2)
    results = list(evaluator.evaluate(frame, SCHEMA))
    outcome = np.concatenate([r.outcome[0] for r in results])
    codes = np.concatenate([r.criteria[0] for r in results], axis=1).T
    benefits = np.concatenate([r.benefit[0] for r in results])
    names = ["ineligible", "unknown", "eligible"]
    ids = policy.criterion_ids()
    for i, row in enumerate(rows):
        ref = evaluate_policy(policy, row, as_of)
        got_failed = [ids[k] for k in range(len(ids)) if codes[i, k] == 0]
        got_unknown = [ids[k] for k in range(len(ids)) if codes[i, k] == 1]
        context = f"row {row}\ncriteria:\n{criteria}"
        assert names[outcome[i]] == ref.outcome, context
        assert got_failed == ref.failed, context
        assert got_unknown == ref.unknown, context
        assert _same(ref.benefit, benefits[i]), (
            f"benefit {benefit}: {ref.benefit} vs {benefits[i]}\n{context}"
        )


@settings(max_examples=examples(500), deadline=None)
@given(
    d=st.one_of(
        st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)),
        st.sampled_from([dt.date(2024, 2, 29), dt.date(2023, 1, 31), dt.date(2020, 2, 29)]),
    ),
    as_of=st.one_of(st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)), AS_OF),
)
def test_calendar_functions_agree(d: dt.date, as_of: dt.date) -> None:
    crit = (
        "  - {id: y, label: y, when: 'years_since(established) >= 3'}\n"
        "  - {id: m, label: m, when: 'months_since(established) >= 36'}\n"
    )
    policy = make_policy(
        criteria=crit,
        extra="benefit: {amount: 'years_since(established) * 1000 + months_since(established)'}\n",
    )
    frame = make_frame([{"id": "a", "established": d}], SCHEMA)
    result = next(BatchEvaluator([policy], as_of, threads=1).evaluate(frame, SCHEMA))
    ref = evaluate_policy(policy, {"established": d}, as_of)
    assert result.benefit[0][0] == ref.benefit
