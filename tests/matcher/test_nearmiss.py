"""Near misses: exactly one false top-level criterion, none unknown; `holds_on` the first
day on which time alone makes that criterion hold."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.matcher.test_differential import AS_OF
from tests.support.factories import make_frame, make_policy, schemas_for_tests
from tests.support.strategies import NEAR_CONDITIONS, NEAR_DEFINES, criteria_yaml, examples
from tests.support.strategies import profiles as profile_rows
from zhida.matcher import nearmiss
from zhida.matcher.batch import BatchEvaluator
from zhida.matcher.nearmiss import NearMiss, near_miss_scalar
from zhida.rules.policy import Policy

SCHEMAS = schemas_for_tests()
SCHEMA = SCHEMAS["enterprise"]
TEST_HORIZON = 1200  # days the reference scans, one by one: short enough for many examples
#: dates around the evaluation dates, month ends and 29 February, so dates fall due
NEAR_DATES = st.one_of(
    st.dates(dt.date(2021, 1, 1), dt.date(2029, 12, 31)),
    st.sampled_from([dt.date(2024, 2, 29), dt.date(2023, 2, 28), dt.date(2026, 1, 31)]),
)


@st.composite
def near_rows(draw: st.DrawFn) -> dict[str, object]:
    row = draw(profile_rows())
    for name in ("established", "certified"):
        row[name] = draw(NEAR_DATES) if draw(st.integers(0, 9)) else None
    return row


def vector_near_misses(
    policy: Policy, rows: list[dict[str, object]], as_of: dt.date, chunk: int = 1 << 17
) -> list[NearMiss | None]:
    for i, r in enumerate(rows):
        r.setdefault("id", f"E{i}")
    frame = make_frame(rows, SCHEMA)
    evaluator = BatchEvaluator([policy], as_of, chunk_size=chunk, near_miss=True)
    out: list[NearMiss | None] = []
    for result in evaluator.evaluate(frame, SCHEMA):
        out.extend(result.near_miss(0, policy, r) for r in range(result.stop - result.start))
    return out


@settings(max_examples=examples(250), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    criteria=criteria_yaml(NEAR_CONDITIONS),
    rows=st.lists(near_rows(), min_size=1, max_size=6),
    as_of=AS_OF,
    chunk=st.integers(1, 4),
)
def test_vectorised_near_miss_agrees_with_reference(
    criteria: str, rows: list[dict[str, object]], as_of: dt.date, chunk: int
) -> None:
    policy = make_policy(criteria=criteria, extra=NEAR_DEFINES, schemas=SCHEMAS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nearmiss, "HORIZON_DAYS", TEST_HORIZON)
        got = vector_near_misses(policy, rows, as_of, chunk)
        for row, vec in zip(rows, got, strict=True):
            ref = near_miss_scalar(policy, row, as_of)
            assert vec == ref, f"row {row}\nas of {as_of}\ncriteria:\n{criteria}"


@settings(max_examples=examples(250), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    cond=NEAR_CONDITIONS,
    rows=st.lists(near_rows(), min_size=1, max_size=4),
    as_of=AS_OF,
)
def test_one_date_criterion_agrees_with_reference(
    cond: str, rows: list[dict[str, object]], as_of: dt.date
) -> None:
    """One dated criterion beside a true one: most results are near misses with a date."""
    criteria = (
        f"  - id: d\n    label: d\n    when: '{cond}'\n  - {{id: t, label: t, when: 'true'}}\n"
    )
    policy = make_policy(criteria=criteria, extra=NEAR_DEFINES, schemas=SCHEMAS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nearmiss, "HORIZON_DAYS", TEST_HORIZON)
        got = vector_near_misses(policy, rows, as_of)
        for row, vec in zip(rows, got, strict=True):
            assert vec == near_miss_scalar(policy, row, as_of), f"row {row}\n{as_of} {cond}"


AGE = "  - {id: age, label: 成立满3年, when: 'years_since(established) >= 3'}\n"
REVENUE = "  - {id: revenue, label: 营收1亿, when: 'revenue >= 1亿'}\n"


def one(criteria: str, as_of: dt.date, extra: str = "", **row: object) -> NearMiss | None:
    policy = make_policy(criteria=criteria, extra=extra, schemas=SCHEMAS)
    (vec,) = vector_near_misses(policy, [dict(row)], as_of)
    assert vec == near_miss_scalar(policy, dict(row), as_of)
    return vec


def test_years_since_from_29_february() -> None:
    got = one(AGE + REVENUE, dt.date(2026, 4, 1), established=dt.date(2024, 2, 29), revenue=2e8)
    assert got == NearMiss("age", dt.date(2027, 2, 28))  # as relativedelta counts a year


def test_not_a_near_miss_with_two_false_or_one_unknown() -> None:
    as_of = dt.date(2026, 4, 1)
    assert one(AGE + REVENUE, as_of, established=dt.date(2025, 1, 1), revenue=1.0) is None
    assert one(AGE + REVENUE, as_of, established=dt.date(2025, 1, 1), revenue=None) is None
    assert one(AGE + REVENUE, as_of, established=dt.date(2020, 1, 1), revenue=2e8) is None


def test_a_gap_in_amount_has_no_date() -> None:
    got = one(AGE + REVENUE, dt.date(2026, 4, 1), established=dt.date(2020, 1, 1), revenue=1.0)
    assert got == NearMiss("revenue", None)


def test_through_define_and_between() -> None:
    crit = "  - {id: grad, label: 毕业5年内, when: 'yrs between 0 and 4'}\n" + REVENUE
    extra = "define: {yrs: 'years_since(established)'}\n"
    # two years before the date: years_since is -1 until a year (less a day) before it
    got = one(crit, dt.date(2026, 4, 1), extra, established=dt.date(2028, 4, 1), revenue=2e8)
    assert got == NearMiss("grad", dt.date(2027, 4, 2))
    past = one(crit, dt.date(2026, 4, 1), extra, established=dt.date(2010, 1, 1), revenue=2e8)
    assert past == NearMiss("grad", None)  # too long ago: time only makes it worse


def test_days_until_and_any() -> None:
    crit = (
        "  - id: window\n    label: 证书到期前30天内或已满两年\n    any:\n"
        "      - {id: soon, label: 30天内到期, when: 'days_until(certified) <= 30'}\n"
        "      - {id: old, label: 满两年, when: 'months_since(certified) >= 24'}\n" + REVENUE
    )
    got = one(crit, dt.date(2026, 4, 1), certified=dt.date(2026, 12, 31), revenue=2e8)
    assert got == NearMiss("window", dt.date(2026, 12, 1))


def test_not_over_a_date_test_is_not_analysed() -> None:
    crit = "  - {id: young, label: 成立不满3年, when: 'not (years_since(established) >= 3)'}\n"
    got = one(crit + REVENUE, dt.date(2026, 4, 1), established=dt.date(2020, 1, 1), revenue=2e8)
    assert got == NearMiss("young", None)


def test_beyond_the_horizon_has_no_date() -> None:
    crit = "  - {id: age, label: 成立满30年, when: 'years_since(established) >= 30'}\n"
    got = one(crit, dt.date(2026, 4, 1), established=dt.date(2020, 1, 1))
    assert got == NearMiss("age", None)


def test_without_near_miss_asked_the_chunk_has_none() -> None:
    policy = make_policy(criteria=AGE, schemas=SCHEMAS)
    frame = make_frame([{"id": "a", "established": dt.date(2025, 1, 1)}], SCHEMA)
    result = next(BatchEvaluator([policy], dt.date(2026, 4, 1)).evaluate(frame, SCHEMA))
    assert result.near_miss(0, policy, 0) is None
    assert not np.any(result.outcome)


def test_holds_from_tomorrow_and_equality_windows() -> None:
    as_of = dt.date(2026, 4, 1)
    got = one(AGE, as_of, established=dt.date(2023, 4, 2))
    assert got == NearMiss("age", dt.date(2026, 4, 2))
    crit = "  - {id: d, label: 第30天, when: 'days_since(certified) == 30'}\n"
    assert one(crit, as_of, certified=dt.date(2026, 3, 20)) == NearMiss("d", dt.date(2026, 4, 19))
    assert one(crit, as_of, certified=dt.date(2026, 1, 1)) == NearMiss("d", None)
