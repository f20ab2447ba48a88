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
from zhida.matcher.pairs import Pairs, gathered, pairs_where
from zhida.ranking.features import Batch, matrix
from zhida.ranking.heuristic import (
    outcome_factor,
    outcome_factor_at,
    value_weight,
    value_weight_at,
)
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
    if model is None or columns is None:
        value = value_weight(policies, result.benefit, as_of)
        return value, outcome_factor(result.outcome, result.criteria) * value
    pairs = pairs_where(result, result.outcome > 0 if keep is None else keep)
    flat_takeup, flat_score = takeup_and_score_at(policies, result, pairs, as_of, columns, model)
    takeup = np.zeros(result.outcome.shape, dtype=np.float64)
    score = np.zeros(result.outcome.shape, dtype=np.float64)
    takeup[pairs.pol, pairs.row] = flat_takeup
    score[pairs.pol, pairs.row] = flat_score
    return takeup, score


def takeup_and_score_at(
    policies: list[Policy],
    result: ChunkResult,
    pairs: Pairs,
    as_of: dt.date,
    columns: Columns | None,
    model: TakeupModel | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Takeup and score of the chunk's results at `pairs` only, flat arrays."""
    value = value_weight_at(policies, result.benefit, pairs, as_of)
    factor = outcome_factor_at(result, pairs)
    if model is None or columns is None:
        return value, factor * value
    batch = Batch(
        columns=columns,
        rows=pairs.row + result.start,
        policies=policies,
        pol=pairs.pol,
        benefit=gathered(result.benefit, pairs),
        as_of=date_to_days(as_of),
        channel=SCORED_CHANNEL,
    )
    takeup = np.asarray(model.predict(matrix(batch, model.vocab)), dtype=np.float64)
    value *= factor
    value *= takeup
    return takeup, value
