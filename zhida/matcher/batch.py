"""Batch evaluation: many policies over a whole population, chunk by chunk.

Chunks are evaluated on a small thread pool (numpy releases the GIL in its
kernels) and yielded in order, at most a few in flight, so memory stays
bounded by the chunk size, not the population.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from zhida.matcher.columns import Chunk, Columns
from zhida.matcher.nearmiss import NearMiss, Plan, near_miss_at, near_miss_chunk, plan_criterion
from zhida.matcher.vector import ChunkEvaluator, KeyMap
from zhida.profiles.schema import ProfileSchema
from zhida.rules.policy import Criterion, Policy

DEFAULT_CHUNK = 1 << 17  # rows per chunk, at most


@dataclass
class ChunkResult:
    """Results for rows [start, stop) of the frame; policy-major (one contiguous row per
    policy or criterion), in the order of the evaluator's policies."""

    start: int
    stop: int
    outcome: np.ndarray  # (P, n) int8: 0 ineligible, 1 unknown, 2 eligible
    criteria: list[np.ndarray]  # per policy, (C, n) int8 codes of its top-level criteria
    benefit: list[np.ndarray]  # per policy, (n,) float64 (or a broadcast constant), NaN when
    # unknown or none
    # with near misses asked for (matcher/nearmiss.py), per policy: (n,) int16 index of the
    # one false top-level criterion or -1, and (n,) float64 holds_on day number or NaN
    near_criterion: list[np.ndarray] = field(default_factory=list)
    near_holds: list[np.ndarray] = field(default_factory=list)

    def near_miss(self, j: int, policy: Policy, row: int) -> NearMiss | None:
        """Policy j's near miss for row `row` of this chunk (0-based within it)."""
        if not self.near_criterion:
            return None
        return near_miss_at(policy, self.near_criterion[j], self.near_holds[j], row)

    def benefit_matrix(self) -> np.ndarray:
        n = self.stop - self.start
        return (
            np.stack([np.broadcast_to(b, (n,)) for b in self.benefit])
            if self.benefit
            else np.empty((0, n))
        )


class BatchEvaluator:
    """Evaluates a fixed list of policies of one audience, as of one date."""

    def __init__(
        self,
        policies: list[Policy],
        as_of: dt.date,
        chunk_size: int = DEFAULT_CHUNK,
        threads: int | None = None,
        near_miss: bool = False,
    ):
        audiences = {p.audience for p in policies}
        if len(audiences) > 1:
            raise ValueError("a BatchEvaluator takes policies of one audience")
        self.policies = policies
        self.as_of = as_of
        self.chunk_size = max(1, min(chunk_size, DEFAULT_CHUNK))  # chunks fit in the caches
        self.threads = threads or 1  # more threads contend for the GIL; scale out with processes
        self.keys = KeyMap()
        self._columns: Columns | None = None  # of the last frame evaluated
        self.plans: list[list[Plan | None]] | None = (
            [[plan_criterion(c, p) for c in p.criteria] for p in policies] if near_miss else None
        )

    def evaluate_chunk(self, chunk: Chunk) -> ChunkResult:
        ev = ChunkEvaluator(chunk, self.as_of, self.keys)
        n, npol = chunk.n, len(self.policies)
        outcome = np.empty((npol, n), dtype=np.int8)
        benefit: list[np.ndarray] = []
        criteria: list[np.ndarray] = []
        for j, policy in enumerate(self.policies):
            codes = np.empty((len(policy.criteria), n), dtype=np.int8)
            for i, crit in enumerate(policy.criteria):
                codes[i] = self._criterion(ev, crit, policy)
            if len(codes):
                np.minimum.reduce(codes, axis=0, out=outcome[j])
            else:
                outcome[j] = 2
            criteria.append(codes)
            amount = (
                np.float64(np.nan)
                if policy.benefit_amount is None
                else ev.eval(policy.benefit_amount, policy)
            )
            benefit.append(np.broadcast_to(np.asarray(amount, dtype=np.float64), (n,)))
        result = ChunkResult(chunk.start, chunk.stop, outcome, criteria, benefit)
        if self.plans is not None:
            for j, (policy, codes, plans) in enumerate(
                zip(self.policies, criteria, self.plans, strict=True)
            ):
                which, holds = near_miss_chunk(ev, policy, codes, plans, self.as_of, outcome[j])
                result.near_criterion.append(which)
                result.near_holds.append(holds)
        return result

    def _criterion(self, ev: ChunkEvaluator, crit: Criterion, policy: Policy) -> np.ndarray:
        if crit.kind == "when":
            assert crit.when is not None
            return ev.eval(crit.when, policy)
        parts = [self._criterion(ev, c, policy) for c in crit.children]
        combine = np.minimum if crit.kind == "all" else np.maximum
        result = parts[0]
        for part in parts[1:]:
            result = combine(result, part)
        return result

    def chunks(self, columns: Columns) -> Iterator[Chunk]:
        for start in range(0, columns.n, self.chunk_size):
            yield Chunk(columns, start, min(columns.n, start + self.chunk_size))

    def evaluate(self, df: pl.DataFrame, schema: ProfileSchema) -> Iterator[ChunkResult]:
        """Yield results chunk by chunk, in row order. The frame's columns are converted
        once: evaluating the same frame again reuses them."""
        columns = self._columns
        if columns is None or columns.df is not df or columns.schema is not schema:
            columns = self._columns = Columns(df, schema)
        if self.threads <= 1:
            for chunk in self.chunks(columns):
                yield self.evaluate_chunk(chunk)
            return
        with ThreadPoolExecutor(self.threads) as pool:
            pending: deque[Future[ChunkResult]] = deque()
            for chunk in self.chunks(columns):
                pending.append(pool.submit(self.evaluate_chunk, chunk))
                if len(pending) >= 2 * self.threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
