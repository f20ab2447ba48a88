"""The periodic passes over SMS rows (Celery beat): `dispatch_due` queues the rows whose
due time has come (quiet hours over, backoff done); `sweep` deals with the rows a lost
task or a dead sender left behind."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from zhida.channels.delivery.schedule import quiet_until
from zhida.channels.delivery.steps import N, is_sms
from zhida.clock import utcnow
from zhida.settings import Settings
from zhida.store.models import NotificationStatus as Status

log = logging.getLogger("zhida.sms")


@dataclass
class SweepResult:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def dispatch_due(
    session: Session, settings: Settings, now: dt.datetime | None = None, limit: int = 20_000
) -> list[int]:
    """Rows that have come due and that no task was queued for since: deferred ones
    (quiet hours) and queued ones whose retry time has come (updated_at < due_at: not
    touched since they were given their due time). They become queued with
    updated_at = now, so the next pass does not queue them again; the caller commits,
    then queues one send task per id. Nothing is dispatched in quiet hours."""
    now = now or utcnow()
    if quiet_until(now, settings) is not None:
        return []
    waiting = or_(
        N.c.status == Status.DEFERRED,
        and_(N.c.status == Status.QUEUED, N.c.updated_at < N.c.due_at),
    )
    ids = list(
        session.scalars(
            select(N.c.id)
            .where(is_sms(), N.c.due_at <= now, waiting)
            .order_by(N.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(
            update(N)
            .where(N.c.id.in_(ids), N.c.status.in_((Status.QUEUED, Status.DEFERRED)))
            .values(status=Status.QUEUED, updated_at=now)
        )
    return ids


def sweep(
    session: Session, settings: Settings, now: dt.datetime | None = None, limit: int = 20_000
) -> SweepResult:
    """Rows left behind, older than `sweep_after_seconds`:

    - queued, due that long ago and untouched that long (their task was lost): returned
      to be queued again (updated_at = now, so each is re-queued at most once per period);
    - sending that long (their sender died between claim and record): NOT resent, since
      the provider may have accepted them, but failed with the reason (final)."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=settings.sweep_after_seconds)
    result = SweepResult()
    lost = list(
        session.scalars(
            select(N.c.id)
            .where(
                is_sms(),
                N.c.status == Status.QUEUED,
                N.c.due_at <= cutoff,
                N.c.updated_at <= cutoff,
            )
            .order_by(N.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if lost:
        session.execute(
            update(N).where(N.c.id.in_(lost), N.c.status == Status.QUEUED).values(updated_at=now)
        )
        result.requeued = lost
    reason = (
        f"stuck in sending for more than {settings.sweep_after_seconds} s: the "
        "provider's outcome is unknown, not resent"
    )
    result.failed = list(
        session.scalars(
            update(N)
            .where(is_sms(), N.c.status == Status.SENDING, N.c.updated_at <= cutoff)
            .values(status=Status.FAILED, updated_at=now, last_error=reason)
            .returning(N.c.id)
        )
    )
    for nid in result.failed:
        log.warning("notification %s: %s", nid, reason)
    return result
