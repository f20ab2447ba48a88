"""The one "did you mean"."""

from __future__ import annotations

from zhida.suggest import closest, did_you_mean


def test_a_misspelling_gets_the_closest_name() -> None:
    assert closest("revnue", ["revenue", "rd_expense", "employees"]) == "revenue"
    assert did_you_mean("years_sinse", ["years_since", "months_since"]) == (
        "did you mean 'years_since'?"
    )


def test_case_is_ignored_and_the_choice_keeps_its_spelling() -> None:
    assert closest("ID", ["id", "kind"]) == "id"
    assert closest("Revenue", ["revenue"]) == "revenue"


def test_nothing_close_means_no_suggestion() -> None:
    assert closest("kind", ["id"]) is None  # short names are not "close" by accident
    assert closest("zzz", ["revenue"]) is None
    assert closest("x", []) is None
    assert did_you_mean("", ["a"]) is None
