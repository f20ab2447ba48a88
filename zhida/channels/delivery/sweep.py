"""The periodic passes over SMS rows (Celery beat): `dispatch_due` queues the rows whose
due time has come (quiet hours over, backoff done); `sweep` deals with the rows a lost
task or a dead sender left behind (the latter become unsure, never failed unasked)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from zhida.channels.delivery.schedule import quiet_until
from zhida.channels.delivery.steps import N, is_sms
from zhida.clock import utcnow
from zhida.settings import Settings
from zhida.store.models import NotificationStatus as Status

log = logging.getLogger("zhida.sms")
#: a lead in these states still takes its members with it
LEAD_WAITING = (Status.QUEUED, Status.DEFERRED, Status.SENDING, Status.UNSURE)


@dataclass
class SweepResult:
    """requeued: rows whose task was lost, to queue again; unsure: rows stuck in sending,
    now unsure, to queue again too (their sender asks the provider first)."""

    requeued: list[int] = field(default_factory=list)
    unsure: list[int] = field(default_factory=list)

    @property
    def to_queue(self) -> list[int]:
        return self.requeued + self.unsure


def dispatch_due(
    session: Session, settings: Settings, now: dt.datetime | None = None, limit: int = 20_000
) -> list[int]:
    """Rows that have come due and that no task was queued for since: deferred ones
    (quiet hours) and queued or unsure ones whose retry or check time has come
    (updated_at < due_at: not touched since they were given their due time). They become queued with
    updated_at = now, so the next pass does not queue them again; the caller commits,
    then queues one send task per id. Nothing is dispatched in quiet hours."""
    now = now or utcnow()
    if quiet_until(now, settings) is not None:
        return []
    waiting = or_(
        N.c.status == Status.DEFERRED,
        and_(N.c.status.in_((Status.QUEUED, Status.UNSURE)), N.c.updated_at < N.c.due_at),
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
            .where(N.c.id.in_(ids), N.c.status.in_((Status.QUEUED, Status.DEFERRED, Status.UNSURE)))
            .values(
                status=case((N.c.status == Status.DEFERRED, Status.QUEUED), else_=N.c.status),
                updated_at=now,
            )
        )
    return ids


def sweep(
    session: Session, settings: Settings, now: dt.datetime | None = None, limit: int = 20_000
) -> SweepResult:
    """Rows left behind, older than `sweep_after_seconds`:

    - queued or unsure, due that long ago and untouched that long (their task was
      lost): returned to be queued again (updated_at = now, so each is re-queued at
      most once per period);
    - sending that long (their sender died between claim and record): NOT failed and
      not resent blindly, since the provider may have accepted them, but made unsure
      (since their claim) and returned to be queued: their sender asks the provider
      whether it holds the message before sending;
    - digest members that long untouched whose lead went out without them (a member
      planned just as its lead was claimed): queued on their own (`orphans`)."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=settings.sweep_after_seconds)
    result = SweepResult()
    lost = list(
        session.scalars(
            select(N.c.id)
            .where(
                is_sms(),
                N.c.status.in_((Status.QUEUED, Status.UNSURE)),
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
            update(N)
            .where(N.c.id.in_(lost), N.c.status.in_((Status.QUEUED, Status.UNSURE)))
            .values(updated_at=now)
        )
        result.requeued = lost
    reason = (
        f"stuck in sending for more than {settings.sweep_after_seconds} s: the "
        "provider's outcome is unknown; it is asked before any resend"
    )
    stuck = list(
        session.scalars(
            select(N.c.id)
            .where(is_sms(), N.c.status == Status.SENDING, N.c.updated_at <= cutoff)
            .order_by(N.c.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if stuck:
        result.unsure = list(
            session.scalars(
                update(N)
                .where(N.c.id.in_(stuck), N.c.status == Status.SENDING)
                .values(
                    status=Status.UNSURE,
                    unsure_since=func.coalesce(N.c.unsure_since, N.c.claimed_at, N.c.updated_at),
                    due_at=now,
                    updated_at=now,
                    last_error=reason,
                )
                .returning(N.c.id)
            )
        )
    for nid in result.unsure:
        log.warning("notification %s: %s", nid, reason)
    result.requeued += orphans(session, cutoff, now, limit)
    return result


def orphans(session: Session, cutoff: dt.datetime, now: dt.datetime, limit: int) -> list[int]:
    """Members (status digest, untouched since `cutoff`) whose lead no longer waits to
    be sent: each becomes an SMS of its own, queued now; their ids."""
    lead = N.alias("lead")
    gone = ~(
        select(lead.c.id)
        .where(lead.c.id == N.c.digest_id, lead.c.status.in_(LEAD_WAITING))
        .exists()
    )
    ids = list(
        session.scalars(
            select(N.c.id)
            .where(N.c.status == Status.DIGEST, N.c.updated_at <= cutoff, gone)
            .order_by(N.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    return list(
        session.scalars(
            update(N)
            .where(N.c.id.in_(ids), N.c.status == Status.DIGEST)
            .values(status=Status.QUEUED, digest_id=None, due_at=now, updated_at=now)
            .returning(N.c.id)
        )
    )


def due_sms(
    session: Session, settings: Settings, now: dt.datetime | None = None, limit: int = 100_000
) -> tuple[list[int], dt.datetime | None]:
    """The SMS rows a send may claim now (queued or unsure, due), oldest first, after
    moving deferred ones that came due back to queued (`dispatch_due`); and the end of
    quiet hours when `now` is inside them (then nothing is due: rows would only be
    deferred). For `zhida notify`; the caller commits, then sends them."""
    now = now or utcnow()
    morning = quiet_until(now, settings)
    if morning is not None:
        return [], morning
    dispatch_due(session, settings, now, limit)
    ids = list(
        session.scalars(
            select(N.c.id)
            .where(is_sms(), N.c.status.in_((Status.QUEUED, Status.UNSURE)), N.c.due_at <= now)
            .order_by(N.c.due_at, N.c.id)
            .limit(limit)
        )
    )
    return ids, None
