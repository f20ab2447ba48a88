"""The scalar semantics: three-valued logic, units, calendar counting, functions."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.strategies import examples
from zhida.rules import semantics as s
from zhida.rules.functions import dates, text, values
from zhida.rules.parser import number_value, parse_expression
from zhida.rules.vectors import date_to_days

VALUES = [True, False, None]


@pytest.mark.parametrize(("a", "b"), list(itertools.product(VALUES, VALUES)))
def test_kleene_tables(a: bool | None, b: bool | None) -> None:
    def rank(v: bool | None) -> int:  # false < unknown < true
        return {False: 0, None: 1, True: 2}[v]

    back = {0: False, 1: None, 2: True}
    assert s.kleene_and(a, b) == back[min(rank(a), rank(b))]
    assert s.kleene_or(a, b) == back[max(rank(a), rank(b))]


def test_false_and_unknown_is_false_and_true_or_unknown_is_true() -> None:
    assert s.kleene_and(False, None) is False
    assert s.kleene_or(True, None) is True
    assert s.kleene_not(None) is None


def test_units_are_exact_decimal_scaling() -> None:
    assert number_value("15", "%") == 0.15
    assert number_value("15", "%") <= 15 / 100
    assert number_value("1.5", "亿") == 150_000_000
    assert number_value("50", "万") == 500_000
    assert number_value("0.1", "%") == 0.001


def test_division_by_zero_and_missing_are_unknown() -> None:
    assert s.arith("/", 1.0, 0.0) is None
    assert s.arith("+", None, 1.0) is None
    assert s.compare(">=", None, 1.0) is None


def test_between_is_inclusive() -> None:
    assert s.between(5.0, 5.0, 10.0) is True
    assert s.between(10.0, 5.0, 10.0) is True
    assert s.between(10.5, 5.0, 10.0) is False
    assert s.between(None, 5.0, 10.0) is None
    assert s.between(11.0, None, 10.0) is False  # false and unknown


def test_membership() -> None:
    assert s.member("C39", ["C39", "C38"]) is True
    assert s.member("C40", ["C39", None]) is None
    assert s.member(None, []) is False
    assert s.member("x", None) is None


@pytest.mark.parametrize(
    ("born", "as_of", "years", "months"),
    [
        (dt.date(2019, 5, 1), dt.date(2022, 4, 30), 2, 35),
        (dt.date(2019, 5, 1), dt.date(2022, 5, 1), 3, 36),
        (dt.date(2024, 2, 29), dt.date(2025, 2, 28), 1, 12),
        (dt.date(2023, 1, 31), dt.date(2023, 2, 28), 0, 1),
        (dt.date(2026, 5, 1), dt.date(2026, 4, 1), 0, -1),
    ],
)
def test_calendar_counting_follows_relativedelta(
    born: dt.date, as_of: dt.date, years: int, months: int
) -> None:
    assert dates.years_since(born, as_of) == years
    assert dates.months_since(born, as_of) == months


def test_days() -> None:
    assert dates.days_since(dt.date(2025, 4, 1), dt.date(2026, 4, 1)) == 365
    assert dates.days_until(dt.date(2026, 6, 30), dt.date(2026, 6, 1)) == 29


def test_string_functions() -> None:
    assert text.in_region("330782", ["3307"]) is True
    assert text.in_region("330106", ["3307", "330782"]) is False
    assert text.starts_with("C39", "C") is True
    assert text.contains_any("软件开发；集成电路设计", ["芯片", "集成电路"]) is True
    assert text.fuzzy("集成电路设计、制造", "集成电路") == 100
    assert text.fuzzy("ＡＢＣ 公司", "abc") == 100  # full-width and case normalised
    assert text.fuzzy(None, "x") is None


def test_band_picks_the_first_reached_threshold() -> None:
    pairs = [[1e8, 30.0], [5e7, 20.0], [0.0, 5.0]]
    assert values.band(2e8, pairs, 0.0) == 30.0
    assert values.band(5e7, pairs, 0.0) == 20.0
    assert values.band(-1.0, pairs, 0.0) == 0.0
    assert values.band(None, pairs, 0.0) is None


def test_is_known_coalesce_min_max() -> None:
    assert values.is_known(None) is False and values.is_known(0.0) is True
    assert values.coalesce(None, 3.0) == 3.0
    assert values.min_(1.0, None) is None and values.max_(1.0, 2.0) == 2.0
    assert values.if_(None, 1.0, 2.0) is None


def test_parser_keeps_positions() -> None:
    node = parse_expression("revenue >= 1亿 and employees > 3")
    assert (node.loc.line, node.loc.col) == (1, 1)
    right = node.args[1]  # type: ignore[attr-defined]
    assert right.loc.col == 29  # the '>' of the second comparison


@settings(max_examples=examples(100), deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.dates(dt.date(2024, 1, 25), dt.date(2024, 3, 5))), max_size=300
    ),
    st.sampled_from([dt.date(2024, 2, 29), dt.date(2024, 3, 31), dt.date(2024, 1, 31)]),
    st.integers(0, 3),
)
def test_months_since_vector_agrees_with_the_scalar(
    born: list[dt.date | None], as_of: dt.date, spread: int
) -> None:
    """Narrow spans take the per-day table, wide ones the per-row arithmetic."""
    if spread and born:
        born = [*born, dt.date(1900 + spread, 1, 1)]  # a span wider than the rows
    days = np.array([np.nan if d is None else date_to_days(d) for d in born], dtype=np.float64)
    got = dates.months_since_days(days, as_of)
    want = [np.nan if d is None else float(dates.months_between(as_of, d)) for d in born]
    np.testing.assert_array_equal(got, np.array(want, dtype=np.float64))
