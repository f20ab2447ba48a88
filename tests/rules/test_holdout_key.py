"""The `holdout:` key: a share in [0, 1), parsed as a percentage or a fraction."""

from __future__ import annotations

import pytest

from tests.rules.test_policy_errors import HEAD, one_error
from zhida.profiles.schema import SchemaSet
from zhida.rules.loader import load_policy_text

CRITERIA = "criteria:\n  - {id: a, label: a, when: true}\n"


@pytest.mark.parametrize(
    ("value", "share"), [("5%", 0.05), ("0.05", 0.05), ("12.5 %", 0.125), ("0", 0.0), (".2", 0.2)]
)
def test_holdout_share_parsed(value: str, share: float) -> None:
    policy = load_policy_text(
        HEAD + f"holdout: {value}\n" + CRITERIA, "p.yaml", SchemaSet.builtin()
    )
    assert policy.holdout == pytest.approx(share)


def test_no_holdout_is_zero() -> None:
    assert load_policy_text(HEAD + CRITERIA, "p.yaml", SchemaSet.builtin()).holdout == 0.0


@pytest.mark.parametrize("value", ["100%", "1", "1.5", "-5%", "five", "[5]"])
def test_bad_holdout_is_a_located_error(value: str) -> None:
    err = one_error(HEAD + f"holdout: {value}\n" + CRITERIA)
    assert err.startswith("p.yaml:4:10: error: holdout must be a "), err
