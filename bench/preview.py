"""Benchmark: `zhida preview` of one policy over stored profiles (PostgreSQL).

    python -m bench.preview --profiles 1000000 [--old DIR] [--repeat 2]

Loads N synthetic enterprises into a fresh database (COPY, migrated by this checkout),
then times the preview of one policy end to end: loading every stored profile of the
audience, the stored decisions of the policy, vectorised evaluation, the comparison,
grouping by city and industry, and sample explanations. Each preview runs in a fresh
process of the code it measures: this checkout ("new") and, with `--old`, an older
checkout (an unpacked `git archive`) against the same database, alternated; their
counts must be equal. Each also checks that it wrote nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.reeval import PG_ADMIN, load_profiles

ROOT = Path(__file__).resolve().parents[1]

# run in the measured checkout: its own zhida and bench.policies
_ONE = """
import datetime as dt, json, sys, time
from sqlalchemy import func, select
from bench.policies import make_policies
from zhida.publishing.versions import check_policy
try:
    from zhida.runs.preview import impact_of
except ImportError:  # where it lived before 65e11f6 (e.g. 1ccb95f, issue 13's baseline)
    from zhida.cli.policy_admin import impact_of
from zhida.store.db import session_scope
from zhida.store.models import Base

def row_counts(session):
    return {n: int(session.scalar(select(func.count()).select_from(t)) or 0)
            for n, t in Base.metadata.tables.items()}

policy = check_policy(make_policies(1)[0].yaml, "bench-000.yaml", "")
with session_scope(sys.argv[1]) as session:
    before = row_counts(session)
    start = time.perf_counter()
    impact = impact_of(session, policy, "", dt.date(2026, 4, 1))
    seconds = time.perf_counter() - start
    after = row_counts(session)
    session.rollback()
print(json.dumps({"profiles": impact.profiles, "seconds": round(seconds, 2),
                  "counts": impact.counts, "wrote_nothing": before == after,
                  "groups": [impact.by_city, impact.by_industry]}))
"""


def preview_in(checkout: Path, url: str) -> dict[str, Any]:
    """One preview in a fresh process of `checkout`'s code."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run(
        [sys.executable, "-c", _ONE, url],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {**json.loads(out.stdout), "load_1min": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--old", type=Path, help="an older checkout to measure beside this one")
    ap.add_argument("--repeat", type=int, default=1, help="rounds (old and new alternate)")
    args = ap.parse_args()
    from tests.support.scratch import scratch_database

    checkouts = {"new": ROOT} | ({"old": args.old.resolve()} if args.old else {})
    with scratch_database(PG_ADMIN, "zhida_bench") as url:
        report: dict[str, Any] = {"load": load_profiles(url, args.profiles, args.seed)}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in checkouts}
        for k in range(args.repeat):
            order = list(checkouts) if k % 2 == 0 else list(reversed(checkouts))
            for name in order:
                runs[name].append(preview_in(checkouts[name], url))
                print(name, json.dumps(runs[name][-1], ensure_ascii=False), file=sys.stderr)
    for name, got in runs.items():
        report[name] = {
            "seconds": [r["seconds"] for r in got],
            "load_1min": [r["load_1min"] for r in got],
            "wrote_nothing": all(r["wrote_nothing"] for r in got),
            "profiles": got[0]["profiles"],
            "counts": got[0]["counts"],
        }
    if "old" in runs:
        report["same_counts"] = all(
            r["counts"] == runs["new"][0]["counts"] for g in runs.values() for r in g
        )
        report["same_groups"] = all(
            r["groups"] == runs["new"][0]["groups"] for g in runs.values() for r in g
        )
        report["old_over_new_best"] = round(
            min(report["old"]["seconds"]) / min(report["new"]["seconds"]), 2
        )
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
