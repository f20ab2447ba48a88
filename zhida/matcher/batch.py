"""Batch evaluation: many policies over a whole population, chunk by chunk.

Chunks are evaluated on a small thread pool (numpy releases the GIL in its
kernels) and yielded in order, at most a few in flight, so memory stays
bounded by the chunk size, not the population.

A top-level criterion shared by several policies (the same compiled expression,
`define:` names inlined) is one row of codes in a chunk's result, referenced by
each policy that has it: no per-policy copies.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from zhida.matcher.columns import Chunk, Columns
from zhida.matcher.nearmiss import (
    NearMiss,
    NearRows,
    Plan,
    near_miss_chunk,
    near_miss_mask,
    plan_criterion,
)
from zhida.matcher.vector import ChunkEvaluator, KeyMap
from zhida.profiles.schema import ProfileSchema
from zhida.rules.ast import Node, names_in
from zhida.rules.policy import Criterion, Policy

DEFAULT_CHUNK = 1 << 17  # rows per chunk, at most


@dataclass
class ChunkResult:
    """Results for rows [start, stop) of the frame; policy-major (one contiguous row per
    policy or criterion), in the order of the evaluator's policies."""

    start: int
    stop: int
    outcome: np.ndarray  # (P, n) int8: 0 ineligible, 1 unknown, 2 eligible
    rows: list[np.ndarray]  # distinct top-level criteria, each (n,) int8 codes (read only)
    index: list[list[int]]  # per policy, the row of each of its top-level criteria
    benefit: list[np.ndarray]  # per policy, (n,) float64 (or a broadcast constant), NaN when
    # unknown or none
    # with near misses asked for (matcher/nearmiss.py), per policy: its near-miss rows
    near: list[NearRows] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.stop - self.start

    def codes(self, j: int, keep: np.ndarray | None = None) -> list[np.ndarray]:
        """Policy j's top-level criterion codes, one (n,) row each (views), or each
        gathered at `keep`."""
        rows = [self.rows[i] for i in self.index[j]]
        return rows if keep is None else [np.take(r, keep) for r in rows]

    @property
    def criteria(self) -> list[np.ndarray]:
        """Per policy, a (C, n) int8 copy of its top-level criterion codes (prefer
        `codes`, which copies nothing)."""
        return [_stack(self.codes(j), self.n) for j in range(len(self.index))]

    def near_miss(self, j: int, policy: Policy, row: int) -> NearMiss | None:
        """Policy j's near miss for row `row` of this chunk (0-based within it)."""
        return self.near[j].at(policy, row) if self.near else None

    @property
    def near_criterion(self) -> list[np.ndarray]:
        """Per policy, (n,) int16 index of the one false criterion of a near miss or -1."""
        return [nr.dense(self.n)[0] for nr in self.near]

    @property
    def near_holds(self) -> list[np.ndarray]:
        """Per policy, (n,) float64 holds_on day number of a near miss, or NaN."""
        return [nr.dense(self.n)[1] for nr in self.near]

    def benefit_matrix(self) -> np.ndarray:
        n = self.n
        return (
            np.stack([np.broadcast_to(b, (n,)) for b in self.benefit])
            if self.benefit
            else np.empty((0, n))
        )


def _rows(value: np.ndarray, n: int) -> np.ndarray:
    """A value as (n,) rows, read only (it may be a column of the frame, or shared by
    policies): a view, no copy; a constant broadcast."""
    if value.shape != (n,):
        return np.broadcast_to(value, (n,))
    view = value.view()
    view.flags.writeable = False
    return view


def _stack(rows: list[np.ndarray], n: int) -> np.ndarray:
    return np.stack(rows) if rows else np.empty((0, n), dtype=np.int8)


class _Rows:
    """The distinct top-level criterion rows of one chunk, by structural key."""

    def __init__(self, n: int):
        self.n = n
        self.rows: list[np.ndarray] = []
        self.slot: dict[tuple[Any, ...], int] = {}

    def add(self, key: tuple[Any, ...], compute: Any) -> int:
        i = self.slot.get(key)
        if i is None:
            value = np.asarray(compute(), dtype=np.int8)
            self.rows.append(_rows(value, self.n))
            i = self.slot[key] = len(self.rows) - 1
        return i


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
        self._crit_keys: dict[int, tuple[Any, ...]] = {}
        self.fields = fields_read(policies)

    def evaluate_chunk(self, chunk: Chunk) -> ChunkResult:
        ev = ChunkEvaluator(chunk, self.as_of, self.keys)
        n, npol = chunk.n, len(self.policies)
        outcome = np.empty((npol, n), dtype=np.int8)
        benefit: list[np.ndarray] = []
        rows = _Rows(n)
        index: list[list[int]] = []
        near = self.plans is not None
        mask = np.empty((npol, n) if near else (0, n), dtype=bool)
        widest = max((len(p.criteria) for p in self.policies), default=0)
        total = np.empty(n if near else 0, dtype=np.int8 if widest < 64 else np.int16)
        for j, policy in enumerate(self.policies):
            idx = [
                rows.add(self._crit_key(c, policy), lambda c=c, p=policy: self._criterion(ev, c, p))
                for c in policy.criteria
            ]
            index.append(idx)
            codes = [rows.rows[i] for i in idx]
            if near:  # near misses: the codes summed in the same pass as their minimum
                _all_of(codes, outcome[j], total)
                near_miss_mask(len(codes), total, outcome[j], mask[j])
            else:
                _all_of(codes, outcome[j])
            amount = (
                np.float64(np.nan)
                if policy.benefit_amount is None
                else ev.eval(policy.benefit_amount, policy)
            )
            amount = np.asarray(amount, dtype=np.float64)
            benefit.append(_rows(amount, n))
        result = ChunkResult(chunk.start, chunk.stop, outcome, rows.rows, index, benefit)
        if self.plans is not None:
            for j, (policy, plans) in enumerate(zip(self.policies, self.plans, strict=True)):
                result.near.append(
                    near_miss_chunk(ev, policy, result.codes(j), plans, self.as_of, mask[j], total)
                )
        return result

    def _crit_key(self, crit: Criterion, policy: Policy) -> tuple[Any, ...]:
        key = self._crit_keys.get(id(crit))
        if key is None:
            if crit.kind == "when":
                assert crit.when is not None
                key = ("when", self.keys.key(crit.when, policy))
            else:
                key = (crit.kind, *(self._crit_key(c, policy) for c in crit.children))
            self._crit_keys[id(crit)] = key
        return key

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
            columns.prepare(self.fields)
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


def fields_read(policies: list[Policy]) -> list[str]:
    """The profile fields the policies' expressions name, in first-seen order."""
    nodes: list[Node] = []
    for p in policies:
        nodes += [c.when for c in p.all_criteria() if c.when is not None]
        nodes += list(p.defines.values())
        if p.benefit_amount is not None:
            nodes.append(p.benefit_amount)
    names = (n.name for node in nodes for n in names_in(node) if not n.is_define)
    return list(dict.fromkeys(names))


def _all_of(rows: list[np.ndarray], out: np.ndarray, total: np.ndarray | None = None) -> None:
    """out = the minimum of the rows (Kleene `and`), eligible when there are none; with
    `total`, their sum there too, in the same pass (for near misses)."""
    if not rows:
        out[...] = 2
    elif len(rows) == 1:
        out[...] = rows[0]
    else:
        np.minimum(rows[0], rows[1], out=out)
        if total is not None:
            np.add(rows[0], rows[1], out=total)
        for r in rows[2:]:
            np.minimum(out, r, out=out)
            if total is not None:
                np.add(total, r, out=total)
