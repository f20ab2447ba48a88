"""The heuristic ranking score, used until feedback data trains a model.

score = outcome factor x (0.5 + 0.3 x benefit weight + 0.2 x urgency), in [0, 1]

- outcome factor: eligible 1.0; unknown 0.25 + 0.25 x (share of top-level
  criteria known to hold), so an unknown result ranks below a comparable
  eligible one (at most 0.5 of it); ineligible 0.
- benefit weight: log10(1 + amount / 1000) / 4, clipped to [0, 1]:
  1千元 ~0.08, 1万元 ~0.26, 10万元 ~0.5, 100万元 ~0.75, 1000万元 and more 1.
  Unknown or no amount: 0.3.
- urgency (from the application window, as of the evaluation date): no window
  0.5; not yet open 0.3; open and closing within 30 days 1.0, within 90 days
  0.7, later 0.5; closed 0.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from zhida.matcher.batch import ChunkResult
from zhida.matcher.pairs import Pairs
from zhida.rules.policy import Policy, Window


def urgency(window: Window, as_of: dt.date) -> float:
    if window.opens is None and window.closes is None:
        return 0.5
    if window.opens is not None and as_of < window.opens:
        return 0.3
    if window.closes is None:
        return 0.5
    left = (window.closes - as_of).days
    if left < 0:
        return 0.0
    return 1.0 if left <= 30 else 0.7 if left <= 90 else 0.5


def benefit_weight(benefit: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        w = np.log10(1.0 + np.maximum(benefit, 0.0) / 1000.0) / 4.0
    return np.where(np.isnan(w), 0.3, np.clip(w, 0.0, 1.0))


def _value(policy: Policy, amount: np.ndarray, as_of: dt.date) -> np.ndarray:
    """0.5 + 0.3 x benefit weight + 0.2 x urgency, for amounts of one policy."""
    return 0.5 + 0.3 * benefit_weight(amount) + 0.2 * urgency(policy.window, as_of)


def _constant(amount: np.ndarray) -> bool:
    return amount.ndim == 0 or amount.strides[0] == 0


def value_weight(policies: list[Policy], benefit: list[np.ndarray], as_of: dt.date) -> np.ndarray:
    """(P, n) 0.5 + 0.3 x benefit weight + 0.2 x urgency: the heuristic's `takeup`."""
    n = len(benefit[0]) if benefit else 0
    out = np.empty((len(policies), n), dtype=np.float64)
    for j, policy in enumerate(policies):
        amount = benefit[j]
        if _constant(amount):  # one amount for all: weighed once
            amount = amount.reshape(-1)[:1]
        out[j] = _value(policy, amount, as_of)
    return out


def value_weight_at(
    policies: list[Policy], benefit: list[np.ndarray], pairs: Pairs, as_of: dt.date
) -> np.ndarray:
    """`value_weight` at the pairs only: one flat array."""
    out = np.empty(len(pairs), dtype=np.float64)
    for j, policy in enumerate(policies):
        at = pairs.segment(j)
        if at.start == at.stop:
            continue
        amount = benefit[j]
        amount = amount.reshape(-1)[:1] if _constant(amount) else np.take(amount, pairs.rows_of(j))
        out[at] = _value(policy, amount, as_of)
    return out


def _factor(outcome: np.ndarray, known_true: np.ndarray | float) -> np.ndarray:
    return np.where(outcome == 2, 1.0, np.where(outcome == 1, 0.25 + 0.25 * known_true, 0.0))


def _known_true(codes: np.ndarray | list[np.ndarray]) -> np.ndarray | float:
    """The share of criteria known to hold (codes 2), per result, from (C, m) codes or C
    rows of m; 1.0 without criteria. As `(codes == 2).mean(axis=0)`, to the bit."""
    if not len(codes):
        return 1.0
    stacked = codes if isinstance(codes, np.ndarray) else np.stack(codes)
    held = np.add.reduce(stacked == 2, axis=0, dtype=np.float64)
    return np.true_divide(held, len(codes))


def outcome_factor(outcome: np.ndarray, criteria: list[np.ndarray]) -> np.ndarray:
    """(P, n) eligible 1, unknown 0.25 + 0.25 x share of criteria known to hold, else 0."""
    out = np.zeros(outcome.shape, dtype=np.float64)
    for j, codes in enumerate(criteria):
        out[j] = _factor(outcome[j], _known_true(codes))
    return out


def outcome_factor_at(result: ChunkResult, pairs: Pairs) -> np.ndarray:
    """`outcome_factor` at the pairs only: one flat array."""
    out = np.empty(len(pairs), dtype=np.float64)
    for j in range(len(result.index)):
        at = pairs.segment(j)
        if at.start == at.stop:
            continue
        out[at] = _factor(pairs.outcome[at], _known_true(result.codes(j, pairs.rows_of(j))))
    return out


def heuristic_scores(
    policies: list[Policy],
    outcome: np.ndarray,
    criteria: list[np.ndarray],
    benefit: list[np.ndarray],
    as_of: dt.date,
) -> np.ndarray:
    """(P, n) scores in [0, 1]; 0 for ineligible. Inputs policy-major as ChunkResult's."""
    return outcome_factor(outcome, criteria) * value_weight(policies, benefit, as_of)


def heuristic_takeup(
    policies: list[Policy], pol: np.ndarray, benefit: np.ndarray, days: np.ndarray
) -> np.ndarray:
    """The heuristic's takeup for feedback rows: policy positions, benefits and dates
    (days since 1970-01-01), as `value_weight` gives it on those dates."""
    out = 0.5 + 0.3 * benefit_weight(np.asarray(benefit, dtype=np.float64))
    pairs = np.stack([pol.astype(np.int64), np.asarray(days, dtype=np.int64)])
    uniq, inverse = np.unique(pairs, axis=1, return_inverse=True)
    epoch = dt.date(1970, 1, 1)
    urg = np.array(
        [urgency(policies[int(j)].window, epoch + dt.timedelta(days=int(d))) for j, d in uniq.T]
    )
    return out + 0.2 * urg[inverse.ravel()]


def ranks(scores: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """(P, n) 1-based rank of each result within its profile, over eligible and unknown
    results by descending score (ties: policy order); 0 for ineligible (`pair_ranks`)."""
    pol, row = np.nonzero(outcome > 0)
    rank = np.zeros(outcome.shape, dtype=np.int32)
    rank[pol, row] = pair_ranks(row, pol, scores[pol, row], outcome.shape[1])
    return rank


def pair_ranks(row: np.ndarray, pol: np.ndarray, score: np.ndarray, n: int) -> np.ndarray:
    """The 1-based rank of each ranked result (eligible or unknown; pairs of row and policy
    position, any order) within its row of n, by descending score, ties by policy order.

    Only rows with two or more results are sorted; a single result ranks 1."""
    rank = np.ones(len(row), dtype=np.int32)
    many = np.flatnonzero(np.bincount(row, minlength=n)[row] >= 2)
    if not len(many):
        return rank
    r = row[many]
    order = np.lexsort((pol[many], -score[many], r))
    r = r[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = r[1:] != r[:-1]
    at = np.arange(len(r))
    start = np.maximum.accumulate(np.where(first, at, 0))
    rank[many[order]] = (at - start + 1).astype(np.int32)
    return rank
