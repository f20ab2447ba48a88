"""The held-out figures: DeLong's bound against a paired bootstrap, precision at the SMS
cap, the Qini coefficient."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from zhida.ranking.metrics import auc_gain_low, precision_at_cap
from zhida.ranking.uplift import qini, uplift_at


def test_delong_bound_agrees_with_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.random(n) < 0.1
    a = rng.random(n) + y * 0.2
    b = a + rng.normal(size=n) * 0.3

    def auc(yy: np.ndarray, s: np.ndarray) -> float:  # Mann-Whitney, as roc_auc_score
        r = rankdata(s)
        m = int(yy.sum())
        return (r[yy].sum() - m * (m + 1) / 2) / (m * (len(yy) - m))

    assert abs(auc(y, a) - roc_auc_score(y, a)) < 1e-12
    gains = []
    for _ in range(1000):
        i = rng.integers(0, n, n)
        gains.append(auc(y[i], a[i]) - auc(y[i], b[i]))
    assert abs(auc_gain_low(y, a, b) - np.quantile(gains, 0.025)) < 0.004
    assert auc_gain_low(y, b, a) < 0  # the worse one never surely wins


def test_precision_at_cap_counts_capped_profiles_only() -> None:
    profiles = np.array(["a", "a", "a", "b", "c", "c", "c"])
    score = np.array([0.1, 0.9, 0.5, 0.3, 0.2, 0.8, 0.7])
    y = np.array([1, 0, 0, 1, 1, 1, 0])
    assert precision_at_cap(profiles, score, y) == 0.25  # a: 0.9, 0.5; c: 0.8, 0.7
    assert precision_at_cap(profiles[3:4], score[3:4], y[3:4]) is None


def test_qini_and_uplift_at_k() -> None:
    rng = np.random.default_rng(1)
    n = 20000
    treated = rng.random(n) < 0.5
    moved = rng.random(n) < 0.3  # an SMS moves these from 2% to 30%
    y = rng.random(n) < np.where(treated & moved, 0.3, 0.02)
    knows = moved + rng.random(n) * 0.1
    blind = rng.random(n)
    assert qini(y, treated, knows) > 10 * abs(qini(y, treated, blind))
    at = uplift_at(y, treated, knows, 0.3)
    assert at is not None and abs(at - 0.28) < 0.03
