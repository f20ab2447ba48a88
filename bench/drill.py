"""The delivery drill: SMS under faults, with the real pieces, counts reconciled.

    python -m bench.drill [--n 2000] [--phases all|NAME,NAME...] [--out bench/out/drill]

PostgreSQL (a scratch database), a private redis-server (broker, rate bucket, provider
health), two `celery worker --pool prefork` processes (tests/support/celery_worker.py),
the official twilio SDK against the local fake Twilio and, for failover, the official
Alibaba Cloud SDK against the local fake Aliyun. The drill acts as the beat: it queues
`dispatch_due` and `sweep` every second. Each phase inserts N queued SMS rows, one
recipient each, queues their send tasks as `enqueue_sms` does, injects its fault once a
third of them were accepted, waits until every row is final, then reconciles the rows
against what the provider(s) accepted:

- sigkill_mid_batch: SIGKILL one prefork pool process while it sends a batch
  (claimed rows, some already accepted by the provider, none recorded);
- sigkill_mid_run: SIGKILL a whole worker (its unacknowledged tasks come back after
  the visibility timeout, its claimed rows are swept);
- redis_restart: the broker restarts without persistence (queued tasks are lost;
  the sweeper re-queues their rows);
- provider_faults: 10% of recipients get 500 twice, 10% 429 twice, 5% a hang past
  the client timeout that Twilio then accepts, 2% a hang then a 500;
- failover: Twilio answers 503 to everything for the first third, Aliyun is the
  second provider; traffic moves to Aliyun and drifts back when Twilio recovers.

Figures per phase: sent (rows sent), lost (rows never sent, or sent with no message
at any provider), duplicates (messages beyond one per recipient), unsure rows resolved
by a lookup (found: accepted before the fault, recorded, not resent; resent: the
provider held none), and `reconciled` (every row sent once, every reference one
accepted message). Exit status 1 unless every phase is reconciled. Prints JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.delivery import insert_rows, workers_ready  # noqa: E402
from tests.support.celery_worker import CeleryWorker  # noqa: E402
from tests.support.fake_aliyun import FakeAliyun  # noqa: E402
from tests.support.fake_twilio import FakeTwilio  # noqa: E402
from tests.support.private_redis import PrivateRedis  # noqa: E402
from tests.support.scratch import scratch_database  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402
from zhida.channels.delivery.batch import iter_chunks  # noqa: E402
from zhida.channels.delivery.sender import BATCH  # noqa: E402
from zhida.store.db import session_scope  # noqa: E402
from zhida.store.models import Notification  # noqa: E402
from zhida.worker import TASK_ROUTES, TaskNames  # noqa: E402

PHASES = ("sigkill_mid_batch", "sigkill_mid_run", "redis_restart", "provider_faults", "failover")
FROM = "+15005550006"
PG = os.environ.get("ZHIDA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
OPEN = ("queued", "deferred", "sending", "unsure")
#: the drill's timings: sweeps after 10 s, unsure rows asked about after 3 s, a
#: provider call given up on after 1 s, visibility timeout 10 s
DRILL_ENV = {
    "ZHIDA_QUIET_START_HOUR": "0",
    "ZHIDA_QUIET_END_HOUR": "0",
    "ZHIDA_SMS_RATE_PER_SECOND": "3000",
    "ZHIDA_SWEEP_AFTER_SECONDS": "10",
    "ZHIDA_UNSURE_CHECK_SECONDS": "3",
    "ZHIDA_SMS_TIMEOUT_SECONDS": "1",
    "ZHIDA_SEND_BACKOFF_SECONDS": "0.3",
    "ZHIDA_SEND_MAX_RETRIES": "10",
    "ZHIDA_BROKER_VISIBILITY_TIMEOUT": "10",
    "ZHIDA_BASE_URL": "http://127.0.0.1:9",
    "ZHIDA_PLAN_AFTER_RUN": "0",
}


def children(pid: int) -> list[int]:
    """The process ids whose parent is `pid` (a prefork worker's pool processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


class Beat:
    """What `zhida beat` does for SMS, every `interval` seconds: dispatch_due and sweep
    (a broker that is away is tried again next time)."""

    def __init__(
        self, broker: Celery, interval: float = 1.0, on_tick: Callable[[], None] | None = None
    ):
        self.broker, self.interval, self.on_tick = broker, interval, on_tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for name in (TaskNames.DISPATCH, TaskNames.SWEEP):
                with contextlib.suppress(Exception):  # the broker may be restarting
                    self.broker.send_task(name)
            if self.on_tick is not None:
                self.on_tick()

    def __enter__(self) -> Beat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def open_rows(url: str, ids: list[int]) -> int:
    with session_scope(url) as session:
        return int(
            session.scalar(
                select(func.count()).where(Notification.id.in_(ids), Notification.status.in_(OPEN))
            )
            or 0
        )


def accepted(twilio: FakeTwilio, aliyun: FakeAliyun | None) -> int:
    return len(twilio.messages) + (len(aliyun.messages) if aliyun else 0)


def reconcile(
    url: str, ids: list[int], twilio: FakeTwilio, aliyun: FakeAliyun | None, before: tuple[int, int]
) -> dict[str, Any]:
    with session_scope(url) as session:
        rows = session.execute(
            select(
                Notification.id,
                Notification.to,
                Notification.status,
                Notification.provider_ref,
                Notification.provider,
                Notification.last_error,
            ).where(Notification.id.in_(ids))
        ).all()
    messages: list[tuple[str, str]] = [(m.to, m.sid) for m in twilio.messages[before[0] :]]
    if aliyun is not None:
        for m in aliyun.messages[before[1] :]:
            messages.append(("+86" + m.phone, m.biz_id))
            messages.append(("", f"OUT{m.out_id}"))  # a lookup's reference for it
    per_recipient = Counter(to for to, _ in messages if to)
    refs = {ref for _, ref in messages}
    statuses = Counter(r.status for r in rows)
    sent_rows = [r for r in rows if r.status in ("sent", "delivered")]
    unmatched = [r.id for r in sent_rows if r.provider_ref not in refs]
    never = [r.id for r in rows if per_recipient[r.to] == 0]
    notes = Counter(
        "found" if "holds" in (r.last_error or "") else "resent"
        for r in rows
        if "unsure:" in (r.last_error or "")
    )
    result = {
        "rows": len(rows),
        "sent": len(sent_rows),
        "lost": len({r.id for r in rows if r.status not in ("sent", "delivered")} | set(never)),
        "duplicates": sum(c - 1 for c in per_recipient.values() if c > 1),
        "rows_by_status": dict(statuses),
        "unsure_found": notes.get("found", 0),
        "unsure_resent": notes.get("resent", 0),
        "refs_unmatched": len(unmatched),
        "by_provider": dict(Counter(r.provider or "?" for r in sent_rows)),
    }
    result["reconciled"] = (
        result["sent"] == len(ids)
        and result["lost"] == 0
        and result["duplicates"] == 0
        and not unmatched
    )
    return result


def run_phase(
    name: str,
    *,
    n: int,
    phase: int,
    url: str,
    redis_server: PrivateRedis,
    twilio: FakeTwilio,
    aliyun: FakeAliyun,
    log_dir: Path,
    concurrency: int,
    timeout: float,
    overrides: dict[str, str] | None = None,
) -> dict[str, Any]:
    env = {
        **DRILL_ENV,
        **(overrides or {}),
        "ZHIDA_DATABASE_URL": url,
        "ZHIDA_REDIS_URL": redis_server.url,
        "ZHIDA_SMS_PROVIDER": "twilio",
        "ZHIDA_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "ZHIDA_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "ZHIDA_TWILIO_FROM": FROM,
        "ZHIDA_TWILIO_BASE_URL": twilio.url,
    }
    use_aliyun = name == "failover"
    if use_aliyun:
        env.update(
            {
                "ZHIDA_SMS_FALLBACK_PROVIDER": "aliyun",
                "ZHIDA_ALIYUN_ACCESS_KEY_ID": aliyun.access_key_id,
                "ZHIDA_ALIYUN_ACCESS_KEY_SECRET": aliyun.access_key_secret,
                "ZHIDA_ALIYUN_TEMPLATE_CODE": "SMS_DRILL",
                "ZHIDA_ALIYUN_ENDPOINT": aliyun.endpoint,
                "ZHIDA_FAILOVER_WINDOW_SECONDS": "5",
                "ZHIDA_FAILOVER_MIN_CALLS": "10",
                "ZHIDA_FAILOVER_STEP": "0.25",
                "ZHIDA_FAILOVER_STEP_SECONDS": "1",
            }
        )
    twilio.latency = 0.01 if name.startswith("sigkill") else 0.0
    ids = insert_rows(url, phase, n)
    numbers = [f"+861{phase}{i:09d}" for i in range(n)]
    rng = random.Random(phase)
    if name == "provider_faults":
        for to in numbers:
            roll = rng.random()
            if roll < 0.10:
                twilio.fail(to, 500, times=2)
            elif roll < 0.20:
                twilio.fail(to, 429, times=2)
            elif roll < 0.25:
                twilio.slow(to, 2.0, times=1)  # hang past the 1 s timeout, then accept
            elif roll < 0.27:
                twilio.slow(to, 2.0, times=1)  # hang, then refuse
                twilio.fail(to, 500, times=1)
    if use_aliyun:
        twilio.outage(503)
    before = (len(twilio.messages), len(aliyun.messages))
    broker = Celery(f"drill-{phase}", broker=redis_server.url, set_as_current=False)
    broker.conf.task_routes = TASK_ROUTES
    workers = [
        CeleryWorker(
            env,
            pool="prefork",
            concurrency=concurrency,
            name=f"d{phase}w{k}",
            log_path=log_dir / f"worker-{name}-{k}.log",
        ).start()
        for k in range(2)
    ]
    fault: dict[str, Any] = {}
    shares: list[tuple[float, float]] = []
    start = time.time()
    try:
        wait_until(lambda: workers_ready(broker, 2), timeout=90, interval=0.2)
        start = time.time()

        def sample() -> None:
            if use_aliyun:
                shares.append((round(time.time() - start, 1), read_share(redis_server)))

        with Beat(broker, on_tick=sample):
            with broker.producer_or_acquire() as producer:  # as enqueue_sms does
                for chunk in iter_chunks(ids, BATCH):
                    broker.send_task(TaskNames.SEND_BATCH, args=[chunk], producer=producer)
            third = before[0] + before[1] + n // 3
            wait_until(lambda: accepted(twilio, aliyun) >= third, timeout=timeout, interval=0.01)
            fault = inject(name, workers, redis_server, twilio)
            fault["at_accepted"] = accepted(twilio, aliyun) - before[0] - before[1]
            fault["at_s"] = round(time.time() - start, 1)
            deadline = time.time() + timeout
            while open_rows(url, ids) and time.time() < deadline:
                time.sleep(0.5)
            time.sleep(1.0)  # stragglers (duplicates, if any) show up
        wall = time.time() - start
    finally:
        twilio.outage(None)
        for worker in workers:
            worker.stop()
        broker.close()
    result = {"fault": fault, **reconcile(url, ids, twilio, aliyun if use_aliyun else None, before)}
    result["wall_s"] = round(wall, 1)
    if use_aliyun:
        result["twilio_share_timeline"] = shares[:: max(1, len(shares) // 16)]
    return result


def read_share(redis_server: PrivateRedis) -> float:
    import redis

    try:
        raw = redis.Redis.from_url(redis_server.url).get("zhida:sms:health:share")
    except Exception:  # the drill's own look at it: not part of the system
        return -1.0
    return 1.0 if raw is None else float(raw)


def inject(
    name: str, workers: list[CeleryWorker], redis_server: PrivateRedis, twilio: FakeTwilio
) -> dict[str, Any]:
    main = workers[0].proc
    assert main is not None
    if name == "sigkill_mid_batch":
        pool = children(main.pid)
        os.kill(pool[0], signal.SIGKILL)  # one pool process, mid-batch
        return {"killed": "one prefork pool process (SIGKILL)", "pid": pool[0]}
    if name == "sigkill_mid_run":
        os.killpg(main.pid, signal.SIGKILL)  # the whole worker and its pool
        main.wait()
        return {"killed": "a whole worker (SIGKILL to its process group)"}
    if name == "redis_restart":
        redis_server.stop()
        time.sleep(2.0)
        redis_server.start()
        return {"restarted": "redis-server, without persistence, down 2 s"}
    if name == "failover":
        twilio.outage(None)
        return {"recovered": "Twilio answers again (503 before)"}
    return {"scripted": "500 x2 10%, 429 x2 10%, hang-then-accept 5%, hang-then-500 2%"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="SMS rows per phase")
    parser.add_argument("--phases", default="all", help="comma-separated: " + ", ".join(PHASES))
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes per worker")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per phase, at most")
    parser.add_argument(
        "--sweep-after", type=int, default=10, help="ZHIDA_SWEEP_AFTER_SECONDS of the workers"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "drill")
    args = parser.parse_args(argv)
    phases = PHASES if args.phases == "all" else tuple(args.phases.split(","))
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase {sorted(unknown)[0]!r} (one of {', '.join(PHASES)})")
    args.out.mkdir(parents=True, exist_ok=True)
    overrides = {"ZHIDA_SWEEP_AFTER_SECONDS": str(args.sweep_after)}
    result = drill(phases, args.n, args.out, args.concurrency, args.timeout, overrides=overrides)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if all(r["reconciled"] for r in result["phases"].values()) else 1


def drill(
    phases: tuple[str, ...],
    n: int,
    out: Path,
    concurrency: int = 2,
    timeout: float = 300.0,
    progress: Callable[[str], None] | None = None,
    overrides: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run these phases (fresh workers each); the result `main` prints. `overrides`
    replace DRILL_ENV settings (the fast test's shorter sweep)."""
    result: dict[str, Any] = {"cpus": os.cpu_count(), "n_per_phase": n, "phases": {}}
    with (
        scratch_database(PG, "zhida_drill") as url,
        PrivateRedis() as redis_server,
        FakeTwilio(callbacks=False, lifetime=3600) as twilio,
        FakeAliyun(lifetime=3600) as aliyun,
    ):
        for k, name in enumerate(phases, start=1):
            if progress:
                progress(name)
            result["phases"][name] = run_phase(
                name,
                n=n,
                phase=k,
                url=url,
                redis_server=redis_server,
                twilio=twilio,
                aliyun=aliyun,
                log_dir=out,
                concurrency=concurrency,
                timeout=timeout,
                overrides=overrides,
            )
    return result


if __name__ == "__main__":
    sys.exit(main())
