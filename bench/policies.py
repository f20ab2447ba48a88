"""Benchmark policies generated from templates like the example pack's.

Each condition exists twice: as zhida expression text, and as a comparison on a
precomputed value for durable_rules, which cannot divide or call functions.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Cond:
    expr: str  # zhida expression
    field: str  # derived field for durable_rules
    op: str  # >=, <=, ==
    value: float | str | bool


def _templates(rng: random.Random) -> list[Cond]:
    city = rng.choice(["3301", "3302", "3303", "3306", "3307"])
    section = rng.choice(["C", "F", "I", "M"])
    years = rng.randint(1, 5)
    rev_lo = rng.choice([1000, 2000, 5000, 10000])  # 万
    rev_hi = rng.choice([20000, 40000, 100000])
    emp_lo, emp_hi = rng.choice([5, 10, 20]), rng.choice([300, 500, 1000])
    rd = rng.choice([3, 4, 5])
    rds = rng.choice([10, 15, 20])
    pat, inv = rng.randint(1, 6), rng.randint(1, 3)
    return [
        Cond(f"years_since(established) >= {years}", "age_years", ">=", years),
        Cond(f"revenue >= {rev_lo}万", "revenue", ">=", rev_lo * 1e4),
        Cond(f"revenue <= {rev_hi}万", "revenue", "<=", rev_hi * 1e4),
        Cond(f"employees >= {emp_lo}", "employees", ">=", emp_lo),
        Cond(f"employees <= {emp_hi}", "employees", "<=", emp_hi),
        Cond(f"rd_expense / revenue >= {rd}%", "rd_ratio", ">=", rd / 100),
        Cond(f"rd_staff / employees >= {rds}%", "rd_staff_ratio", ">=", rds / 100),
        Cond(f"patents >= {pat}", "patents", ">=", pat),
        Cond(f"invention_patents >= {inv}", "invention_patents", ">=", inv),
        Cond(f'in_region(region, ["{city}"])', "city", "==", city),
        Cond(f'starts_with(industry, "{section}")', "section", "==", section),
        Cond('tax_credit == "A"', "tax_credit", "==", "A"),
        Cond("high_tech", "high_tech", "==", True),
        Cond("specialized_sme", "specialized_sme", "==", True),
    ]


@dataclass
class BenchPolicy:
    id: str
    yaml: str
    # top-level criteria: a condition, or a list of conditions of which one must hold
    criteria: list[Cond | list[Cond]]


def make_policies(count: int, seed: int = 7) -> list[BenchPolicy]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        conds = rng.sample(_templates(rng), rng.randint(3, 6))
        criteria: list[Cond | list[Cond]] = list(conds)
        if len(conds) >= 4 and rng.random() < 0.4:  # some policies have an any: group
            criteria = [*conds[:-2], [conds[-2], conds[-1]]]
        lines = [
            f"id: bench-{i:03d}",
            f"title: 基准政策{i}",
            "audience: enterprise",
            "benefit: {amount: 10万}",
            "criteria:",
        ]
        for k, c in enumerate(criteria):
            if isinstance(c, list):
                lines += [f"  - id: g{k}", f"    label: 组合{k}", "    any:"]
                lines += [
                    f"      - {{id: g{k}-{j}, label: 条件{k}-{j}, when: '{s.expr}'}}"
                    for j, s in enumerate(c)
                ]
            else:
                lines.append(f"  - {{id: c{k}, label: 条件{k}, when: '{c.expr}'}}")
        out.append(BenchPolicy(f"bench-{i:03d}", "\n".join(lines) + "\n", criteria))
    return out


def derived_rows(df: pl.DataFrame, as_of: dt.date) -> list[dict[str, object]]:
    """Profiles as durable_rules facts: derived values precomputed, complete rows only."""
    from dateutil.relativedelta import relativedelta

    rows = []
    for r in df.to_dicts():
        if any(
            r.get(k) is None
            for k in (
                "established",
                "revenue",
                "employees",
                "rd_expense",
                "rd_staff",
                "patents",
                "invention_patents",
                "region",
                "industry",
                "tax_credit",
                "high_tech",
                "specialized_sme",
            )
        ):
            continue
        if not r["revenue"] or not r["employees"]:
            continue  # a zero divisor is unknown in zhida; durable_rules cannot say so
        rows.append(
            {
                "id": r["id"],
                "age_years": relativedelta(as_of, r["established"]).years,
                "revenue": float(r["revenue"]),
                "employees": float(r["employees"]),
                "rd_ratio": r["rd_expense"] / r["revenue"],
                "rd_staff_ratio": r["rd_staff"] / r["employees"],
                "patents": float(r["patents"]),
                "invention_patents": float(r["invention_patents"]),
                "city": r["region"][:4],
                "section": r["industry"][:1],
                "tax_credit": r["tax_credit"],
                "high_tech": r["high_tech"],
                "specialized_sme": r["specialized_sme"],
            }
        )
    return rows


def sample_indices(n: int, k: int, seed: int = 3) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n, size=min(k, n), replace=False))
