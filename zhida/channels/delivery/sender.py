"""The SMS sender's per-process runtime and its one step: send a batch of claimed ids.

The Celery task registrations (`zhida.sms.send`, `send_batch`, `dispatch_due`,
`sweep`) live in `zhida.worker` and call `send`; a follow-up retry due soon is
returned (`SendReport.soon`), for the worker to queue. Tests give a recording provider
with `set_runtime`.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from zhida.channels.delivery import steps as delivery
from zhida.channels.delivery.batch import send_sms_batch
from zhida.channels.delivery.receipts import ReceiptSource, ReceiptStash, stash_for
from zhida.channels.delivery.schedule import RETRY_COUNTDOWN_MAX, effective_rate
from zhida.channels.delivery.steps import SendAction
from zhida.channels.ratelimit import Bucket, Unlimited, bucket_for
from zhida.channels.sms import SmsProvider
from zhida.channels.sms.registry import get_provider
from zhida.settings import Settings, get_settings
from zhida.store.db import session_scope

log = logging.getLogger("zhida.sms")

#: ids per send task queued by the worker's enqueue_sms (one claim and few commits)
BATCH = 25


@dataclass
class Runtime:
    """What a worker process keeps between tasks, built from settings on first use (so
    after a prefork pool's fork): the provider (pooled HTTP connections), the rate
    limiter, the receipt stash, and the database sessions of the sender."""

    settings: Settings
    provider: SmsProvider
    bucket: Bucket
    stash: ReceiptStash
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
            bucket: Bucket = (
                Unlimited()
                if provider.name == "file"
                else bucket_for(s.redis_url, effective_rate(s))
            )
            _runtime = Runtime(
                settings=s,
                provider=provider,
                bucket=bucket,
                stash=stash_for(s.redis_url),
                sessions=sessions,
                engine=engine,
            )
        return _runtime


def receipt_source(provider: SmsProvider, name: str) -> ReceiptSource | None:
    """The provider of this name, alone or behind the failover, if its receipts can be
    pulled."""
    from zhida.channels.sms.failover import FailoverProvider

    found: object = provider.named(name) if isinstance(provider, FailoverProvider) else provider
    if getattr(found, "name", None) == name and hasattr(found, "pull_receipt"):
        return found  # type: ignore[return-value]
    return None


def set_runtime(rt: Runtime | None) -> None:
    """Use this runtime (tests: a recording provider), or None to build from settings."""
    global _runtime, _pinned
    with _lock:
        _runtime, _pinned = rt, rt is not None


def forget_runtime_after_fork() -> None:
    """A prefork pool process builds its own (connections are not shared over fork)."""
    global _runtime
    with _lock:
        if _runtime is not None and _runtime.engine is not None:
            _runtime.engine.dispose(close=False)
        if not _pinned:
            _runtime = None


@dataclass(frozen=True)
class SendReport:
    """What one batch did: an outcome per id, and the ids to try again within
    RETRY_COUNTDOWN_MAX seconds (`countdown` from now), which the worker queues."""

    outcomes: list[delivery.Outcome]
    soon: list[int]
    countdown: float


def send(ids: Sequence[int]) -> SendReport:
    """Send these rows (each only if still queued and due) with the process's runtime.
    Retries (and unsure rows' checks) due within RETRY_COUNTDOWN_MAX seconds come back
    in `soon` (one batch, when
    the last of them is due); later ones are left to `dispatch_due`. Failures are
    logged."""
    rt = runtime()
    outcomes = send_sms_batch(
        [int(i) for i in ids],
        sessions=rt.sessions,
        provider=rt.provider,
        bucket=rt.bucket,
        settings=rt.settings,
        stash=rt.stash,
    )
    soon = [
        o
        for o in outcomes
        if o.action in (SendAction.RETRY, SendAction.RELEASED, SendAction.UNSURE)
        and o.retry_in is not None
        and o.retry_in <= RETRY_COUNTDOWN_MAX
    ]
    for o in outcomes:
        if o.action in (SendAction.FAILED, SendAction.LATE):
            log.warning("sms %s %s: %s", o.id, o.action, o.detail)
    countdown = max((o.retry_in or 0.0 for o in soon), default=0.0) + 0.1
    return SendReport(outcomes, [o.id for o in soon], countdown)
