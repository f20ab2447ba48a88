"""The one seam between evaluation and ranking: a chunk's results -> takeup and score.

Without a model, `takeup` is the heuristic's value weight (0.5 + 0.3 x benefit weight
+ 0.2 x urgency, see `heuristic`) and `score` = outcome factor x takeup, as before.
With a take-up model, `takeup` is the model's calibrated chance for the in-app notice
(the message every eligible profile gets; past engagement counts as none) and `score`
= outcome factor x takeup x value weight, so benefit and urgency still weigh.

The model scores only the (profile, policy) pairs in `keep` (the lines to be printed:
eligible and unknown, or all with --all); the rest get takeup 0.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from zhida.matcher.batch import ChunkResult
from zhida.matcher.columns import Columns
from zhida.ranking.features import Batch, matrix
from zhida.ranking.heuristic import outcome_factor, value_weight
from zhida.ranking.model import TakeupModel
from zhida.rules.policy import Policy
from zhida.rules.vectors import date_to_days

#: the channel a printed takeup is predicted for
SCORED_CHANNEL = "inapp"


def takeup_and_score(
    policies: list[Policy],
    result: ChunkResult,
    as_of: dt.date,
    columns: Columns | None,
    model: TakeupModel | None = None,
    keep: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(P, n) takeup and score for the chunk's rows, policy-major as ChunkResult's."""
    factor = outcome_factor(result.outcome, result.criteria)
    value = value_weight(policies, result.benefit, as_of)
    if model is None or columns is None:
        return value, factor * value
    keep = result.outcome > 0 if keep is None else keep
    rows = [np.flatnonzero(k) for k in keep]  # per policy, contiguous: no (P, n) temporaries
    counts = np.array([len(r) for r in rows])
    local = np.concatenate(rows) if rows else np.empty(0, dtype=np.intp)
    batch = Batch(
        columns=columns,
        rows=local + result.start,
        policies=policies,
        pol=np.repeat(np.arange(len(policies)), counts),
        benefit=np.concatenate([b[r] for b, r in zip(result.benefit, rows, strict=True)])
        if rows
        else np.empty(0),
        as_of=date_to_days(as_of),
        channel=SCORED_CHANNEL,
    )
    p = model.predict(matrix(batch, model.vocab))
    takeup = np.zeros(result.outcome.shape, dtype=np.float64)
    ends = np.cumsum(counts)
    for j, r in enumerate(rows):
        takeup[j, r] = p[ends[j] - counts[j] : ends[j]]
    value *= factor
    value *= takeup
    return takeup, value
