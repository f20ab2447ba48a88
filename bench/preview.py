"""Benchmark: `zhida preview` of one policy over stored profiles (PostgreSQL).

    python -m bench.preview --profiles 1000000

Loads N synthetic enterprises into a fresh database (COPY), then times the preview
of one policy end to end: loading every stored profile of the audience, the
stored decisions of the policy, vectorised evaluation, the comparison, grouping by
city and industry, and sample explanations. Also checks that it wrote nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from bench.policies import make_policies
from bench.reeval import PG_ADMIN, load_profiles


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from sqlalchemy import func, select

    from tests.support.scratch import scratch_database
    from zhida.publishing.versions import check_policy
    from zhida.runs.preview import impact_of
    from zhida.store.db import session_scope
    from zhida.store.models import Base

    def row_counts(session: object) -> dict[str, int]:
        return {
            name: int(session.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[attr-defined]
            for name, table in Base.metadata.tables.items()
        }

    with scratch_database(PG_ADMIN, "zhida_bench") as url:
        load = load_profiles(url, args.profiles, args.seed)
        policy = check_policy(make_policies(1)[0].yaml, "bench-000.yaml", "")
        with session_scope(url) as session:
            before = row_counts(session)
            start = time.perf_counter()
            impact = impact_of(session, policy, "", dt.date(2026, 4, 1))
            seconds = time.perf_counter() - start
            after = row_counts(session)
            session.rollback()
        print(
            json.dumps(
                {
                    "profiles": impact.profiles,
                    "seconds": round(seconds, 2),
                    "counts": impact.counts,
                    "wrote_nothing": before == after,
                    "load": load,
                },
                ensure_ascii=False,
            )
        )


if __name__ == "__main__":
    main()
