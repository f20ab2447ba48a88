"""Ids seen in earlier batches of a streamed file, for the duplicate-id check.

A file read batch by batch must still find an id repeated from any earlier line
(and say which line had it first), without keeping every id string. Each id is
kept as a 64-bit and a 32-bit hash and its first line, in sorted runs merged like
a log-structured tree (a run is merged into the one before it when that one is at
most twice its size), so a batch is looked up in O(log N) runs and the work over
the whole file is O(N log N). Memory is 16 bytes per distinct id (20 past 2^31
lines), twice that for a moment while the largest runs merge.

Two different ids are taken for the same only when all 96 bits agree (for 10^7
ids, about 1 in 10^15 that any two ever do; for 10^8, 1 in 10^13).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

SEEDS = (0x5EED_0001, 0x5EED_0002)

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Arr = npt.NDArray[np.generic]


def id_hashes(ids: pl.Series) -> tuple[U64, npt.NDArray[np.uint32]]:
    """Two independent hashes of each (non-null) id: 64 and 32 bits."""
    return (
        ids.hash(seed=SEEDS[0]).to_numpy().astype(np.uint64, copy=False),
        ids.hash(seed=SEEDS[1]).to_numpy().astype(np.uint32),
    )


def _merge(a: Arr, b: Arr, at_b: npt.NDArray[np.intp]) -> Arr:
    """Two arrays interleaved: b's items at positions `at_b`, a's in the others, in order."""
    out = np.empty(len(a) + len(b), dtype=np.result_type(a, b))
    from_a = np.ones(len(out), dtype=bool)
    from_a[at_b] = False
    out[at_b] = b
    out[from_a] = a
    return out


class SeenIds:
    """The first line of every id added so far.

    A file in id order (as exports and `zhida synth` write them) needs no look-up: while
    every batch's ids are strictly increasing and above the batches' before it
    (`in_order`), none repeats an earlier one, and their hashes are only kept
    (`add_in_order`), to be sorted into a run if a later batch is out of order."""

    def __init__(self) -> None:
        self._runs: list[tuple[U64, Arr, Arr]] = []  # (h1 sorted, h2, line)
        self._in_order: list[tuple[U64, Arr, Arr]] = []  # batches in id order, unsorted
        self._last: pl.Series | None = None  # their greatest id
        self._ordered = True  # every batch so far was in order

    def __len__(self) -> int:
        return sum(len(r[0]) for r in self._runs) + sum(len(r[0]) for r in self._in_order)

    def in_order(self, ids: pl.Series) -> bool:
        """Whether this batch's ids (none missing) are strictly increasing and above every
        id of the batches before it, all of which were so: then no id of it is a
        duplicate. An empty batch, or one out of order, ends this for the file."""
        n = len(ids)
        if self._ordered and n and not ids.null_count():
            above = self._last is None or bool((ids.head(1) > self._last).all())
            if above and (n == 1 or bool((ids.slice(1) > ids.slice(0, n - 1)).all())):
                self._last = ids.tail(1)
                return True
        self._ordered = False
        return False

    def add_in_order(self, h1: U64, h2: Arr, lines: I64) -> None:
        """Add the ids of a batch `in_order` said was."""
        small = len(lines) == 0 or int(lines.max()) < 2**31
        self._in_order.append((h1, h2, lines.astype(np.int32 if small else np.int64)))

    def _sort_in_order(self) -> None:
        if self._in_order:
            kept, self._in_order = self._in_order, []
            self.add(*(np.concatenate([k[i] for k in kept]) for i in range(3)))

    def first_lines(self, h1: U64, h2: Arr) -> I64:
        """The first line of each id if it was added before, else -1."""
        self._ordered = False  # a look-up: the ids from here on may be in any order
        self._sort_in_order()
        if not self._runs:
            return np.full(len(h1), -1, dtype=np.int64)
        order = np.argsort(h1)  # sorted needles: searchsorted walks each run in order
        found = self._sorted_first_lines(h1[order], h2[order])
        out = np.empty_like(found)
        out[order] = found
        return out

    def _sorted_first_lines(self, h1: U64, h2: Arr) -> I64:
        out = np.full(len(h1), -1, dtype=np.int64)
        for k1, k2, lines in self._runs:
            pos = np.searchsorted(k1, h1)
            inside = pos < len(k1)
            at = np.where(inside, pos, 0)
            same1 = inside & (k1[at] == h1)
            if not same1.any():
                continue
            match = same1 & (k2[at] == h2)
            for i in np.flatnonzero(same1 & ~match).tolist():  # equal h1, other h2: rare
                j = int(at[i]) + 1
                while j < len(k1) and k1[j] == h1[i]:
                    if k2[j] == h2[i]:
                        match[i] = True
                        at[i] = j
                        break
                    j += 1
            out = np.where(match & (out < 0), lines[at], out)
        return out

    def add(self, h1: U64, h2: Arr, lines: I64) -> None:
        """Add ids not added before (the caller checks with `first_lines`)."""
        self._ordered = False  # `_last` no longer bounds every id kept
        self._sort_in_order()
        if len(h1) == 0:
            return
        order = np.argsort(h1)  # ids added are distinct: equal hashes need no order
        small = len(lines) == 0 or int(lines.max()) < 2**31
        run: tuple[Arr, Arr, Arr] = (
            h1[order],
            h2[order],
            lines[order].astype(np.int32 if small else np.int64),
        )
        while self._runs and len(self._runs[-1][0]) <= 2 * len(run[0]):
            prev = self._runs.pop()
            # a merge of two sorted runs: the new one's items go after equal older ones
            at = np.searchsorted(prev[0], run[0], side="right") + np.arange(len(run[0]))
            run = (
                _merge(prev[0], run[0], at),
                _merge(prev[1], run[1], at),
                _merge(prev[2], run[2], at),
            )
        self._runs.append((run[0].astype(np.uint64, copy=False), run[1], run[2]))
