"""The Celery application and its tasks (`zhida worker`, `zhida beat`).

Configured from settings: the broker is ZHIDA_REDIS_URL; with none configured,
tasks run eagerly in-process (`task_always_eager`), through the same code. Tasks
take ids only (JSON serializer) and open one database session per call; engines
inherited over fork are dropped in each pool process (`worker_process_init`), so no
connection is ever shared between processes.

Delivery is at-least-once: `acks_late` (a message is acknowledged after its task
returns), `task_reject_on_worker_lost` (a pool process killed mid-task puts its
message back), prefetch 1. Every task is therefore idempotent; see
`zhida.matcher.runs` for why a chunk is.

What recovers by itself:

- a pool process killed (SIGKILL, OOM): its message is rejected and redelivered at
  once to another process (`task_reject_on_worker_lost`);
- a whole worker killed: its unacknowledged messages stay in Redis's unacked set and
  another worker restores them after the visibility timeout
  (ZHIDA_BROKER_VISIBILITY_TIMEOUT seconds, default 3600);
- Redis restarted: workers reconnect (forever); a chunk running meanwhile finishes
  and commits. Messages survive if Redis persisted them (RDB/AOF); messages lost with
  a non-persistent Redis leave a run with pending chunks and no progress, which the
  beat task `sweep_stalled_runs` re-queues after ZHIDA_STALL_MINUTES (default 15)
  without progress. `zhida runs resume RUN` does the same at once.

Redelivered or re-queued duplicates of a chunk are no-ops (the chunk is done).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
from typing import Any
from zoneinfo import ZoneInfo

from celery import Celery, Task
from celery.schedules import crontab
from celery.signals import import_modules, worker_process_init
from sqlalchemy.exc import InterfaceError, OperationalError

from zhida.settings import Settings, get_settings

log = logging.getLogger("zhida.worker")
SHANGHAI = ZoneInfo("Asia/Shanghai")

try:  # errors raised through the raw psycopg connection (COPY) are not wrapped
    import psycopg

    RETRYABLE: tuple[type[BaseException], ...] = (OperationalError, InterfaceError,
                                                  psycopg.OperationalError,
                                                  psycopg.InterfaceError)
except ImportError:  # pragma: no cover - psycopg is a dependency
    RETRYABLE = (OperationalError, InterfaceError)


app = Celery("zhida")

# Task modules of other parts, imported by `zhida worker` and `zhida beat` at start; a
# module's BEAT_SCHEDULE (if any) joins the beat schedule.
TASK_MODULES = ("zhida.channels.tasks", "zhida.channels.plan_tasks")
# queued (by name) when a run that recorded transitions ends, if a broker is configured
PLAN_TASK = "zhida.notifications.plan"


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def configure(settings: Settings | None = None) -> Celery:
    """(Re)apply the configuration from settings (tests call this after changing env)."""
    s = settings or get_settings()
    broker = s.redis_url or "memory://localhost/"  # eager: never used to carry a task
    if app.conf.broker_url and app.conf.broker_url != broker:  # drop pooled connections
        app._pool = None
        app.amqp._producer_pool = None
    visibility = s.broker_visibility_timeout
    app.conf.update(
        broker_url=broker,
        task_always_eager=s.eager,
        task_eager_propagates=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        timezone="Asia/Shanghai",
        enable_utc=True,
        broker_connection_retry=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker outlives a broker restart
        broker_transport_options={
            "visibility_timeout": visibility,
            # look for abandoned messages about every visibility/10 (at least every 10 s)
            "unacked_restore_interval": max(1, min(10, int(visibility // 10) or 1)),
            "unacked_restore_throttle": 1,
        },
        # a chunk running when the broker connection drops finishes and commits; its ack
        # may be lost, and the redelivery is a no-op
        worker_cancel_long_running_tasks_on_connection_loss=False,
        include=[m for m in TASK_MODULES if _present(m)],
        beat_schedule={
            "daily-reevaluation": {"task": "zhida.runs.daily_run",
                                   "schedule": crontab(hour=1, minute=0)},
            "sweep-stalled-runs": {"task": "zhida.runs.sweep_stalled_runs",
                                   "schedule": 300.0},
        },
    )
    return app


configure()


@import_modules.connect
def _merge_beat_schedules(**_: Any) -> None:
    """Sent when a worker or beat starts, just before it imports `include`: import them
    here, then add their BEAT_SCHEDULE entries."""
    for name in app.conf.include or ():
        extra = getattr(importlib.import_module(name), "BEAT_SCHEDULE", None)
        if isinstance(extra, dict):
            for key, entry in extra.items():
                app.conf.beat_schedule.setdefault(key, entry)


@worker_process_init.connect
def _fresh_engines_after_fork(**_: Any) -> None:
    """A pool process must not use connections opened by its parent: forget them without
    closing (closing would end the parent's sessions on the server)."""
    from zhida.store import db

    for engine in db._ENGINES.values():
        engine.dispose(close=False)
    db._ENGINES.clear()


def _mark_run_failed(run_id: int, exc: BaseException) -> None:
    from zhida.matcher.runs import mark_failed
    from zhida.store.db import session_scope

    try:
        with session_scope() as session:
            mark_failed(session, int(run_id), f"{type(exc).__name__}: {exc}")
    except Exception:  # the database may be what failed
        log.exception("could not mark run %s failed", run_id)


class RunTask(Task):
    """A task of a run: when it fails for good, the run is marked failed with the error
    (a permanent error at once, in the task; a transient one when its retries are
    exhausted, here). `zhida runs resume` retries the run's pending chunks."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                   einfo: Any) -> None:
        run_id = args[0] if args else (kwargs or {}).get("run_id")
        if run_id is not None:
            _mark_run_failed(int(run_id), exc)


RETRY_OPTS: dict[str, Any] = {"autoretry_for": RETRYABLE, "retry_backoff": 2,
                              "retry_backoff_max": 60, "retry_jitter": True, "max_retries": 8}


@app.task(name="zhida.runs.evaluate_chunk", base=RunTask, **RETRY_OPTS)
def evaluate_chunk(run_id: int, seq: int) -> dict[str, int] | None:
    """Evaluate chunk `seq` of run `run_id` and write its changes (idempotent)."""
    from zhida.matcher.runs import process_chunk
    from zhida.store.db import session_scope

    delay = get_settings().chunk_delay  # tests only: widen the crash window
    try:
        with session_scope() as session:
            done = process_chunk(session, int(run_id), int(seq), delay)
    except RETRYABLE:
        raise  # retried with backoff; on_failure marks the run when retries run out
    except Exception as exc:  # permanent (a policy that no longer loads, a bug)
        _mark_run_failed(run_id, exc)
        raise
    if done is None:
        log.info("run %s chunk %s: already done", run_id, seq)
        return None
    if done.run_counts is not None:
        log.info("run %s done: %s", run_id, done.run_counts)
        if done.run_counts.get("transitions") and not app.conf.task_always_eager \
                and get_settings().plan_after_run:
            _plan_soon()
    return done.counts


def _plan_soon() -> None:
    """Ask the notifications side to plan from the run's transitions (committed). Once
    per run, not per chunk: planning reads every transition not yet notified, so one
    task catches them all and concurrent planners are avoided. Best effort: its beat
    entry plans whatever a lost message missed. In eager mode (the embedded default)
    nothing is queued; the caller plans after the run. ZHIDA_PLAN_AFTER_RUN=0 turns
    this off (benchmarks and tests of runs alone)."""
    try:
        app.send_task(PLAN_TASK)
    except Exception:  # the broker is down: the beat entry catches up
        log.warning("could not queue %s", PLAN_TASK, exc_info=True)


@app.task(name="zhida.runs.finalize_run", base=RunTask, **RETRY_OPTS)
def finalize_run(run_id: int) -> bool:
    """Record the run's summary if all its chunks are done (idempotent)."""
    from zhida.matcher.runs import finalize_run as finalize
    from zhida.store.db import session_scope

    with session_scope() as session:
        return finalize(session, int(run_id))


def today_shanghai() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


@app.task(name="zhida.runs.daily_run", **RETRY_OPTS)
def daily_run(as_of: str | None = None) -> list[int]:
    """Re-evaluate, as of today (Asia/Shanghai), the published policies that time alone
    can change (see `zhida.matcher.runs.daily_selection`); one run per kind, at most one
    per kind and day."""
    from zhida.matcher.runs import create_daily_runs
    from zhida.store.db import session_scope

    day = dt.date.fromisoformat(as_of) if as_of else today_shanghai()
    with session_scope() as session:
        ids = [r.id for r in create_daily_runs(session, day)]
    for run_id in ids:
        start_run(run_id)
    return ids


@app.task(name="zhida.runs.sweep_stalled_runs", **RETRY_OPTS)
def sweep_stalled_runs() -> list[int]:
    """Re-queue the chunks of runs without progress for ZHIDA_STALL_MINUTES (default 15):
    their messages were lost (e.g. Redis restarted without persistence)."""
    from zhida.matcher.runs import stalled_runs
    from zhida.store.db import session_scope

    idle = dt.timedelta(minutes=get_settings().stall_minutes)
    with session_scope() as session:
        ids = stalled_runs(session, idle)
    for run_id in ids:
        log.warning("run %s made no progress for %s: re-queueing its chunks", run_id, idle)
        start_run(run_id)
    return ids


def start_run(run_id: int) -> int:
    """Queue one evaluate_chunk per chunk not done (the run and its chunks are already
    committed). Also resumes a run: duplicates of queued chunks are no-ops. Returns the
    number of chunks queued; a run with none left is finalised. In eager mode the chunks
    run here, one after another."""
    from zhida.matcher.runs import mark_running
    from zhida.store.db import session_scope

    with session_scope() as session:
        seqs = mark_running(session, run_id)
    if not seqs:
        finalize_run.delay(run_id)
        return 0
    if app.conf.task_always_eager:
        for seq in seqs:
            evaluate_chunk.delay(run_id, seq)
        return len(seqs)
    with app.producer_or_acquire() as producer:
        for seq in seqs:
            evaluate_chunk.apply_async((run_id, seq), producer=producer)
    return len(seqs)


resume_run = start_run
