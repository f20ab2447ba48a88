"""Which criteria of each result have a given code, as a few distinct groups.

A policy has a handful of top-level criteria, so among a million results there
are only a few distinct sets of failed (or unknown) criteria. `code_groups`
gives each result the number of its set in a small table: the failed/unknown
lists of `zhida evaluate` and of stored decisions are built once per distinct
set and gathered by that number, instead of once per result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

DIRECT_BITS = 16  # up to this many criteria, a bit mask indexes a table directly


def code_groups(
    codes: np.ndarray | Sequence[np.ndarray], want: int, m: int = 0
) -> tuple[npt.NDArray[np.intp], list[list[int]]]:
    """codes: (C, m) int8 criterion codes of m results, or C rows of m codes each (m
    given when there are no rows).

    Returns (group of each result, groups) where groups[g] lists, in criterion
    order, the criteria i with codes[i, r] == want for every result r of group g.
    """
    if isinstance(codes, np.ndarray):
        c, m = codes.shape
    else:
        c = len(codes)
        m = len(codes[0]) if c else m
    if c == 0 or m == 0:
        return np.zeros(m, dtype=np.intp), [[]]
    hit = [np.equal(row, want) for row in codes]
    if c > 62:  # no bit mask: distinct rows of the (m, C) matrix
        uniq, inverse = np.unique(np.stack(hit, axis=1), axis=0, return_inverse=True)
        return inverse.reshape(-1).astype(np.intp), [np.flatnonzero(u).tolist() for u in uniq]
    mask = hit[0].astype(np.int64)
    for i in range(1, c):
        mask |= hit[i].astype(np.int64) << i
    if c <= DIRECT_BITS:
        present = np.flatnonzero(np.bincount(mask, minlength=1 << c))
        remap = np.zeros(1 << c, dtype=np.intp)
        remap[present] = np.arange(len(present), dtype=np.intp)
        inverse = remap[mask]
        values = present.tolist()
    else:
        uniq, inverse = np.unique(mask, return_inverse=True)
        values = uniq.tolist()
    return inverse, [[i for i in range(c) if (u >> i) & 1] for u in values]
