"""The `zhida evaluate` pipeline: profiles in, one JSON line per (profile, policy) out.

Batches of profiles (`zhida.profiles.readers.stream_profiles`) are evaluated, scored,
ranked and written one after the other, so memory is bounded by the batch. The lines
come out grouped by audience, in the order of the frames (enterprises first), each
audience in file order: the first audience's lines go straight to `out`, the others'
to a temporary file copied to `out` at the end.

`zhida.ranking.score.takeup_and_score` is the one place a result gets its takeup and
ranking score (from the take-up model given, else the heuristic); ranks are by score,
the better of two excluding policies first (`zhida.ranking.exclusion`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, BinaryIO

import numpy as np
import polars as pl

from zhida.matcher.batch import DEFAULT_CHUNK, BatchEvaluator
from zhida.matcher.columns import Columns
from zhida.matcher.output import result_frame, write_jsonl
from zhida.matcher.pairs import printed_pairs
from zhida.profiles.schema import Audience, SchemaSet
from zhida.ranking.exclusion import exclusion_pairs, ranks_at
from zhida.ranking.model import TakeupModel
from zhida.ranking.score import takeup_and_score_at
from zhida.rules.policy import Policy

SPOOL_BYTES = 16 << 20  # an audience's lines kept in memory up to this, then on disk


@dataclass
class EvaluateStats:
    profiles: int = 0
    lines: int = 0
    outcomes: dict[str, int] = field(
        default_factory=lambda: {"eligible": 0, "unknown": 0, "ineligible": 0}
    )


def evaluate_to_jsonl(
    policies: list[Policy],
    frames: Mapping[Audience, pl.DataFrame],
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
    return evaluate_batches_to_jsonl(
        policies, [frames], schemas, as_of, out, include_all, explain, chunk_size, progress,
        model,
    )  # fmt: skip


def evaluate_batches_to_jsonl(
    policies: list[Policy],
    batches: Iterable[Mapping[Audience, pl.DataFrame]],
    schemas: SchemaSet,
    as_of: dt.date,
    out: BinaryIO,
    include_all: bool = False,
    explain: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Callable[[int], None] | None = None,
    model: TakeupModel | None = None,
) -> EvaluateStats:
    """The same over batches of frames (the consecutive parts of one population), written
    as one evaluation of them all would write them."""
    stats = EvaluateStats()
    sinks: dict[Audience, IO[bytes]] = {}
    order: list[Audience] = []
    evaluators: dict[Audience, BatchEvaluator] = {}
    with contextlib.ExitStack() as spools:
        for frames in batches:
            for audience, df in frames.items():
                if audience not in sinks:
                    sinks[audience] = (
                        spools.enter_context(tempfile.SpooledTemporaryFile(SPOOL_BYTES))
                        if order
                        else out
                    )
                    order.append(audience)
                if df.height == 0:
                    continue
                stats.profiles += df.height
                mine = [p for p in policies if p.audience is audience]
                if not mine:
                    if progress:
                        progress(df.height)
                    continue
                if audience not in evaluators:
                    evaluators[audience] = BatchEvaluator(
                        mine, as_of, chunk_size=chunk_size, near_miss=include_all
                    )  # near misses are ineligible results, printed with --all only
                _evaluate_frame(
                    evaluators[audience], df, schemas, audience, sinks[audience], stats,
                    include_all, explain, progress, model,
                )  # fmt: skip
        for audience in order[1:]:
            spool = sinks[audience]
            spool.seek(0)
            shutil.copyfileobj(spool, out)
    return stats


def _evaluate_frame(
    evaluator: BatchEvaluator,
    df: pl.DataFrame,
    schemas: SchemaSet,
    audience: Audience,
    out: IO[bytes],
    stats: EvaluateStats,
    include_all: bool,
    explain: bool,
    progress: Callable[[int], None] | None,
    model: TakeupModel | None,
) -> None:
    mine = evaluator.policies
    as_of = evaluator.as_of
    ids = df.get_column("id")
    schema = schemas[audience]
    columns = Columns(df, schema) if model is not None else None
    excluding = exclusion_pairs(mine)
    for result in evaluator.evaluate(df, schema):
        n = result.stop - result.start
        rows = df.slice(result.start, n)
        pairs = printed_pairs(result, include_all)
        takeup, scores = takeup_and_score_at(mine, result, pairs, as_of, columns, model)
        rank = ranks_at(pairs, scores, result, excluding)
        frame = result_frame(ids.slice(result.start, n), mine, result, pairs, takeup, scores, rank)
        for name, code in (("eligible", 2), ("unknown", 1), ("ineligible", 0)):
            stats.outcomes[name] += int(np.count_nonzero(result.outcome == code))
        stats.lines += frame.height
        if explain:
            _write_explained(frame, rows, {p.id: p for p in mine}, schemas, audience, as_of, out)
        else:
            write_jsonl(frame, out)
        if progress:
            progress(n)


def _write_explained(
    frame: pl.DataFrame,
    rows: pl.DataFrame,
    by_id: dict[str, Policy],
    schemas: SchemaSet,
    audience: Audience,
    as_of: dt.date,
    out: IO[bytes],
) -> None:
    """--explain: the reference interpreter's trace for each printed line (slow, opt-in;
    its modules are imported here, so that a plain evaluate starts without them)."""
    from zhida.matcher.explain import explain_text
    from zhida.matcher.reference import evaluate_define_values, evaluate_policy

    profiles = {r["id"]: r for r in rows.to_dicts()}
    schema = schemas[audience]
    for line in frame.to_dicts():
        policy = by_id[line["policy"]]
        profile = profiles[line["profile"]]
        result = evaluate_policy(policy, profile, as_of)
        defines = evaluate_define_values(policy, profile, as_of)
        line["explanation"] = explain_text(result, schema, line["profile"], defines)
        out.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
