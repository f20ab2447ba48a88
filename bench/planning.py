"""Benchmark: planning notification rows from transitions into eligibility (PostgreSQL).

    python -m bench.planning --transitions 100000 [--policies K]

A fresh database gets N synthetic enterprises (COPY), one published policy version,
N eligible decisions and N transitions into eligible (what a run leaves); then
`plan_notifications` turns them into rows (in-app message and inbox row, SMS or a
skipped SMS row; links are minted when sent), timed end to end with the commit. The baseline,
in the same run on its own fresh database, is the same planner with each batch
written before the next is built (`pipeline=False`). With `--policies K`, N / K
enterprises each become eligible for K policies at once (K versions published
together): N transitions again, but each recipient's SMS after the first join its
first as a digest (`ZHIDA_SMS_DIGESTS`, on by default). Prints JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POLICY = """id: bench-plan
title: 基准政策
audience: enterprise
window: {opens: 2026-01-01, closes: 2026-12-31}
benefit: {amount: 10万}
criteria:
  - {id: rev, label: 营收不低于0元, when: revenue >= 0}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--transitions", type=int, default=100_000)
    ap.add_argument("--policies", type=int, default=1, help="policies each profile enters")
    ap.add_argument("--admin-url", default=ADMIN)
    ap.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the sequential run (batches written before the next is built)",
    )
    args = ap.parse_args()
    modes = [True] if args.no_baseline else [True, False]
    results = {
        ("pipelined" if pipeline else "sequential"): measure(
            args.admin_url, args.transitions, pipeline, args.policies
        )
        for pipeline in modes
    }
    if len(results) == 2:
        results["speedup"] = round(
            results["sequential"]["seconds"] / results["pipelined"]["seconds"], 2
        )
    print(json.dumps(results, ensure_ascii=False))


def measure(admin_url: str, n: int, pipeline: bool, policies: int = 1) -> dict[str, object]:
    """A fresh database with n transitions (n / policies profiles, each into `policies`
    policies), their profiles and decisions; plan them, timed."""
    from tests.support.scratch import scratch_database
    from zhida.channels.plan import plan_notifications
    from zhida.settings import Settings
    from zhida.store.db import session_scope
    from zhida.store.models import Notification

    with scratch_database(admin_url, "zhida_bench_plan") as url:
        prepare(url, n // policies, policies)
        now = dt.datetime(2026, 5, 6, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        settings = Settings(database_url=url, redis_url="")
        wal_before = wal_lsn(url)
        rss_before = reset_peak_rss()
        start = time.perf_counter()
        with session_scope(url) as s:
            summary = plan_notifications(s, now, settings, pipeline=pipeline)
        seconds = time.perf_counter() - start
        rss_peak = peak_rss_mb()
        wal_mb = round((wal_lsn(url) - wal_before) / 2**20, 1)
        with session_scope(url) as s:
            rows = s.scalar(select(func.count()).select_from(Notification))
        with session_scope(url) as s:
            digests = s.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.status == "digest")
            )
        return {
            "policies_per_profile": policies,
            "transitions": summary.transitions,
            "seconds": round(seconds, 2),
            "transitions_per_s": round(summary.transitions / seconds),
            "notification_rows": rows,
            "inapp": summary.inapp,
            "sms_queued": summary.sms_queued,
            "sms_skipped": dict(summary.skipped),
            "sms_digest_members": digests,
            "rss_mb_before": rss_before,
            "rss_mb_peak": rss_peak,
            "wal_mb": wal_mb,
        }


def wal_lsn(url: str) -> int:
    """The server's current WAL position in bytes (the WAL written between two reads)."""
    from zhida.store.db import get_engine

    with get_engine(url).connect() as conn:
        return int(conn.execute(text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")).scalar())


def reset_peak_rss() -> float:
    """Linux: reset the process's peak RSS (VmHWM) to its current RSS; that RSS in MB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"{key} not in /proc/self/status")


def prepare(url: str, n: int, policies: int = 1) -> None:
    """What a run leaves: n enterprises (COPY), `policies` published policy versions, and
    for each enterprise and version an eligible decision and a transition into it."""
    from zhida.profiles.synth import synthesize_enterprises
    from zhida.store.db import session_scope
    from zhida.store.models import Decision, Officer, PolicyVersion, Transition
    from zhida.store.profiles import profile_json

    df = synthesize_enterprises(n, seed=3)
    ids = df["id"].to_list()
    with session_scope(url) as s:
        raw = s.connection().connection.driver_connection
        with raw.cursor().copy("COPY profiles (id, kind, data, source) FROM STDIN") as cp:
            for row in df.to_dicts():
                cp.write_row(
                    (
                        row["id"],
                        "enterprise",
                        json.dumps(profile_json(row), ensure_ascii=False),
                        "b",
                    )
                )
        officer = Officer(name="b", role="admin", token_hash="x")
        s.add(officer)
        s.flush()
        for k in range(policies):
            pid = "bench-plan" if policies == 1 else f"bench-plan-{k}"
            version = PolicyVersion(
                policy_id=pid,
                version=1,
                status="published",
                audience="enterprise",
                title="基准政策" if policies == 1 else f"基准政策{k}",
                yaml_text=POLICY.replace("id: bench-plan", f"id: {pid}", 1),
                schema_yaml="",
                sha256=f"x{k}",
                author_id=officer.id,
            )
            s.add(version)
            s.flush()
            s.execute(
                Decision.__table__.insert(),
                [
                    {
                        "profile_id": profile_id,
                        "policy_id": pid,
                        "policy_version_id": version.id,
                        "outcome": 2,
                        "failed": [],
                        "unknown": [],
                        "benefit": 1e5,
                        "score": 0.8,
                        "run_id": 1,
                        "updated_at": dt.datetime.now(dt.UTC),
                    }
                    for profile_id in ids
                ],
            )
            s.execute(
                Transition.__table__.insert(),
                [
                    {
                        "run_id": 1,
                        "profile_id": profile_id,
                        "policy_id": pid,
                        "policy_version_id": version.id,
                        "from_outcome": 0,
                        "to_outcome": 2,
                        "notified": False,
                    }
                    for profile_id in ids
                ],
            )


if __name__ == "__main__":
    main()
