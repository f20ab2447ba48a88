"""Of two policies that exclude each other, the better for the profile ranks first: the
rule (`zhida.ranking.exclusion`) on random ranks, beside a plain per-profile version for
disjoint pairs, and in the lines `zhida evaluate` writes."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.factories import make_frame, make_policy, schemas_for_tests
from tests.support.strategies import examples
from zhida.profiles.schema import Audience
from zhida.ranking.evaluate import evaluate_to_jsonl
from zhida.ranking.exclusion import exclusion_pairs, rank_exclusions
from zhida.ranking.heuristic import ranks

AMOUNTS = st.sampled_from([np.nan, 0.0, 1e4, 5e4, 1e5, 2.5e5])


@st.composite
def cases(draw: st.DrawFn, disjoint: bool = False) -> dict[str, Any]:
    npol = draw(st.integers(2, 6))
    n = draw(st.integers(1, 5))
    outcome = np.array(draw(st.lists(st.lists(st.sampled_from([0, 1, 2]), min_size=n,
                                              max_size=n), min_size=npol, max_size=npol)),
                       dtype=np.int8)  # fmt: skip
    benefit = [np.array(draw(st.lists(AMOUNTS, min_size=n, max_size=n))) for _ in range(npol)]
    score = np.array(
        [[draw(st.sampled_from([0.1, 0.3, 0.5, 0.8])) for _ in range(n)] for _ in range(npol)]
    ) * (outcome > 0)
    every = [(j, k) for j in range(npol) for k in range(j + 1, npol)]
    if disjoint:
        order = draw(st.permutations(range(npol)))
        pairs = sorted(tuple(sorted(order[i : i + 2])) for i in range(0, npol - 1, 2))
        pairs = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    else:
        pairs = draw(st.lists(st.sampled_from(every), unique=True, max_size=6))
    return {"outcome": outcome, "benefit": benefit, "score": score, "pairs": sorted(pairs)}


def _merit(case: dict[str, Any], j: int, col: int) -> tuple[float, bool, float]:
    amount = float(case["benefit"][j][col])
    return (0.0 if np.isnan(amount) else amount, case["outcome"][j, col] == 2,
            float(case["score"][j, col]))  # fmt: skip


@settings(max_examples=examples(300), deadline=None)
@given(case=cases())
def test_every_pair_ends_the_better_first_and_only_ranks_move(case: dict[str, Any]) -> None:
    before = ranks(case["score"], case["outcome"])
    rank = rank_exclusions(
        before.copy(), case["outcome"], case["benefit"], case["score"], case["pairs"]
    )
    in_pairs = {j for pair in case["pairs"] for j in pair}
    for col in range(rank.shape[1]):
        assert sorted(rank[:, col]) == sorted(before[:, col])  # the same ranks, moved
        for j in range(rank.shape[0]):
            if j not in in_pairs or before[j, col] == 0:
                assert rank[j, col] == before[j, col]
        for j, k in case["pairs"]:
            if rank[j, col] and rank[k, col]:
                mj, mk = _merit(case, j, col), _merit(case, k, col)
                if mj > mk:
                    assert rank[j, col] < rank[k, col]
                elif mk > mj:
                    assert rank[k, col] < rank[j, col]


@settings(max_examples=examples(300), deadline=None)
@given(case=cases(disjoint=True))
def test_disjoint_pairs_agree_with_a_per_profile_swap(case: dict[str, Any]) -> None:
    """One profile at a time, in plain Python: each pair's two ranks, the smaller to
    the better, left as the score gave them when the two are equal (the vectorised
    rule must give exactly this when no policy is in two pairs)."""
    before = ranks(case["score"], case["outcome"])
    got = rank_exclusions(
        before.copy(), case["outcome"], case["benefit"], case["score"], case["pairs"]
    )
    for col in range(before.shape[1]):
        want = [int(r) for r in before[:, col]]
        for j, k in case["pairs"]:
            if want[j] and want[k]:
                mj, mk = _merit(case, j, col), _merit(case, k, col)
                low, high = min(want[j], want[k]), max(want[j], want[k])
                if mj > mk:
                    want[j], want[k] = low, high
                elif mk > mj:
                    want[j], want[k] = high, low
        assert [int(r) for r in got[:, col]] == want


def test_pairs_come_from_either_side_once() -> None:
    a = make_policy(pid="a", extra="excludes: [b]\n")
    b = make_policy(pid="b", extra="excludes: [a]\n")
    c = make_policy(pid="c", extra="excludes: [a, gone]\n")
    d = make_policy(pid="d")
    assert exclusion_pairs([a, b, c, d]) == [(0, 1), (0, 2)]
    assert exclusion_pairs([d, c]) == []


def _evaluate_lines(excludes: bool) -> dict[str, dict[str, Any]]:
    """Two policies E1 qualifies for: the smaller closes sooner (so it scores higher)."""
    today = dt.date(2026, 6, 1)
    soon, later = today + dt.timedelta(days=10), today + dt.timedelta(days=200)
    small = make_policy(
        pid="small",
        extra=(f"window: {{closes: {soon}}}\nbenefit: {{amount: 10万}}\n"
               + ("excludes: [big]\n" if excludes else "")),
    )  # fmt: skip
    big = make_policy(pid="big", extra=f"window: {{closes: {later}}}\nbenefit: {{amount: 12万}}\n")
    schemas = schemas_for_tests()
    frame = make_frame(
        [{"id": "E1", "revenue": 2e8}, {"id": "E2", "revenue": None}],
        schemas[Audience.ENTERPRISE],
    )
    out = io.BytesIO()
    evaluate_to_jsonl([small, big], {Audience.ENTERPRISE: frame}, schemas, today, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return {f"{x['profile']}/{x['policy']}": x for x in lines}


def test_zhida_evaluate_ranks_the_better_of_two_excluding_policies_first() -> None:
    plain, excluding = _evaluate_lines(False), _evaluate_lines(True)
    # by score alone the smaller amount, closing sooner, ranks first
    assert plain["E1/small"]["score"] > plain["E1/big"]["score"]
    assert (plain["E1/small"]["rank"], plain["E1/big"]["rank"]) == (1, 2)
    # excluding each other: the larger amount first; nothing else of the line changes
    assert (excluding["E1/big"]["rank"], excluding["E1/small"]["rank"]) == (1, 2)
    for key, line in plain.items():
        assert {k: v for k, v in excluding[key].items() if k != "rank"} == {
            k: v for k, v in line.items() if k != "rank"
        }
    # unknown for both (no revenue): the same rule, amounts first
    assert (excluding["E2/big"]["rank"], excluding["E2/small"]["rank"]) == (1, 2)
