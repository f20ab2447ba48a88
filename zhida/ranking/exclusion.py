"""Of two policies that exclude each other, the better one for the profile ranks first.

Two policies exclude each other when either lists the other under `excludes:`. Of two
such results both ranked (eligible or unknown), the better is the one of the larger
amount (none or unknown counts as 0), then the eligible one, then the higher score;
when the score ranked it below the other, the two swap ranks. Equal on all three:
the ranks stay as the score gave them.

Swaps repeat until no ranked pair is the wrong way round, so a policy in several
pairs (a excludes b, b excludes c) ends with every pair right: each swap of a pair
the wrong way round lowers the number of result pairs ordered against merit, so
this ends. Only ranks move; the other results keep theirs.

`zhida evaluate` (`ranking/evaluate.py`) and `/me` (`channels/portal.py`) both rank
through `rank_exclusions`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zhida.matcher.batch import ChunkResult
from zhida.matcher.pairs import Pairs
from zhida.ranking.heuristic import pair_ranks
from zhida.rules.policy import Policy

ELIGIBLE = 2


def exclusion_pairs(policies: Sequence[Policy]) -> list[tuple[int, int]]:
    """Positions (j, k), j < k, of the policies either of which excludes the other."""
    at = {p.id: j for j, p in enumerate(policies)}
    pairs = {
        (min(j, at[other]), max(j, at[other]))
        for j, policy in enumerate(policies)
        for other in policy.excludes
        if other in at and at[other] != j
    }
    return sorted(pairs)


def _better(
    a: int, b: int, outcome: np.ndarray, amount: dict[int, np.ndarray], score: np.ndarray
) -> np.ndarray:
    """(n,) whether result a is strictly better than result b, per profile."""
    ma, mb = amount[a], amount[b]
    ea, eb = outcome[a] == ELIGIBLE, outcome[b] == ELIGIBLE
    return (ma > mb) | ((ma == mb) & ((ea & ~eb) | ((ea == eb) & (score[a] > score[b]))))


def rank_exclusions(
    rank: np.ndarray,
    outcome: np.ndarray,
    benefit: Sequence[np.ndarray],
    score: np.ndarray,
    pairs: Sequence[tuple[int, int]],
) -> np.ndarray:
    """Swap, in place, the (P, n) ranks of excluding pairs the score had the wrong way
    round; `rank` (0: not ranked), as `ranking.heuristic.ranks` gives it. Inputs are
    policy-major as `ChunkResult`'s; `benefit` per policy, (n,) or broadcast, NaN unknown."""
    if not pairs:
        return rank
    n = rank.shape[1]
    amount = {
        j: np.nan_to_num(np.broadcast_to(benefit[j], (n,)), nan=0.0) for pair in pairs for j in pair
    }  # only the paired policies' amounts
    for _ in range(rank.shape[0] ** 2):  # a bound on the swaps one profile can need
        changed = False
        for j, k in pairs:
            ranked = (rank[j] > 0) & (rank[k] > 0)
            wrong = ranked & (
                (_better(k, j, outcome, amount, score) & (rank[k] > rank[j]))
                | (_better(j, k, outcome, amount, score) & (rank[j] > rank[k]))
            )
            if wrong.any():
                rank[j], rank[k] = (
                    np.where(wrong, rank[k], rank[j]),
                    np.where(wrong, rank[j], rank[k]),
                )
                changed = True
        if not changed:
            break
    return rank


def ranks_at(
    pairs: Pairs, score: np.ndarray, result: ChunkResult, excluding: Sequence[tuple[int, int]]
) -> np.ndarray:
    """The ranks of a chunk's results at `pairs` (flat, 0 for ineligible): by score
    (`heuristic.pair_ranks`), then the excluding pairs set right (`rank_exclusions`, over
    (P, n) arrays built only when some policy excludes another)."""
    rank = np.zeros(len(pairs), dtype=np.int32)
    ranked = np.flatnonzero(pairs.outcome > 0)
    row, pol = pairs.row[ranked], pairs.pol[ranked]
    rank[ranked] = pair_ranks(row, pol, score[ranked], result.n)
    if not excluding:
        return rank
    dense_rank = np.zeros(result.outcome.shape, dtype=np.int32)
    dense_score = np.zeros(result.outcome.shape, dtype=np.float64)
    dense_rank[pol, row] = rank[ranked]
    dense_score[pol, row] = score[ranked]
    rank_exclusions(dense_rank, result.outcome, result.benefit, dense_score, excluding)
    rank[ranked] = dense_rank[pol, row]
    return rank
