"""Holdout membership is stable, keyed and at the configured share; the lift estimate's
interval covers the simulator's true effect of a notice."""

from __future__ import annotations

import math

import polars as pl

from tests.ranking.conftest import World
from zhida.ranking.holdout import Lift, held_out, lift, wilson

PAIRS = [(f"E{i:06d}", f"p{i % 7}") for i in range(20000)]


def test_membership_is_the_same_on_every_run_and_keyed() -> None:
    first = [held_out("k" * 32, a, b, 0.1) for a, b in PAIRS]
    again = [held_out("k" * 32, a, b, 0.1) for a, b in PAIRS]
    other = [held_out("j" * 32, a, b, 0.1) for a, b in PAIRS]
    assert first == again
    assert first != other  # another key, another draw


def test_membership_is_at_the_configured_share() -> None:
    n = len(PAIRS)
    for share in (0.05, 0.2, 0.5):
        k = sum(held_out("k" * 32, a, b, share) for a, b in PAIRS)
        sd = math.sqrt(n * share * (1 - share))
        assert abs(k - n * share) < 4 * sd, (share, k)
    assert not any(held_out("k" * 32, a, b, 0.0) for a, b in PAIRS[:1000])


def test_a_larger_share_holds_out_a_superset() -> None:
    small = {p for p in PAIRS if held_out("k" * 32, *p, 0.05)}
    large = {p for p in PAIRS if held_out("k" * 32, *p, 0.2)}
    assert small <= large


def test_wilson_interval() -> None:
    lo, hi = wilson(10, 100)
    assert math.isclose(lo, 0.0552, abs_tol=1e-4) and math.isclose(hi, 0.1744, abs_tol=1e-4)
    assert wilson(0, 50)[0] < 1e-12 and math.isclose(wilson(0, 50)[1], 0.0714, abs_tol=1e-4)


def test_lift_interval_covers_the_true_effect(world: World) -> None:
    truth = world.sim.truth
    for policy in truth.get_column("policy").value_counts().sort("count")[-3:]["policy"]:
        est = lift(world.notices, policy)
        pairs = truth.filter(pl.col("policy") == policy)
        true = float((pairs["p_notified"] - pairs["p_held"]).mean())  # type: ignore[operator]
        lo, hi = est.interval()
        assert est.held > 100 and est.notified > 400
        assert lo <= true <= hi, (policy, lo, true, hi)


def test_no_holdout_has_no_interval() -> None:
    d = Lift("p1", 10, 1, 0, 0).as_dict()
    assert d["low"] is None and d["rate_held_out"] is None


def test_uplift_model_finds_whom_an_sms_moves(world: World) -> None:
    """The simulator's SMS effect is larger for small firms; the two-model learner's
    ranking must beat random targeting on held-out, randomly assigned channels."""
    from tests.ranking.conftest import UNTIL
    from zhida.ranking.train import prepare
    from zhida.ranking.uplift import train_uplift

    prep = prepare(world.notices, world.pop, UNTIL)
    _, _, r = train_uplift(prep, UNTIL, world.sim.events.get_column("at").max())
    assert 0.4 < r["sms_share"] < 0.6
    assert r["uplift_model"]["qini"] > 2 * r["random"]["qini"]
    assert r["uplift_model"]["uplift_at"]["20%"] > r["observed_uplift"]
