"""Benchmark SMS delivery with the real pieces, in one run.

    python -m bench.delivery [--n 4000] [--low-n 600] [--low-rate 50]

Starts a private redis-server (broker + token bucket), the local fake Twilio server
(tests/support/fake_twilio.py; the official twilio SDK talks to it over HTTP), a scratch
PostgreSQL database, and two `celery worker` processes (thread pool). Then:

1. throughput: N queued SMS rows are inserted directly, send tasks are queued as
   `tasks.enqueue_sms` does (`zhida.sms.send_batch`, `--batch` ids a task; `--batch 1`
   queues one `zhida.sms.send` per row), and the SMS/s handed to the provider are
   measured at the fake server, with a configured rate that does not limit
   (`--high-rate`);
2. rate cap: the workers are restarted with a low configured rate (`--low-rate`,
   default 50/s) and another batch is sent; the largest number of messages the
   fake server received in any 1-second window is reported.

Each phase is reconciled: every row `sent` with a provider_ref, every provider_ref
one message the server accepted, no recipient messaged twice, none lost.
Prints JSON. Status callbacks are off (receipts are not what is measured).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from celery import Celery
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.celery_worker import CeleryWorker  # noqa: E402 - after the path is set
from tests.support.fake_twilio import FakeTwilio  # noqa: E402
from tests.support.private_redis import PrivateRedis  # noqa: E402
from tests.support.scratch import scratch_database  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402
from zhida.channels.delivery.batch import iter_chunks  # noqa: E402
from zhida.channels.delivery.sender import BATCH  # noqa: E402
from zhida.channels.ratelimit import max_in_window  # noqa: E402
from zhida.worker import TASK_ROUTES, TaskNames  # noqa: E402

SEND, SEND_BATCH = TaskNames.SEND, TaskNames.SEND_BATCH
from zhida.store.db import get_engine, session_scope  # noqa: E402
from zhida.store.models import Notification  # noqa: E402

FROM = "+15005550006"
PG = os.environ.get("ZHIDA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


BENCH_POLICY = """id: bench
title: 专精特新“小巨人”企业认定
audience: enterprise
criteria:
  - {id: c1, label: 营收不低于1亿元, when: revenue >= 1亿}
