"""The `zhida evaluate` output path as it was before streaming (issue 13), kept verbatim as
the oracle of the differential tests in test_evaluate.py: a whole frame per audience,
failed/unknown lists by `concat_list`, ranks by sorting every profile, every benefit
weighed per row. With `takeup` (issue 12) as main wrote it then: the heuristic's value
weight, the score its product with the outcome factor (no model)."""

from __future__ import annotations

import datetime as dt
import io
import json

import numpy as np
import polars as pl

from zhida.matcher.batch import BatchEvaluator, ChunkResult
from zhida.matcher.explain import explain_text
from zhida.matcher.nearmiss import near_miss_column
from zhida.matcher.reference import evaluate_define_values, evaluate_policy
from zhida.profiles.schema import Audience, SchemaSet
from zhida.ranking.exclusion import exclusion_pairs, rank_exclusions
from zhida.ranking.heuristic import benefit_weight, urgency
from zhida.rules.policy import Policy

OUTCOME_NAMES = ["ineligible", "unknown", "eligible"]
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


def value_weight(policies: list[Policy], benefit: list[np.ndarray], as_of: dt.date) -> np.ndarray:
    n = len(benefit[0]) if benefit else 0
    out = np.empty((len(policies), n), dtype=np.float64)
    for j, policy in enumerate(policies):
        out[j] = 0.5 + 0.3 * benefit_weight(benefit[j]) + 0.2 * urgency(policy.window, as_of)
    return out


def outcome_factor(outcome: np.ndarray, criteria: list[np.ndarray]) -> np.ndarray:
    out = np.zeros(outcome.shape, dtype=np.float64)
    for j, codes in enumerate(criteria):
        known_true = (codes == 2).mean(axis=0) if len(codes) else 1.0
        out[j] = np.where(
            outcome[j] == 2, 1.0, np.where(outcome[j] == 1, 0.25 + 0.25 * known_true, 0.0)
        )
    return out


def ranks(scores: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    npol, n = scores.shape
    key = np.where(outcome > 0, -scores, np.inf)
    order = np.argsort(key, axis=0, kind="stable")
    rank = np.empty((npol, n), dtype=np.int32)
    np.put_along_axis(rank, order, np.arange(1, npol + 1, dtype=np.int32)[:, np.newaxis], axis=0)
    return np.where(outcome > 0, rank, 0)


def _id_list(codes: np.ndarray, ids: list[str], want: int) -> pl.Series:
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
    ids: pl.Series,
    policies: list[Policy],
    result: ChunkResult,
    scores: np.ndarray,
    rank: np.ndarray,
    include_all: bool,
    takeup: np.ndarray,
) -> pl.DataFrame:
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
                    "takeup": np.round(takeup[j, keep], 4),
                    "score": np.round(scores[j, keep], 4),
                    "rank": pl.Series(rank[j, keep]).replace(0, None),
                    "failed": _id_list(codes, crit_ids, 0),
                    "unknown": _id_list(codes, crit_ids, 1),
                    # near misses have their own differential test against the scalar
                    # reference (tests/matcher/test_nearmiss.py); here the same column
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


def evaluate_to_jsonl(
    policies: list[Policy],
    frames: dict[Audience, pl.DataFrame],
    schemas: SchemaSet,
    as_of: dt.date,
    include_all: bool = False,
    explain: bool = False,
    chunk_size: int = 1 << 17,
    exclusions: bool = False,
) -> bytes:
    """`exclusions`: ranks then set right by `zhida.ranking.exclusion.rank_exclusions` over
    the (P, n) arrays (the rule of issue 11, applied here as the evaluate of that stop did)."""
    out = io.BytesIO()
    for audience, df in frames.items():
        mine = [p for p in policies if p.audience is audience]
        if df.height == 0 or not mine:
            continue
        evaluator = BatchEvaluator(mine, as_of, chunk_size=chunk_size, near_miss=include_all)
        ids = df.get_column("id")
        for result in evaluator.evaluate(df, schemas[audience]):
            takeup = value_weight(mine, result.benefit, as_of)
            scores = outcome_factor(result.outcome, result.criteria) * takeup
            rank = ranks(scores, result.outcome)
            if exclusions:
                pairs = exclusion_pairs(mine)
                rank_exclusions(rank, result.outcome, result.benefit, scores, pairs)
            n = result.stop - result.start
            frame = result_frame(
                ids.slice(result.start, n), mine, result, scores, rank, include_all, takeup
            )
            if not explain:
                if frame.height:
                    frame.write_ndjson(out)
                continue
            profiles = {r["id"]: r for r in df.slice(result.start, n).to_dicts()}
            by_id = {p.id: p for p in mine}
            for line in frame.to_dicts():
                policy, profile = by_id[line["policy"]], profiles[line["profile"]]
                res = evaluate_policy(policy, profile, as_of)
                defines = evaluate_define_values(policy, profile, as_of)
                line["explanation"] = explain_text(res, schemas[audience], line["profile"], defines)
                out.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
    return out.getvalue()
