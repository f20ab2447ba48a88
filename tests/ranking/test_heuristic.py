"""The heuristic ranking: score order, no rank for the ineligible, urgency."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.factories import make_policy
from tests.support.strategies import examples
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


@settings(max_examples=examples(200), deadline=None)
@given(st.integers(1, 6), st.integers(1, 9), st.data())
def test_ranks_agree_with_the_whole_matrix_sort(npol: int, n: int, data: st.DataObject) -> None:
    """`ranks` (pair_ranks scattered) equals the sort of every profile's column of the
    older code, ties by policy order included (scores drawn from a few values)."""
    from tests.ranking.old_evaluate import ranks as old_ranks

    def matrix(values: st.SearchStrategy[float]) -> list[list[float]]:
        row = st.lists(values, min_size=n, max_size=n)
        return data.draw(st.lists(row, min_size=npol, max_size=npol))

    outcome = np.array(matrix(st.sampled_from([0, 1, 2])), dtype=np.int8)
    scores = np.array(matrix(st.sampled_from([0.1, 0.25, 0.5, 1.0])))
    assert ranks(scores, outcome).tolist() == old_ranks(scores, outcome).tolist()
