"""Celery tasks for SMS delivery: thin wrappers over `zhida.channels.delivery`, taking
ids only. Defined with `shared_task`, so they bind to `zhida.worker.app` (the worker
must import this module: `include=["zhida.channels.tasks"]`).

- `zhida.sms.send(notification_id)`: send one SMS if its row is still queued and due
  (a duplicate is a no-op).
- `zhida.sms.send_batch(notification_ids)`: the same for up to BATCH rows (what
  `enqueue_sms` queues: one claim statement and one commit per flush instead of two
  per row). Retries due within RETRY_COUNTDOWN_MAX seconds are queued again with a
  short countdown; later ones are left to `dispatch_due` (no long broker ETAs).
- `zhida.sms.dispatch_due()` (beat, every 30 s): queue the rows that came due.
- `zhida.sms.sweep()` (beat, every 60 s): re-queue rows whose task was lost; fail
  rows stuck in sending (never resent).

Call `enqueue_sms(ids)` after committing new queued rows.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from celery import shared_task
from celery.signals import worker_process_init
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from zhida.channels import delivery
from zhida.channels.providers import SmsProvider, get_provider
from zhida.channels.ratelimit import Bucket, Unlimited, bucket_for
from zhida.settings import Settings, get_settings
from zhida.store.db import session_scope

log = logging.getLogger("zhida.sms")

DB_ERRORS = (OperationalError, InterfaceError)

SEND = "zhida.sms.send"
SEND_BATCH = "zhida.sms.send_batch"
#: ids per send task queued by enqueue_sms (one claim and few commits for all of them)
BATCH = 25
DISPATCH = "zhida.sms.dispatch_due"
SWEEP = "zhida.sms.sweep"

#: beat entries for `zhida.worker` (`app.conf.beat_schedule.update(BEAT_SCHEDULE)`)
BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "sms-dispatch-due": {"task": DISPATCH, "schedule": 30.0},
    "sms-sweep": {"task": SWEEP, "schedule": 60.0},
}


@dataclass
class Runtime:
    """What a worker process keeps between tasks, built from settings on first use (so
    after a prefork pool's fork): the provider (pooled HTTP connections), the rate
    limiter, the receipt stash, and the database sessions of the sender."""

    settings: Settings
    provider: SmsProvider
    bucket: Bucket
    stash: delivery.ReceiptStash
    sessions: delivery.SessionFactory
    engine: Engine | None = None


_runtime: Runtime | None = None
_pinned = False
_lock = threading.Lock()


def sender_sessions(url: str) -> tuple[delivery.SessionFactory, Engine | None]:
    """Sessions for the sender. On PostgreSQL its own engine: a pool as large as a
    threaded worker's concurrency (ZHIDA_SMS_DB_POOL, default 16, so connections are
    kept instead of opened and closed per task) and no pre-ping round trip per
    checkout (a dead connection fails the step, which is retried: a claim rolls back,
    a record is retried in `delivery`). SQLite: the shared engine."""
    if url.startswith("sqlite"):
        return functools.partial(session_scope, url), None
    size = get_settings().sms_db_pool
    engine = create_engine(url, pool_size=size, max_overflow=size, pool_recycle=1800)
    factory = sessionmaker(engine, expire_on_commit=False)

    def sessions() -> AbstractContextManager[Session]:
        return session_scope(factory=factory)

    return sessions, engine


def runtime(settings: Settings | None = None) -> Runtime:
    """The process's runtime: the one given to `set_runtime`, else one built from
    settings (rebuilt when the settings object changes)."""
    global _runtime
    with _lock:
        if _pinned and _runtime is not None:
            return _runtime
        s = settings or get_settings()
        if _runtime is None or _runtime.settings is not s:
            if _runtime is not None and _runtime.engine is not None:
                _runtime.engine.dispose()
            sessions, engine = sender_sessions(s.database_url)
            provider = get_provider(s)
            bucket: Bucket = (Unlimited() if provider.name == "file" else
                              bucket_for(s.redis_url, delivery.effective_rate(s)))
            _runtime = Runtime(settings=s, provider=provider, bucket=bucket,
                               stash=delivery.stash_for(s.redis_url), sessions=sessions,
                               engine=engine)
        return _runtime


def set_runtime(rt: Runtime | None) -> None:
    """Use this runtime (tests: a recording provider), or None to build from settings."""
    global _runtime, _pinned
    with _lock:
        _runtime, _pinned = rt, rt is not None


@worker_process_init.connect
def _forget_runtime_after_fork(**_: Any) -> None:
    """A prefork pool process builds its own (connections are not shared over fork)."""
    global _runtime
    with _lock:
        if _runtime is not None and _runtime.engine is not None:
            _runtime.engine.dispose(close=False)
        if not _pinned:
            _runtime = None


def _eager() -> bool:
    return bool(send_sms.app.conf.task_always_eager)


def _follow_up(outcomes: list[delivery.Outcome]) -> None:
    """Retries due within RETRY_COUNTDOWN_MAX seconds go back on the queue with a short
    countdown (one batch, when the last of them is due); later ones are left to
    `dispatch_due`. Failures are logged."""
    soon = [o for o in outcomes if o.action in ("retry", "released")
            and o.retry_in is not None and o.retry_in <= delivery.RETRY_COUNTDOWN_MAX]
    if soon and not _eager():
        countdown = max(o.retry_in or 0.0 for o in soon) + 0.1
        send_sms_batch.apply_async(([o.id for o in soon],), countdown=countdown)
    for o in outcomes:
        if o.action in ("failed", "late"):
            log.warning("sms %s %s: %s", o.id, o.action, o.detail)


def _send(ids: list[int]) -> list[delivery.Outcome]:
    rt = runtime()
    outcomes = delivery.send_sms_batch(ids, sessions=rt.sessions, provider=rt.provider,
                                       bucket=rt.bucket, settings=rt.settings, stash=rt.stash)
    _follow_up(outcomes)
    return outcomes


@shared_task(name=SEND, ignore_result=True, acks_late=True, autoretry_for=DB_ERRORS,
             retry_backoff=1, retry_backoff_max=30, retry_jitter=True, max_retries=5)
def send_sms(notification_id: int) -> str:
    """Send one SMS if its row is still queued and due. A database error before the
    provider call rolls the claim back, so a retry of the whole task is safe; after it,
    a retry finds the row claimed and does nothing."""
    return _send([int(notification_id)])[0].action


@shared_task(name=SEND_BATCH, ignore_result=True, acks_late=True, autoretry_for=DB_ERRORS,
             retry_backoff=1, retry_backoff_max=30, retry_jitter=True, max_retries=5)
def send_sms_batch(notification_ids: list[int]) -> dict[str, int]:
    """send_sms for several rows in one task (one claim, one record per flush): what
    `enqueue_sms` queues. Counts of outcomes by action."""
    outcomes = _send([int(i) for i in notification_ids])
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.action] = counts.get(o.action, 0) + 1
    return counts


def enqueue_sms(ids: Iterable[int], batch: int = BATCH) -> int:
    """Queue send tasks for these ids (after their rows are committed), `batch` ids a
    task. Eager: sends now. Returns the number of tasks queued."""
    chunks = list(delivery.iter_chunks([int(i) for i in ids], max(1, batch)))
    if not chunks:
        return 0
    if _eager():
        for chunk in chunks:
            send_sms_batch.delay(chunk)
        return len(chunks)
    with send_sms_batch.app.producer_or_acquire() as producer:
        for chunk in chunks:
            send_sms_batch.apply_async((chunk,), producer=producer)
    return len(chunks)


@shared_task(name=DISPATCH, ignore_result=True)
def dispatch_due() -> int:
    settings = get_settings()
    with session_scope() as session:
        ids = delivery.dispatch_due(session, settings)
    enqueue_sms(ids)
    return len(ids)


@shared_task(name=SWEEP, ignore_result=True)
def sweep() -> dict[str, int]:
    settings = get_settings()
    with session_scope() as session:
        result = delivery.sweep(session, settings)
    enqueue_sms(result.requeued)
    if result.requeued:
        log.warning("sms sweep: re-queued %d rows whose task was lost", len(result.requeued))
    return {"requeued": len(result.requeued), "failed": len(result.failed)}