"""


def insert_rows(url: str, phase: int, n: int) -> list[int]:
    """N queued SMS rows, one distinct recipient each (so duplicates show), each true as
    the sender checks before sending: a published version of the bench policy, the
    profile, its eligible decision."""
    with get_engine(url).begin() as conn:
        version = conn.execute(
            text("SELECT id FROM policy_versions WHERE policy_id = 'bench'")
        ).scalar()
        if version is None:
            officer = conn.execute(
                text(
                    "INSERT INTO officers (name, role, token_hash, created_at) "
                    "VALUES ('bench', 'admin', :h, now()) RETURNING id"
                ),
                {"h": "b" * 64},
            ).scalar()
            version = conn.execute(
                text(
                    "INSERT INTO policy_versions (policy_id, version, status, audience, title, "
                    "yaml_text, schema_yaml, sha256, author_id, created_at) VALUES ('bench', 1, "
                    "'published', 'enterprise', 'bench', :y, '', 'bench', :o, now()) RETURNING id"
                ),
                {"y": BENCH_POLICY, "o": officer},
            ).scalar()
        people = [
            {"id": f"B{phase}-{i:07d}", "data": json.dumps({"name": f"杭州测试{i}科技有限公司"})}
            for i in range(n)
        ]
        conn.execute(
            text(
                "INSERT INTO profiles (id, kind, data, source, updated_at) "
                "VALUES (:id, 'enterprise', CAST(:data AS jsonb), 'bench', now())"
            ),
            people,
        )
        conn.execute(
            text(
                "INSERT INTO decisions (profile_id, policy_id, policy_version_id, outcome, "
                "failed, unknown, score, updated_at) VALUES (:id, 'bench', :v, 2, "
                "'[]', '[]', 0, now())"
            ),
            [{"id": p["id"], "v": version} for p in people],
        )
    rows = [
        {
            "profile_id": f"B{phase}-{i:07d}",
            "policy_id": "bench",
            "policy_version_id": version,
            "channel": "sms",
            "status": "queued",
            "to": f"+861{phase}{i:09d}",
            "segments": 1,
            "attempts": 0,
        }
        for i in range(n)
    ]
    with get_engine(url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO notifications (profile_id, policy_id, policy_version_id, channel, "
                'status, "to", body, segments, attempts, due_at, created_at, updated_at) '
                "VALUES (:profile_id, :policy_id, :policy_version_id, :channel, :status, :to, "
                "'', :segments, :attempts, now(), now(), now())"
            ),
            rows,
        )
        # the statistics a live table has: on a table never analyzed the claim's plan
        # rescans every queued row per row (seconds per batch of 25 at 2,000 rows)
        conn.execute(text("ANALYZE notifications, profiles, decisions, policy_versions"))
        ids = (
            conn.execute(
                text("SELECT id FROM notifications WHERE profile_id LIKE :p ORDER BY id"),
                {"p": f"B{phase}-%"},
            )
            .scalars()
            .all()
        )
    return [int(i) for i in ids]


def workers_ready(broker: Celery, count: int) -> bool:
    try:
        return len(broker.control.ping(timeout=0.5) or []) >= count
    except Exception:
        return False


def run_phase(
    url: str,
    redis_url: str,
    fake: FakeTwilio,
    *,
    phase: int,
    n: int,
    rate: float,
    workers: int,
    concurrency: int,
    pool: str,
    log_dir: Path,
    batch: int,
) -> dict[str, Any]:
    env = {
        "ZHIDA_DATABASE_URL": url,
        "ZHIDA_REDIS_URL": redis_url,
        "ZHIDA_SMS_PROVIDER": "twilio",
        "ZHIDA_TWILIO_ACCOUNT_SID": fake.account_sid,
        "ZHIDA_TWILIO_AUTH_TOKEN": fake.auth_token,
        "ZHIDA_TWILIO_FROM": FROM,
        "ZHIDA_TWILIO_BASE_URL": fake.url,
        "ZHIDA_BASE_URL": "http://127.0.0.1:9",
        "ZHIDA_QUIET_START_HOUR": "0",
        "ZHIDA_QUIET_END_HOUR": "0",
        "ZHIDA_SMS_RATE_PER_SECOND": str(rate),
    }
    ids = insert_rows(url, phase, n)
    broker = Celery("bench-client", broker=redis_url, set_as_current=False)
    broker.conf.task_routes = TASK_ROUTES  # as zhida.worker routes them
    procs = [
        CeleryWorker(
            env,
            pool=pool,
            concurrency=concurrency,
            name=f"b{phase}w{k}",
            log_path=log_dir / f"worker-{phase}-{k}.log",
        ).start()
        for k in range(workers)
    ]
    try:
        wait_until(lambda: workers_ready(broker, workers), timeout=60, interval=0.2)
        before = len(fake.messages)
        start = time.time()
        with broker.producer_or_acquire() as producer:  # as tasks.enqueue_sms does
            if batch > 1:
                for chunk in iter_chunks(ids, batch):
                    broker.send_task(SEND_BATCH, args=[chunk], producer=producer)
            else:
                for nid in ids:
                    broker.send_task(SEND, args=[nid], producer=producer)
        queued_in = time.time() - start
        wait_until(
            lambda: len(fake.messages) - before >= n, timeout=max(120, 3 * n / rate), interval=0.1
        )
        # let stragglers (duplicates, if any) show up
        time.sleep(1.0)
        wall = time.time() - start
    finally:
        for proc in procs:
            proc.stop()
        broker.close()
    messages = fake.messages[before:]
    stamps = sorted(m.at for m in messages)
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    per_second = Counter(int(t - stamps[0]) for t in stamps)
    full_seconds = [per_second[k] for k in range(1, int(span))]  # drop ramp-up and tail

    with session_scope(url) as session:
        statuses = dict(
            session.execute(
                select(Notification.status, func.count())
                .where(Notification.id.in_(ids))
                .group_by(Notification.status)
            ).all()
        )
        refs = {
            r
            for (r,) in session.execute(
                select(Notification.provider_ref).where(Notification.id.in_(ids))
            )
        }
    to_counts = Counter(m.to for m in messages)
    sids = {m.sid for m in messages}
    return {
        "rows": n,
        "configured_rate_per_s": rate,
        "workers": workers,
        "pool": pool,
        "concurrency": concurrency,
        "batch": batch,
        "enqueue_s": round(queued_in, 3),
        "first_to_last_s": round(span, 3),
        "sms_per_s": round((len(stamps) - 1) / span, 1) if span else None,
        "sms_per_s_from_enqueue": round(n / (stamps[-1] - start), 1),
        "first_sms_after_enqueue_s": round(stamps[0] - start, 2),
        "median_full_second": statistics.median(full_seconds) if full_seconds else None,
        "max_in_any_1s_window": max_in_window(stamps, 1.0),
        "provider_accepted": len(messages),
        "rows_by_status": statuses,
        "duplicates": sum(c - 1 for c in to_counts.values() if c > 1),
        "lost": n - len(to_counts),
        "refs_match_provider": refs == sids,
        "wall_s": round(wall, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="rows in the throughput phase")
    parser.add_argument("--high-rate", type=float, default=5000.0)
    parser.add_argument("--low-n", type=int, default=600, help="rows in the rate-cap phase")
    parser.add_argument("--low-rate", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--pool", default="threads", choices=["threads", "prefork"])
    parser.add_argument(
        "--batch",
        type=int,
        default=BATCH,
        help="ids per send task (1: one zhida.sms.send task per row)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "delivery")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    result: dict[str, Any] = {"cpus": os.cpu_count()}
    with (
        scratch_database(PG, "zhida_sms") as url,
        PrivateRedis() as redis_server,
        FakeTwilio(callbacks=False, lifetime=3600) as fake,
    ):
        common = {
            "workers": args.workers,
            "concurrency": args.concurrency,
            "pool": args.pool,
            "log_dir": args.out,
            "batch": args.batch,
        }
        result["throughput"] = run_phase(
            url, redis_server.url, fake, phase=1, n=args.n, rate=args.high_rate, **common
        )
        result["rate_cap"] = run_phase(
            url, redis_server.url, fake, phase=2, n=args.low_n, rate=args.low_rate, **common
        )
    cap = result["rate_cap"]
    result["rate_cap"]["holds"] = cap["max_in_any_1s_window"] <= args.low_rate
    for phase in ("throughput", "rate_cap"):
        r = result[phase]
        r["reconciled"] = (
            r["duplicates"] == 0
            and r["lost"] == 0
            and r["rows_by_status"] == {"sent": r["rows"]}
            and r["refs_match_provider"]
        )
    print(json.dumps(result, indent=2))
    ok = all(result[p]["reconciled"] for p in ("throughput", "rate_cap")) and cap["holds"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
