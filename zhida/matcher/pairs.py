"""The (profile, policy) results of one chunk that get a line, as flat pairs.

Of a 1M x 20 evaluation about 2% of the results are eligible or unknown, the lines
`zhida evaluate` prints (every result with --all). Takeup, scores and ranks are worked
out for these pairs only (`zhida.ranking.score`, `zhida.ranking.heuristic`), and the
lines built from them (`zhida.matcher.output`), instead of as (P, n) arrays over
every result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from zhida.matcher.batch import ChunkResult

IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Pairs:
    """Pairs grouped by policy (in the evaluator's order), rows ascending within one."""

    row: IntArray  # row within the chunk
    pol: IntArray  # position of the policy
    starts: IntArray  # policy j's pairs are [starts[j], starts[j + 1])
    outcome: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return len(self.row)

    def rows_of(self, j: int) -> IntArray:
        return self.row[self.starts[j] : self.starts[j + 1]]

    def segment(self, j: int) -> slice:
        return slice(int(self.starts[j]), int(self.starts[j + 1]))


def pairs_where(result: ChunkResult, keep: npt.NDArray[np.bool_]) -> Pairs:
    """The pairs where the (P, n) mask `keep` is set."""
    pol, row = np.nonzero(keep)  # row-major: by policy, then row
    pol, row = pol.astype(np.intp, copy=False), row.astype(np.intp, copy=False)
    starts = np.searchsorted(pol, np.arange(keep.shape[0] + 1)).astype(np.intp)
    return Pairs(row, pol, starts, result.outcome[pol, row])


def printed_pairs(result: ChunkResult, include_all: bool = False) -> Pairs:
    """The pairs `zhida evaluate` prints: eligible and unknown results, or all of them."""
    if not include_all:
        return pairs_where(result, result.outcome > 0)
    npol, n = result.outcome.shape
    starts = np.arange(0, npol * n + 1, max(n, 1), dtype=np.intp)[: npol + 1]
    return Pairs(
        np.tile(np.arange(n, dtype=np.intp), npol),
        np.repeat(np.arange(npol, dtype=np.intp), n),
        starts if n else np.zeros(npol + 1, dtype=np.intp),
        result.outcome.reshape(-1),
    )


def gathered(values: list[np.ndarray], pairs: Pairs) -> npt.NDArray[np.float64]:
    """Per-policy (n,) rows (or broadcast constants) at the pairs, one flat array."""
    if not len(pairs):
        return np.empty(0, dtype=np.float64)
    return np.concatenate(
        [np.take(values[j], pairs.rows_of(j)) for j in range(len(pairs.starts) - 1)]
    ).astype(np.float64, copy=False)
