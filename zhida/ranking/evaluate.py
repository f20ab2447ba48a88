"""The `zhida evaluate` pipeline: profiles in, one JSON line per (profile, policy) out."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import polars as pl

from zhida.matcher.batch import DEFAULT_CHUNK, BatchEvaluator
from zhida.matcher.columns import Columns
from zhida.matcher.explain import explain_text
from zhida.matcher.output import result_frame, write_jsonl
from zhida.matcher.reference import evaluate_define_values, evaluate_policy
from zhida.profiles.schema import Audience, SchemaSet
from zhida.ranking.heuristic import ranks
from zhida.ranking.model import TakeupModel
from zhida.ranking.score import takeup_and_score
from zhida.rules.policy import Policy


@dataclass
class EvaluateStats:
    profiles: int = 0
    lines: int = 0
    outcomes: dict[str, int] = field(
        default_factory=lambda: {"eligible": 0, "unknown": 0, "ineligible": 0}
    )


def evaluate_to_jsonl(
    policies: list[Policy],
    frames: dict[Audience, pl.DataFrame],
    schemas: SchemaSet,
    as_of: dt.date,
    out: BinaryIO,
    include_all: bool = False,
    explain: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Callable[[int], None] | None = None,
    model: TakeupModel | None = None,
) -> EvaluateStats:
    """Evaluate every profile against every policy of its audience; write JSON Lines.
    `model`: the take-up model that gives `takeup` (else the heuristic)."""
    stats = EvaluateStats()
    for audience, df in frames.items():
        mine = [p for p in policies if p.audience is audience]
        if df.height == 0:
            continue
        stats.profiles += df.height
        if not mine:
            if progress:
                progress(df.height)
            continue
        # near misses are ineligible results, printed with --all only
        evaluator = BatchEvaluator(mine, as_of, chunk_size=chunk_size, near_miss=include_all)
        ids = df.get_column("id")
        schema = schemas[audience]
        columns = Columns(df, schema) if model is not None else None
        for result in evaluator.evaluate(df, schema):
            keep = None if not include_all else np.ones(result.outcome.shape, dtype=bool)
            takeup, scores = takeup_and_score(mine, result, as_of, columns, model, keep)
            rank = ranks(scores, result.outcome)
            frame = result_frame(
                ids.slice(result.start, result.stop - result.start),
                mine,
                result,
                scores,
                rank,
                include_all,
                takeup,
            )
            for name, code in (("eligible", 2), ("unknown", 1), ("ineligible", 0)):
                stats.outcomes[name] += int((result.outcome == code).sum())
            stats.lines += frame.height
            if explain:
                _write_explained(
                    frame,
                    df.slice(result.start, result.stop - result.start),
                    {p.id: p for p in mine},
                    schemas,
                    audience,
                    as_of,
                    out,
                )
            else:
                write_jsonl(frame, out)
            if progress:
                progress(result.stop - result.start)
    return stats


def _write_explained(
    frame: pl.DataFrame,
    rows: pl.DataFrame,
    by_id: dict[str, Policy],
    schemas: SchemaSet,
    audience: Audience,
    as_of: dt.date,
    out: BinaryIO,
) -> None:
    """--explain: the reference interpreter's trace for each printed line (slow, opt-in)."""
    profiles = {r["id"]: r for r in rows.to_dicts()}
    schema = schemas[audience]
    for line in frame.to_dicts():
        policy = by_id[line["policy"]]
        profile = profiles[line["profile"]]
        result = evaluate_policy(policy, profile, as_of)
        defines = evaluate_define_values(policy, profile, as_of)
        line["explanation"] = explain_text(result, schema, line["profile"], defines)
        out.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
