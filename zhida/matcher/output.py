"""JSON Lines output of `zhida evaluate`, built column-wise with polars."""

from __future__ import annotations

import io
from typing import BinaryIO

import numpy as np
import polars as pl

from zhida.matcher.batch import ChunkResult
from zhida.matcher.nearmiss import near_miss_column
from zhida.rules.policy import ELIGIBLE, INELIGIBLE, UNKNOWN, Outcome, Policy

#: by the batch evaluator's outcome code: 0 ineligible, 1 unknown, 2 eligible
OUTCOME_NAMES: list[Outcome] = [INELIGIBLE, UNKNOWN, ELIGIBLE]
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


def _id_list(codes: np.ndarray, ids: list[str], want: int) -> pl.Series:
    """codes: (C, m) criterion codes; the ids whose code is `want`, per column."""
    if not ids:
        return pl.Series("x", [[] for _ in range(codes.shape[1])], dtype=pl.List(pl.String))
    frame = pl.DataFrame({f"c{i}": codes[i] for i in range(len(ids))})
    expr = pl.concat_list(
        [
            pl.when(pl.col(f"c{i}") == want).then(pl.lit(cid)).otherwise(pl.lit(None, pl.String))
            for i, cid in enumerate(ids)
        ]
    ).list.drop_nulls()
    return frame.select(expr.alias("x")).to_series()


def result_frame(
    ids: list[str] | pl.Series,
    policies: list[Policy],
    result: ChunkResult,
    scores: np.ndarray,
    rank: np.ndarray,
    include_all: bool,
    takeup: np.ndarray | None = None,
) -> pl.DataFrame:
    """One row per (profile, policy) to print, ordered by profile, then rank."""
    profile_ids = pl.Series("profile", ids, dtype=pl.String)
    n = len(profile_ids)
    parts = []
    for j, policy in enumerate(policies):
        keep = np.ones(n, dtype=bool) if include_all else result.outcome[j] > 0
        if not keep.any():
            continue
        codes = result.criteria[j][:, keep]
        crit_ids = policy.criterion_ids()
        parts.append(
            pl.DataFrame(
                {
                    "_row": np.nonzero(keep)[0],
                    "_pol": np.full(int(keep.sum()), j),
                    "profile": profile_ids.filter(pl.Series(keep)),
                    "policy": [policy.id] * int(keep.sum()),
                    "outcome": pl.Series(result.outcome[j, keep]).replace_strict(
                        {0: OUTCOME_NAMES[0], 1: OUTCOME_NAMES[1], 2: OUTCOME_NAMES[2]},
                        return_dtype=pl.String,
                    ),
                    "benefit": pl.Series(result.benefit[j][keep]).fill_nan(None),
                    "takeup": np.round((scores if takeup is None else takeup)[j, keep], 4),
                    "score": np.round(scores[j, keep], 4),
                    "rank": pl.Series(rank[j, keep]).replace(0, None),
                    "failed": _id_list(codes, crit_ids, 0),
                    "unknown": _id_list(codes, crit_ids, 1),
                    "near_miss": near_miss_column(
                        result.near_criterion[j] if result.near_criterion else None,
                        result.near_holds[j] if result.near_holds else None,
                        policy,
                        np.flatnonzero(keep),
                    ),
                }
            )
        )
    if not parts:
        return pl.DataFrame(schema={c: pl.String for c in COLUMNS})
    frame = pl.concat(parts, how="vertical_relaxed")
    return frame.sort(["_row", "rank", "_pol"], nulls_last=True).select(COLUMNS)


def write_jsonl(frame: pl.DataFrame, out: BinaryIO) -> None:
    if frame.height == 0:
        return
    buf = io.BytesIO()
    frame.write_ndjson(buf)
    out.write(buf.getvalue())
