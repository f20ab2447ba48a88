"""Benchmark a re-evaluation run end to end: PostgreSQL + Celery + a private Redis.

    python -m bench.reeval --profiles 1000000 [--workers 1 2] [--chunk-size 50000]
        [--old DIR] [--repeat 2]

Into a fresh PostgreSQL database (dropped afterwards unless --keep-db): synthetic
enterprises written with COPY, one published policy version from bench/policies.py.
Then, for each worker count, a `zhida worker --concurrency N` process against a
private redis-server, and one run timed from its creation (chunks cut, saved,
queued) to `done` in the database, every decision and transition written. Before
each measured run the decisions and transitions are emptied, so every run does the
same work: a first evaluation where every eligible or unknown result is a new
decision and a transition. A second run with nothing changed (compare only, nothing
written) is timed too. With `--old DIR` (an older checkout, e.g. an unpacked `git
archive`), the workers of that code are measured too, against the same database,
alternating with this checkout's; the report gives old / new per worker count.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 4, 1)
PG_ADMIN = os.environ.get("ZHIDA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def load_profiles(url: str, n: int, seed: int) -> dict[str, float]:
    """Synthesise n enterprises and COPY them into profiles (id, kind, data JSON)."""
    from zhida.profiles.synth import synthesize_enterprises
    from zhida.store.db import get_engine

    t0 = time.perf_counter()
    df = synthesize_enterprises(n, seed)
    t1 = time.perf_counter()
    esc = [("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")]
    data = pl.struct(pl.all()).struct.json_encode()
    for a, b in esc:
        data = data.str.replace_all(a, b, literal=True)
    rows = df.select(
        pl.col("id"),
        pl.lit("enterprise").alias("kind"),
        data.alias("data"),
        pl.lit("bench").alias("source"),
    )
    raw = get_engine(url).raw_connection()
    try:
        cur = raw.cursor()
        step = 200_000
        for start in range(0, rows.height, step):
            buf = io.BytesIO()
            rows.slice(start, step).write_csv(
                buf, separator="\t", include_header=False, quote_style="never"
            )
            with cur.copy("COPY profiles (id, kind, data, source) FROM STDIN") as copy:
                copy.write(buf.getvalue())
        raw.commit()
        raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        cur.execute("VACUUM (ANALYZE) profiles")
    finally:
        raw.close()
    return {"synthesize_s": round(t1 - t0, 2), "copy_s": round(time.perf_counter() - t1, 2)}


def publish_policy(url: str, index: int) -> int:
    from bench.policies import make_policies
    from zhida.store.db import session_scope
    from zhida.store.models import Officer, PolicyVersion

    policy = make_policies(index + 1)[index]
    with session_scope(url) as session:
        officer = Officer(name="bench", role="admin", token_hash="b" * 64)
        session.add(officer)
        session.flush()
        version = PolicyVersion(
            policy_id=policy.id,
            version=1,
            status="published",
            audience="enterprise",
            title=policy.id,
            yaml_text=policy.yaml,
            schema_yaml="",
            sha256=uuid.uuid4().hex,
            author_id=officer.id,
            approver_id=officer.id,
            published_at=dt.datetime.now(dt.UTC),
        )
        session.add(version)
        session.flush()
        return version.id


def start_worker(
    env: dict[str, str], concurrency: int, log: Path, checkout: Path = ROOT
) -> subprocess.Popen[bytes]:
    """A `zhida worker` of `checkout`'s code."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zhida.cli",
            "worker",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
        ],
        cwd=checkout,
        env={**env, "PYTHONPATH": str(checkout)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # ready when the pool answers a ping
    from zhida.worker import app

    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        replies = app.control.ping(timeout=0.2)
        if replies:
            return proc
    raise RuntimeError("worker did not start")


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    return total


def _pg_backends(url: str) -> list[int]:
    from sqlalchemy import text

    from zhida.store.db import session_scope

    with session_scope(url) as session:
        return [
            int(p)
            for p in session.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
        ]


def timed_run(
    url: str, version_id: int, chunk_size: int, worker: subprocess.Popen[bytes]
) -> dict[str, Any]:
    """One run, timed; also the CPU seconds its worker processes and their PostgreSQL
    backends used (pool processes and backends persist between runs)."""
    pool = [worker.pid, *_children(worker.pid)]
    backends = _pg_backends(url)
    cpu0 = _cpu_seconds(pool), _cpu_seconds(backends)
    from zhida.runs.reevaluate import create_run
    from zhida.store.db import session_scope
    from zhida.store.models import Run
    from zhida.worker import start_run

    t0 = time.perf_counter()
    with session_scope(url) as session:
        run = create_run(session, "manual", "enterprise", [version_id], AS_OF, chunk_size)
        run_id, chunks = run.id, run.chunks_total
    t_cut = time.perf_counter() - t0
    start_run(run_id)
    while True:
        with session_scope(url) as session:
            r = session.get(Run, run_id)
            assert r is not None
            if r.status in ("done", "failed"):
                break
        time.sleep(0.05)
    seconds = time.perf_counter() - t0
    backends = sorted(set(backends) | set(_pg_backends(url)))
    cpu_workers = _cpu_seconds(pool) - cpu0[0]
    cpu_pg = _cpu_seconds(backends) - cpu0[1]
    assert r.status == "done", r.error
    profiles = int(r.counts["profiles"])
    written = int(r.counts["decisions_written"]) + int(r.counts["decisions_deleted"])
    return {
        "run": run_id,
        "seconds": round(seconds, 2),
        "cut_s": round(t_cut, 2),
        "chunks": chunks,
        "chunks_per_s": round(chunks / seconds, 2),
        "rows_per_s": round(profiles / seconds),
        "decisions_written": written,
        "transitions": int(r.counts["transitions"]),
        "written_rows_per_s": round((written + int(r.counts["transitions"])) / seconds),
        "cpu_s_workers": round(cpu_workers, 2),
        "cpu_s_postgres": round(cpu_pg, 2),
        "cores_busy": round((cpu_workers + cpu_pg) / seconds, 2),
    }


def truncate_results(url: str) -> None:
    from sqlalchemy import text

    from zhida.store.db import session_scope

    with session_scope(url) as session:
        session.execute(text("TRUNCATE decisions, transitions"))
    with session_scope(url) as session:
        session.connection().exec_driver_sql("CHECKPOINT")


def measure(
    url: str,
    version_id: int,
    chunk_size: int,
    env: dict[str, str],
    n: int,
    tmp: Path,
    checkout: Path,
) -> dict[str, Any]:
    """A warm-up run, then a first run (every decision new) and an unchanged re-run, by
    n worker processes of `checkout`'s code."""
    truncate_results(url)
    load_before = os.getloadavg()[0]
    worker = start_worker(env, n, tmp / f"worker{n}.log", checkout)
    try:
        timed_run(url, version_id, chunk_size, worker)  # warm-up
        truncate_results(url)
        first = timed_run(url, version_id, chunk_size, worker)
        steady = timed_run(url, version_id, chunk_size, worker)  # nothing changed: compare only
    finally:
        stop_worker(worker)
    print(
        f"{checkout.name} {n} worker process(es): {first['seconds']} s, "
        f"{first['rows_per_s']:,} profiles/s; unchanged re-run "
        f"{steady['seconds']} s (load average before: {load_before:.2f})",
        file=sys.stderr,
    )
    return {"first": first, "unchanged": steady, "loadavg_1min_before": round(load_before, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--chunk-size", type=int, default=50_000)
    ap.add_argument("--policy", type=int, default=0, help="index into make_policies")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each worker count this many times, alternating; the "
        "fastest counts (this machine may be shared)",
    )
    ap.add_argument("--old", type=Path, help="an older checkout to measure beside this one")
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is needed")

    from tests.support.private_redis import PrivateRedis
    from tests.support.scratch import scratch_database
    from zhida.settings import get_settings

    database = contextlib.ExitStack()
    url = database.enter_context(scratch_database(PG_ADMIN, "zhida_bench", keep=args.keep_db))
    tmp = Path(tempfile.mkdtemp(prefix="zhida-bench-"))
    redis = PrivateRedis(tmp / "redis").start()
    report: dict[str, Any] = {
        "profiles": args.profiles,
        "chunk_size": args.chunk_size,
        "cpus": os.cpu_count(),
        "runs": {},
    }
    try:
        report["load"] = load_profiles(url, args.profiles, args.seed)
        version_id = publish_policy(url, args.policy)
        # decisions and transitions only: notification planning is measured by its own bench
        os.environ.update(
            {"ZHIDA_DATABASE_URL": url, "ZHIDA_REDIS_URL": redis.url, "ZHIDA_PLAN_AFTER_RUN": "0"}
        )
        get_settings.cache_clear()
        from zhida.worker import configure

        configure()
        env = dict(os.environ)
        checkouts = {"new": ROOT} | ({"old": args.old.resolve()} if args.old else {})
        samples: dict[str, list[dict[str, Any]]] = {}
        for k in range(args.repeat):
            order = list(checkouts) if k % 2 == 0 else list(reversed(checkouts))
            for code in order:
                for n in args.workers:
                    key = str(n) if code == "new" else f"old-{n}"
                    samples.setdefault(key, []).append(
                        measure(url, version_id, args.chunk_size, env, n, tmp, checkouts[code])
                    )
        for key, got in samples.items():
            best = min(got, key=lambda s: s["first"]["seconds"])
            report["runs"][key] = {
                **best,
                "all_first_seconds": [s["first"]["seconds"] for s in got],
                "all_unchanged_seconds": [s["unchanged"]["seconds"] for s in got],
                "loadavg_1min_before_each": [s["loadavg_1min_before"] for s in got],
            }
        ones, twos = report["runs"].get("1"), report["runs"].get("2")
        if ones and twos:
            report["scaling_1_to_2"] = round(ones["first"]["seconds"] / twos["first"]["seconds"], 2)
            report["scaling_1_to_2_unchanged"] = round(
                ones["unchanged"]["seconds"] / twos["unchanged"]["seconds"], 2
            )
        for n in args.workers if args.old else []:
            new, old = report["runs"][str(n)], report["runs"][f"old-{n}"]
            report[f"old_over_new_{n}_workers"] = {
                "first": round(old["first"]["seconds"] / new["first"]["seconds"], 2),
                "unchanged": round(old["unchanged"]["seconds"] / new["unchanged"]["seconds"], 2),
                "same_counts": old["first"]["decisions_written"]
                == new["first"]["decisions_written"]
                and old["first"]["transitions"] == new["first"]["transitions"],
            }
    finally:
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        database.close()  # dropped unless --keep-db
        if args.keep_db:
            report["database"] = url
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
