"""Policies evaluated together share their criteria's rows; they must give what each policy
evaluated alone gives (itself checked against the reference in test_differential and
test_nearmiss), near misses included; and the near-miss building blocks agree with
their plain definitions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.matcher.test_differential import AS_OF
from tests.matcher.test_nearmiss import near_rows
from tests.support.factories import enterprise, make_frame, make_policy, schemas_for_tests
from tests.support.strategies import NEAR_CONDITIONS, NEAR_DEFINES, examples
from zhida.matcher import nearmiss
from zhida.matcher.batch import BatchEvaluator, ChunkResult
from zhida.matcher.reference import evaluate_policy
from zhida.rules.policy import Policy
from zhida.rules.vectors import date_to_days

SCHEMAS = schemas_for_tests()
SCHEMA = SCHEMAS["enterprise"]
NAMES = ["ineligible", "unknown", "eligible"]


def _when(indent: str, cid: str, expr: str) -> list[str]:
    quoted = expr.replace("'", "''")
    return [f"{indent}- id: {cid}", f"{indent}  label: 条件{cid}", f"{indent}  when: '{quoted}'"]


def _policy(pid: str, conditions: list[str], group: list[str], extra: str = NEAR_DEFINES) -> Policy:
    lines = [line for k, c in enumerate(conditions) for line in _when("  ", f"c{k}", c)]
    if group:
        lines += ["  - id: g", "    label: 组合", "    any:"]
        lines += [line for k, c in enumerate(group) for line in _when("      ", f"g{k}", c)]
    return make_policy(criteria="\n".join(lines) + "\n", pid=pid, extra=extra, schemas=SCHEMAS)


@st.composite
def policy_sets(draw: st.DrawFn) -> list[Policy]:
    """2-4 policies whose criteria come from one small pool, so that they share some."""
    pool = draw(st.lists(NEAR_CONDITIONS, min_size=1, max_size=5))
    out = []
    for j in range(draw(st.integers(2, 4))):
        picks = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4))
        group = draw(st.lists(st.sampled_from(pool), min_size=0, max_size=2))
        out.append(_policy(f"p{j}", picks, group))
    return out


def _results(
    policies: list[Policy], frame: object, as_of: dt.date, chunk: int
) -> list[ChunkResult]:
    evaluator = BatchEvaluator(policies, as_of, chunk_size=chunk, near_miss=True)
    return list(evaluator.evaluate(frame, SCHEMA))  # type: ignore[arg-type]


@settings(max_examples=examples(150), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    policies=policy_sets(),
    rows=st.lists(near_rows(), min_size=1, max_size=8),
    as_of=AS_OF,
    chunk=st.integers(1, 4),
)
def test_policies_together_give_what_each_gives_alone(
    policies: list[Policy], rows: list[dict[str, object]], as_of: dt.date, chunk: int
) -> None:
    for i, r in enumerate(rows):
        r["id"] = f"E{i}"
    frame = make_frame(rows, SCHEMA)
    together = _results(policies, frame, as_of, chunk)
    for j, policy in enumerate(policies):
        alone = _results([policy], frame, as_of, chunk)
        for a, b in zip(together, alone, strict=True):
            assert np.array_equal(a.outcome[j], b.outcome[0])
            assert np.array_equal(a.criteria[j], b.criteria[0])
            assert np.array_equal(np.stack(a.codes(j)).reshape(a.criteria[j].shape), b.criteria[0])
            for got, want in zip(a.near_criterion[j], b.near_criterion[0], strict=True):
                assert got == want
            assert np.array_equal(a.near_holds[j], b.near_holds[0], equal_nan=True)
            for row in range(a.n):
                assert a.near_miss(j, policy, row) == b.near_miss(0, policy, row)
                ref = evaluate_policy(policy, rows[a.start + row], as_of)
                assert NAMES[a.outcome[j, row]] == ref.outcome


def test_a_criterion_shared_by_policies_is_one_row_and_the_same_text_under_another_define_is_not() -> (
    None
):
    shared = "revenue >= 1亿"
    a = _policy("a", [shared, "age >= 3"], [])
    b = _policy("b", [shared, "employees >= 10"], [])
    other = _policy("c", [shared, "age >= 3"], [], "define: {age: 'months_since(established)'}\n")
    frame = make_frame([enterprise(id="E1"), enterprise(id="E2", revenue=1e6)], SCHEMA)
    (result,) = _results([a, b, other], frame, dt.date(2026, 4, 1), 8)
    assert result.index[0][0] == result.index[1][0] == result.index[2][0]
    assert result.index[0][1] != result.index[2][1]  # `age` means other things in a and c
    assert len(result.rows) == 4
    assert result.codes(0)[0] is result.codes(1)[0]
    before = result.codes(1)[0].tolist()
    copy = result.criteria[0]
    copy[...] = 1  # a copy: the shared rows are untouched
    assert result.codes(1)[0].tolist() == before == [2, 0]


@settings(max_examples=examples(200), deadline=None)
@given(
    codes=st.integers(0, 70).flatmap(
        lambda c: st.lists(
            st.lists(st.integers(0, 2), min_size=c, max_size=c), min_size=1, max_size=20
        )
    )
)
def test_near_miss_mask_is_one_false_none_unknown(codes: list[list[int]]) -> None:
    rows = np.array(codes, dtype=np.int8).reshape(len(codes), -1).T  # (C, n)
    c, n = rows.shape
    outcome = rows.min(axis=0) if c else np.full(n, 2, dtype=np.int8)
    total = np.asarray(rows.sum(axis=0), dtype=np.int8 if c < 64 else np.int16)
    got = nearmiss.near_miss_mask(c, total, outcome, np.empty(n, dtype=bool))
    want = [sum(v != 2 for v in col) == 1 and 0 in col for col in (rows.T.tolist())]
    assert got.tolist() == want


DATES = st.one_of(
    st.dates(dt.date(1850, 1, 1), dt.date(2150, 12, 31)),
    st.sampled_from([dt.date(2024, 2, 29), dt.date(2000, 2, 29), dt.date(2023, 1, 31)]),
)


@settings(max_examples=examples(200), deadline=None)
@given(
    unit=st.sampled_from(["months", "years"]),
    k=st.integers(-40, 60),
    dates=st.lists(DATES, min_size=1, max_size=30),
)
def test_first_days_from_the_table_equal_those_computed(
    unit: str, k: int, dates: list[dt.date]
) -> None:
    days = np.array([date_to_days(d) for d in dates], dtype=np.int64)
    many = np.resize(days, max(nearmiss.TABLE_FROM, len(days)))  # long enough for the table
    got = nearmiss._first_day(unit, many, k, nearmiss.BEFORE)
    want = nearmiss._first_month_day(unit, many, k)
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("unit", ["months", "years"])
def test_the_table_is_used_for_many_rows(unit: str, monkeypatch: pytest.MonkeyPatch) -> None:
    days = np.arange(19000, 19000 + nearmiss.TABLE_FROM, dtype=np.int64)
    nearmiss._first_day(unit, days, 3, nearmiss.BEFORE)
    monkeypatch.setattr(nearmiss, "_first_month_day", None)  # would fail if called
    assert len(nearmiss._first_day(unit, days, 3, nearmiss.BEFORE)) == len(days)


def test_near_misses_with_the_table_equal_those_without(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    start = date_to_days(dt.date(2015, 1, 1))
    rows = [
        enterprise(
            id=f"E{i}",
            established=dt.date(1970, 1, 1) + dt.timedelta(days=int(start + d)),
            certified=dt.date(1970, 1, 1) + dt.timedelta(days=int(start + c)),
        )
        for i, (d, c) in enumerate(rng.integers(0, 6000, size=(3000, 2)))
    ]
    frame = make_frame(rows, SCHEMA)
    policy = _policy(
        "t",
        ["years_since(established) >= 3", "revenue >= 1亿"],
        ["months_since(certified) between 13 and 40", "age >= 9"],
    )
    as_of = dt.date(2024, 2, 29)

    def near() -> list[tuple[np.ndarray, np.ndarray]]:
        return [r.near[0].dense(r.n) for r in _results([policy], frame, as_of, 1 << 17)]

    with_table = near()
    monkeypatch.setattr(nearmiss, "TABLE_FROM", 10**9)
    without = near()
    assert sum(int(np.count_nonzero(~np.isnan(h))) for _, h in with_table) > 100
    for (c1, h1), (c2, h2) in zip(with_table, without, strict=True):
        assert np.array_equal(c1, c2) and np.array_equal(h1, h2, equal_nan=True)
