"""JSON Lines output of `zhida evaluate`, built column-wise with polars."""

from __future__ import annotations

import io
from typing import IO

import numpy as np
import polars as pl

from zhida.matcher.batch import ChunkResult
from zhida.matcher.masks import code_groups
from zhida.matcher.nearmiss import near_miss_column
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
    scores: np.ndarray,
    rank: np.ndarray,
    include_all: bool,
    takeup: np.ndarray | None = None,
) -> pl.DataFrame:
    """One row per (profile, policy) to print, ordered by profile, then rank (ineligible
    results, rank null, last in policy order).

    Built from numpy columns: each result's failed/unknown ids are the entry of its
    criteria's group (`masks.code_groups`) in a small table of id lists."""
    profile_ids = pl.Series("profile", ids, dtype=pl.String)
    n, npol = len(profile_ids), len(policies)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in COLUMNS}
    table: list[list[str]] = []
    near: list[pl.Series] = []
    for j, policy in enumerate(policies):
        keep = np.arange(n, dtype=np.intp) if include_all else np.flatnonzero(result.outcome[j] > 0)
        if not len(keep):
            continue
        codes = result.codes(j, None if include_all else keep)
        crit_ids = policy.criterion_ids()
        for want, name in ((0, "failed"), (1, "unknown")):
            group, groups = code_groups(codes, want, len(keep))
            cols[name].append(group + len(table))
            table.extend([crit_ids[i] for i in g] for g in groups)
        cols["profile"].append(keep)
        cols["policy"].append(np.full(len(keep), j, dtype=np.intp))
        cols["outcome"].append(np.take(result.outcome[j], keep))
        cols["benefit"].append(np.broadcast_to(result.benefit[j], (n,))[keep])
        cols["takeup"].append(np.take(scores[j] if takeup is None else takeup[j], keep))
        cols["score"].append(np.take(scores[j], keep))
        cols["rank"].append(np.take(rank[j], keep))
        crit, holds = result.near[j].dense(n) if result.near else (None, None)
        near.append(near_miss_column(crit, holds, policy, keep))
    if not table:
        return pl.DataFrame(schema={c: pl.String for c in COLUMNS})
    row, pol, rk = (np.concatenate(cols[k]) for k in ("profile", "policy", "rank"))
    # by row, then rank (unique within a row), then the ineligible (rank 0) by policy
    key = row.astype(np.int64) * (2 * npol + 1) + np.where(rk > 0, rk, npol + 1 + pol)
    order = np.argsort(key, kind="stable")
    lists = pl.Series(table, dtype=pl.List(pl.String))

    def ordered(name: str) -> np.ndarray:
        return np.take(np.concatenate(cols[name]), order)

    return pl.DataFrame(
        {
            "profile": profile_ids.gather(np.take(row, order)),
            "policy": pl.Series([p.id for p in policies], dtype=pl.String).gather(
                np.take(pol, order)
            ),
            "outcome": OUTCOME_SERIES.gather(ordered("outcome")),
            "benefit": pl.Series(ordered("benefit"), dtype=pl.Float64).fill_nan(None),
            "takeup": np.round(ordered("takeup"), 4),
            "score": np.round(ordered("score"), 4),
            "rank": pl.Series(np.take(rk, order), dtype=pl.Int32).replace(0, None),
            "failed": lists.gather(ordered("failed")),
            "unknown": lists.gather(ordered("unknown")),
            "near_miss": pl.concat(near).gather(order),
        }
    )


def write_jsonl(frame: pl.DataFrame, out: IO[bytes]) -> None:
    if frame.height == 0:
        return
    buf = io.BytesIO()
    frame.write_ndjson(buf)
    out.write(buf.getvalue())
