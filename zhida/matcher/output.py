"""JSON Lines output of `zhida evaluate`, built column-wise with polars."""

from __future__ import annotations

from typing import IO

import numpy as np
import polars as pl

from zhida.matcher.batch import ChunkResult
from zhida.matcher.masks import code_groups
from zhida.matcher.nearmiss import near_miss_column, no_near_misses
from zhida.matcher.pairs import Pairs, gathered
from zhida.rules.policy import ELIGIBLE, INELIGIBLE, UNKNOWN, Outcome, Policy

#: by the batch evaluator's outcome code: 0 ineligible, 1 unknown, 2 eligible
OUTCOME_NAMES: list[Outcome] = [INELIGIBLE, UNKNOWN, ELIGIBLE]
OUTCOME_SERIES = pl.Series("outcome", OUTCOME_NAMES, dtype=pl.String)
COLUMNS = [
    "profile",
    "policy",
    "outcome",
    "benefit",
    "takeup",
    "score",
    "rank",
    "failed",
    "unknown",
    "near_miss",
]


def result_frame(
    ids: list[str] | pl.Series,
    policies: list[Policy],
    result: ChunkResult,
    pairs: Pairs,
    takeup: np.ndarray,
    scores: np.ndarray,
    rank: np.ndarray,
) -> pl.DataFrame:
    """One row per pair to print (`zhida.matcher.pairs`; takeup, scores and ranks flat,
    at the pairs), ordered by profile, then rank (ineligible results, rank 0, last in
    policy order).

    Each result's failed/unknown ids are the entry of its criteria's group
    (`masks.code_groups`) in a small table of id lists."""
    profile_ids = pl.Series("profile", ids, dtype=pl.String)
    n, npol = len(profile_ids), len(policies)
    if not len(pairs):
        return pl.DataFrame(schema={c: pl.String for c in COLUMNS})
    lists: dict[str, list[np.ndarray]] = {"failed": [], "unknown": []}
    table: list[list[str]] = []
    near: list[pl.Series] | None = [] if result.near else None  # None: not asked
    for j, policy in enumerate(policies):
        keep = pairs.rows_of(j)
        if not len(keep):
            continue
        codes = result.codes(j, keep)
        crit_ids = policy.criterion_ids()
        for want, name in ((0, "failed"), (1, "unknown")):
            group, groups = code_groups(codes, want, len(keep))
            lists[name].append(group + len(table))
            table.extend([crit_ids[i] for i in g] for g in groups)
        if near is not None:
            crit, holds = result.near[j].dense(n)
            near.append(near_miss_column(crit, holds, policy, keep))
    row, pol = pairs.row, pairs.pol
    # by row, then rank (unique within a row), then the ineligible (rank 0) by policy
    key = row.astype(np.int64) * (2 * npol + 1) + np.where(rank > 0, rank, npol + 1 + pol)
    order = np.argsort(key, kind="stable")
    id_lists = pl.Series(table, dtype=pl.List(pl.String))

    def ordered(values: np.ndarray) -> np.ndarray:
        return np.take(values, order)

    return pl.DataFrame(
        {
            "profile": profile_ids.gather(ordered(row)),
            "policy": pl.Series([p.id for p in policies], dtype=pl.String).gather(ordered(pol)),
            "outcome": OUTCOME_SERIES.gather(ordered(pairs.outcome)),
            "benefit": pl.Series(
                ordered(gathered(result.benefit, pairs)), dtype=pl.Float64
            ).fill_nan(None),
            "takeup": np.round(ordered(takeup), 4),
            "score": np.round(ordered(scores), 4),
            "rank": pl.Series(ordered(rank), dtype=pl.Int32).replace(0, None),
            "failed": id_lists.gather(ordered(np.concatenate(lists["failed"]))),
            "unknown": id_lists.gather(ordered(np.concatenate(lists["unknown"]))),
            "near_miss": no_near_misses(len(order))
            if near is None
            else pl.concat(near).gather(order),
        }
    )


def write_jsonl(frame: pl.DataFrame, out: IO[bytes]) -> None:
    if frame.height == 0:
        return
    frame.write_ndjson(out)  # through out's own write(), in order with what it holds
