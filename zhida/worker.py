"""The Celery application and its tasks (`zhida worker`, `zhida beat`).

Configured from settings: the broker is ZHIDA_REDIS_URL; with none configured,
tasks run eagerly in-process (`task_always_eager`), through the same code. Tasks
take ids only (JSON serializer) and open one database session per call; engines
inherited over fork are dropped in each pool process (`worker_process_init`), so no
connection is ever shared between processes.

Delivery is at-least-once: `acks_late` (a message is acknowledged after its task
returns), `task_reject_on_worker_lost` (a pool process killed mid-task puts its
message back), prefetch 1. Every task is therefore idempotent; see
`zhida.runs.reevaluate` for why a chunk is.

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
import logging
from collections.abc import Iterable
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from celery.signals import worker_process_init
from kombu import Exchange, Queue
from sqlalchemy.exc import InterfaceError, OperationalError

from zhida.channels.delivery import sender
from zhida.channels.delivery import steps as delivery
from zhida.channels.delivery import sweep as sms_sweep
from zhida.channels.delivery.batch import iter_chunks
from zhida.channels.plan import PlanSummary, plan_notifications
from zhida.channels.selfservice import resolve_dispute
from zhida.clock import today, utcnow
from zhida.runs import reevaluate as runs
from zhida.runs.daily import create_daily_runs
from zhida.runs.listing import stalled_runs
from zhida.settings import Settings, get_settings
from zhida.store import db
from zhida.store.db import session_scope

log = logging.getLogger("zhida.worker")

try:  # errors raised through the raw psycopg connection (COPY) are not wrapped
    import psycopg

    RETRYABLE: tuple[type[BaseException], ...] = (
        OperationalError,
        InterfaceError,
        psycopg.OperationalError,
        psycopg.InterfaceError,
    )
except ImportError:  # pragma: no cover - psycopg is a dependency
    RETRYABLE = (OperationalError, InterfaceError)


app = Celery("zhida")


class QueueNames:
    """Named queues, so SMS sends never wait behind 50,000-profile chunks: a province
    runs `zhida worker -Q sms` apart from `zhida worker -Q runs,plan` (a plain
    `zhida worker` consumes all three)."""

    RUNS = "runs"
    PLAN = "plan"
    SMS = "sms"

    @classmethod
    def all(cls) -> list[str]:
        return [cls.RUNS, cls.PLAN, cls.SMS]


class TaskNames:
    EVALUATE_CHUNK = "zhida.runs.evaluate_chunk"
    FINALIZE_RUN = "zhida.runs.finalize_run"
    DAILY_RUN = "zhida.runs.daily_run"
    SWEEP_STALLED_RUNS = "zhida.runs.sweep_stalled_runs"
    PLAN = "zhida.notifications.plan"
    SEND = "zhida.sms.send"
    SEND_BATCH = "zhida.sms.send_batch"
    DISPATCH = "zhida.sms.dispatch_due"
    SWEEP = "zhida.sms.sweep"
    PULL_RECEIPTS = "zhida.sms.pull_receipts"


#: task name pattern -> queue
TASK_ROUTES = {
    "zhida.runs.*": {"queue": QueueNames.RUNS},
    "zhida.notifications.*": {"queue": QueueNames.PLAN},
    "zhida.sms.*": {"queue": QueueNames.SMS},
}

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "daily-reevaluation": {"task": TaskNames.DAILY_RUN, "schedule": crontab(hour=1, minute=0)},
    "sweep-stalled-runs": {"task": TaskNames.SWEEP_STALLED_RUNS, "schedule": 300.0},
    # catches windows that open (planned "later") and anything a failed hook missed
    "notifications-plan": {"task": TaskNames.PLAN, "schedule": 300.0},
    "sms-dispatch-due": {"task": TaskNames.DISPATCH, "schedule": 30.0},
    "sms-sweep": {"task": TaskNames.SWEEP, "schedule": 60.0},
    "sms-pull-receipts": {"task": TaskNames.PULL_RECEIPTS, "schedule": 300.0},
}


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
        task_queues=[Queue(name, Exchange(name), routing_key=name) for name in QueueNames.all()],
        task_default_queue=QueueNames.RUNS,
        task_routes=TASK_ROUTES,
        beat_schedule=dict(BEAT_SCHEDULE),
    )
    return app


configure()


@worker_process_init.connect
def _fresh_engines_after_fork(**_: Any) -> None:
    """A pool process must not use connections opened by its parent: forget them without
    closing (closing would end the parent's sessions on the server)."""
    for engine in db._ENGINES.values():
        engine.dispose(close=False)
    db._ENGINES.clear()
    sender.forget_runtime_after_fork()


def _mark_run_failed(run_id: int, exc: BaseException) -> None:
    try:
        with session_scope() as session:
            runs.mark_failed(session, int(run_id), f"{type(exc).__name__}: {exc}")
    except Exception:  # the database may be what failed
        log.exception("could not mark run %s failed", run_id)


class RunTask(Task):
    """A task of a run: when it fails for good, the run is marked failed with the error
    (a permanent error at once, in the task; a transient one when its retries are
    exhausted, here). `zhida runs resume` retries the run's pending chunks."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        run_id = args[0] if args else (kwargs or {}).get("run_id")
        if run_id is not None:
            _mark_run_failed(int(run_id), exc)


RETRY_OPTS: dict[str, Any] = {
    "autoretry_for": RETRYABLE,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 8,
}


@app.task(name=TaskNames.EVALUATE_CHUNK, base=RunTask, **RETRY_OPTS)
def evaluate_chunk(run_id: int, seq: int) -> dict[str, int] | None:
    """Evaluate chunk `seq` of run `run_id` and write its changes (idempotent)."""
    delay = get_settings().chunk_delay  # tests only: widen the crash window
    try:
        with session_scope() as session:
            done = runs.process_chunk(session, int(run_id), int(seq), delay)
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
        if (
            done.run_counts.get("transitions")
            and not app.conf.task_always_eager
            and get_settings().plan_after_run
        ):
            _plan_soon()
    return done.counts


def _plan_soon() -> None:
    """Ask the notifications side to plan from the run's transitions (committed). Once
    per run, not per chunk: planning reads every transition not yet notified, so one
    task catches them all and concurrent planners are avoided. Best effort: its beat
    entry plans whatever a lost message missed. In eager mode (the embedded default)
    nothing is queued; `start_run` plans after the run (`plan_after_eager_run`).
    ZHIDA_PLAN_AFTER_RUN=0 turns this off (benchmarks and tests of runs alone)."""
    try:
        app.send_task(TaskNames.PLAN)
    except Exception:  # the broker is down: the beat entry catches up
        log.warning("could not queue %s", TaskNames.PLAN, exc_info=True)


@app.task(name=TaskNames.FINALIZE_RUN, base=RunTask, **RETRY_OPTS)
def finalize_run(run_id: int) -> bool:
    """Record the run's summary if all its chunks are done (idempotent)."""
    with session_scope() as session:
        return runs.finalize_run(session, int(run_id))


@app.task(name=TaskNames.DAILY_RUN, **RETRY_OPTS)
def daily_run(as_of: str | None = None) -> list[int]:
    """Re-evaluate, as of today (Asia/Shanghai), the published policies that time alone
    can change (see `zhida.runs.daily.daily_selection`); one run per kind, at most one
    per kind and day."""
    day = dt.date.fromisoformat(as_of) if as_of else today()
    with session_scope() as session:
        ids = [r.id for r in create_daily_runs(session, day)]
    for run_id in ids:
        start_run(run_id)
    return ids


@app.task(name=TaskNames.SWEEP_STALLED_RUNS, **RETRY_OPTS)
def sweep_stalled_runs() -> list[int]:
    """Re-queue the chunks of runs without progress for ZHIDA_STALL_MINUTES (default 15):
    their messages were lost (e.g. Redis restarted without persistence)."""
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
    with session_scope() as session:
        seqs = runs.mark_running(session, run_id)
    if not seqs:
        finalize_run.delay(run_id)
        return 0
    if app.conf.task_always_eager:
        for seq in seqs:
            evaluate_chunk.delay(run_id, seq)
        plan_after_eager_run(run_id)
        return len(seqs)
    with app.producer_or_acquire() as producer:
        for seq in seqs:
            evaluate_chunk.apply_async((run_id, seq), producer=producer)
    return len(seqs)


def plan_after_eager_run(run_id: int) -> PlanSummary | None:
    """On the embedded default (eager), what a queued run's last chunk asks the planner
    for: plan the notifications of a run that ended with transitions, and send their
    SMS now (ZHIDA_PLAN_AFTER_RUN=0 turns it off, as with a broker). None: nothing
    to plan."""
    if not get_settings().plan_after_run:
        return None
    with session_scope() as session:
        run = runs.get_run(session, run_id)
        done = run.status == "done" and bool((run.counts or {}).get("transitions"))
    return plan_and_queue() if done else None


resume_run = start_run


def start_new_run(
    kind: str, version_ids: list[int], as_of: dt.date, trigger: str = "publish"
) -> int:
    """Save a run over these policy versions and its chunks, commit, then queue the
    chunk tasks (in-process when eager). Returns the run id."""
    with session_scope() as session:
        run_id = runs.create_run(session, trigger, kind, version_ids, as_of).id
    start_run(run_id)
    return run_id


# --- notifications: planning -------------------------------------------------------


def plan_and_queue(now: dt.datetime | None = None, settings: Settings | None = None) -> PlanSummary:
    """Plan notifications from pending transitions (rows committed), then queue their
    SMS (GOV.UK Notify's rule: a row exists before its task). `settings`: the caller's
    (the API's), else the process's."""
    settings = settings or get_settings()
    with session_scope(settings.database_url) as session:
        summary = plan_notifications(session, now or utcnow(), settings)
    enqueue_sms(summary.queued_ids)
    return summary


def resolve_dispute_and_plan(
    dispute_id: int,
    officer_id: int,
    corrected: Any = None,
    comment: str = "",
    settings: Settings | None = None,
) -> int:
    """An officer's decision on a dispute (`zhida.channels.selfservice.resolve_dispute`),
    committed; a correction's newly eligible are then planned and queued, as after any
    live event. How many transitions the correction made."""
    settings = settings or get_settings()
    with session_scope(settings.database_url) as session:
        made = resolve_dispute(
            session, dispute_id, officer_id, utcnow(), today(), corrected, comment
        )
    if made:
        plan_and_queue(settings=settings)
    return len(made)


@app.task(name=TaskNames.PLAN, ignore_result=True)
def plan_task() -> dict[str, int]:
    summary = plan_and_queue()
    return {
        "transitions": summary.transitions,
        "inapp": summary.inapp,
        "sms_queued": summary.sms_queued,
        "sms_deferred": summary.sms_deferred,
    }


# --- notifications: SMS delivery (bodies in zhida.channels.delivery) ----------------

SMS_RETRY_OPTS: dict[str, Any] = {
    "ignore_result": True,
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 5,
}


def _send(ids: list[int]) -> list[delivery.Outcome]:
    report = sender.send(ids)
    if report.soon and not app.conf.task_always_eager:
        send_sms_batch.apply_async((report.soon,), countdown=report.countdown)
    return report.outcomes


@app.task(name=TaskNames.SEND, **SMS_RETRY_OPTS)
def send_sms(notification_id: int) -> str:
    """Send one SMS if its row is still queued and due. A database error before the
    provider call rolls the claim back, so a retry of the whole task is safe; after it,
    a retry finds the row claimed and does nothing."""
    return _send([int(notification_id)])[0].action


@app.task(name=TaskNames.SEND_BATCH, **SMS_RETRY_OPTS)
def send_sms_batch(notification_ids: list[int]) -> dict[str, int]:
    """send_sms for several rows in one task (one claim, one record per flush): what
    `enqueue_sms` queues. Counts of outcomes by action."""
    counts: dict[str, int] = {}
    for o in _send([int(i) for i in notification_ids]):
        counts[o.action] = counts.get(o.action, 0) + 1
    return counts


def enqueue_sms(ids: Iterable[int], batch: int = sender.BATCH) -> int:
    """Queue send tasks for these ids (after their rows are committed), `batch` ids a
    task. Eager: sends now. Returns the number of tasks queued."""
    chunks = list(iter_chunks([int(i) for i in ids], max(1, batch)))
    if not chunks:
        return 0
    if app.conf.task_always_eager:
        for chunk in chunks:
            send_sms_batch.delay(chunk)
        return len(chunks)
    with app.producer_or_acquire() as producer:
        for chunk in chunks:
            send_sms_batch.apply_async((chunk,), producer=producer)
    return len(chunks)


@app.task(name=TaskNames.DISPATCH, ignore_result=True)
def dispatch_due() -> int:
    """Beat, every 30 s: queue the rows that came due (quiet hours over, backoff done)."""
    with session_scope() as session:
        ids = sms_sweep.dispatch_due(session, get_settings())
    enqueue_sms(ids)
    return len(ids)


@app.task(name=TaskNames.SWEEP, ignore_result=True)
def sweep() -> dict[str, int]:
    """Beat, every 60 s: re-queue rows whose task was lost; rows stuck sending become
    unsure and are re-queued (their sender asks the provider before any resend)."""
    with session_scope() as session:
        result = sms_sweep.sweep(session, get_settings())
    enqueue_sms(result.to_queue)
    if result.requeued:
        log.warning("sms sweep: re-queued %d rows whose task was lost", len(result.requeued))
    if result.unsure:
        log.warning("sms sweep: %d rows stuck in sending are unsure", len(result.unsure))
    return {"requeued": len(result.requeued), "unsure": len(result.unsure)}


@app.task(name=TaskNames.PULL_RECEIPTS, ignore_result=True)
def pull_receipts() -> dict[str, int]:
    """Beat, every 5 minutes: pull the receipts Aliyun's push has not brought for rows
    it accepted over 10 minutes ago (QuerySendDetails; nothing when Aliyun is not
    configured)."""
    from zhida.channels.delivery.receipts import pull_receipts as pull

    rt = sender.runtime()
    source = sender.receipt_source(rt.provider, "aliyun")
    return pull(rt.sessions, source) if source is not None else {}
