"""durable_rules as a baseline: one ruleset per policy, one profile event at a time.

Known pitfalls handled here (see DESIGN.md): one ruleset per policy (a ruleset
fires only its first matching rule); an event matching nothing raises
MessageNotHandledException (that means "not eligible"); handlers take one
parameter (two would make them async and swallow errors); derived values are
computed before posting (durable_rules cannot divide or call functions).
"""

from __future__ import annotations

import operator
import time
from functools import reduce
from typing import Any

from durable import engine
from durable.lang import m, post, ruleset, when_all

from bench.policies import BenchPolicy, Cond

_OPS = {">=": operator.ge, "<=": operator.le, "==": operator.eq}


def _cond(c: Cond) -> Any:
    return _OPS[c.op](getattr(m, c.field), c.value)


def build_rulesets(policies: list[BenchPolicy], prefix: str, fired: set[tuple[str, str]]) -> None:
    for p in policies:
        parts = []
        for crit in p.criteria:
            if isinstance(crit, list):
                parts.append(reduce(operator.or_, [_cond(c) for c in crit]))
            else:
                parts.append(_cond(crit))
        with ruleset(f"{prefix}{p.id}"):
            when_all(reduce(operator.and_, parts))(_handler(p.id, fired))


def _handler(policy_id: str, fired: set[tuple[str, str]]) -> Any:
    # exactly one parameter: durable_rules takes a two-parameter handler as async
    def eligible(c: Any) -> None:
        fired.add((c.m.id, policy_id))

    return eligible


def run(
    policies: list[BenchPolicy], rows: list[dict[str, object]], prefix: str = "bench"
) -> tuple[float, set[tuple[str, str]]]:
    """Post every row to every policy's ruleset; (seconds, eligible (profile, policy) pairs)."""
    fired: set[tuple[str, str]] = set()
    build_rulesets(policies, prefix, fired)
    start = time.perf_counter()
    for row in rows:
        for p in policies:
            try:  # noqa: SIM105 - cheaper than contextlib.suppress in this hot loop
                post(f"{prefix}{p.id}", row)
            except engine.MessageNotHandledException:
                pass
    return time.perf_counter() - start, fired
