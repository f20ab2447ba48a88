"""SeenIds against a plain dict, with hashes drawn from a tiny range so that ids with the
same first hash (and different second ones) are common."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.strategies import examples
from zhida.profiles.readers.seen import SeenIds, id_hashes

KEYS = st.tuples(st.integers(0, 6), st.integers(0, 3))


@settings(max_examples=examples(200))
@given(st.lists(st.lists(KEYS, max_size=12), max_size=8))
def test_first_lines_agree_with_a_dict(batches: list[list[tuple[int, int]]]) -> None:
    seen = SeenIds()
    truth: dict[tuple[int, int], int] = {}
    line = 1
    for batch in batches:
        h1 = np.array([k[0] for k in batch], dtype=np.uint64)
        h2 = np.array([k[1] for k in batch], dtype=np.uint64)
        lines = np.arange(line, line + len(batch), dtype=np.int64)
        got = seen.first_lines(h1, h2)
        assert got.tolist() == [truth.get(k, -1) for k in batch]
        new = np.zeros(len(batch), dtype=bool)
        for i, k in enumerate(batch):
            if k not in truth:
                truth[k] = int(lines[i])
                new[i] = True
        seen.add(h1[new], h2[new], lines[new])
        line += len(batch)
    assert len(seen) == len(truth)


def test_id_hashes_are_stable_and_differ_per_seed() -> None:
    ids = pl.Series(["E1", "E2", "E1"])
    h1, h2 = id_hashes(ids)
    assert h1[0] == h1[2] and h2[0] == h2[2] and h1[0] != h1[1]
    assert not np.array_equal(h1, h2)


def test_ids_added_out_of_order_end_the_in_order_shortcut() -> None:
    """`in_order` vouches only for ids it saw; after a look-up or an add, it says no."""
    seen = SeenIds()
    ids = pl.Series(["A", "C"])
    assert seen.in_order(ids)
    seen.add_in_order(*id_hashes(ids), np.array([1, 2]))
    other = pl.Series(["Z"])
    seen.add(*id_hashes(other), np.array([3]))
    assert not seen.in_order(pl.Series(["D", "E"]))
    assert seen.first_lines(*id_hashes(pl.Series(["C", "Z", "Q"]))).tolist() == [2, 3, -1]
