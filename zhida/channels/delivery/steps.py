"""SMS delivery: claim rows, wait for the rate, call the provider, record the results.

State machine of an SMS `Notification` (see the model's docstring):

    deferred --dispatch_due (due)--> queued
    queued | unsure --claim (due, one task wins)--> sending
    sending (was unsure) --the provider holds the message--> sent (nothing sent again)
    sending --provider accepted--> sent --receipt delivered--> delivered (final)
                                        --receipt failed/undelivered--> failed (final)
    sending --retryable error, attempts <= send_max_retries--> queued (due_at = now + backoff)
    sending --retryable error, retries exhausted | permanent error--> failed (final)
    sending --timeout after the request left (outcome unknown)--> unsure (due after
            unsure_check_seconds)
    queued --number opted out / no number--> skipped (final)
    sending --no longer true (presend: version superseded and not eligible under the
              current one, decision gone, window closed)--> cancelled (final)
    queued --claimed in quiet hours--> deferred (due at the end of quiet hours)
    sending --rate wait too long | rate limiter down--> queued (no attempt counted)
    sending --stuck longer than sweep_after_seconds (sender died)--> unsure (by the sweeper)
    unsure | failed, no reference --the provider's receipt or late acceptance--> sent...
    (the file sink answers "delivered": sending --> delivered at once)

Idempotency. The only way into `sending` is one conditional UPDATE
(`status IN ('queued','unsure') AND due_at <= now`, rows locked by a rival claimer
skipped), committed before the provider is called, so of any number of tasks naming
one row (duplicates, redeliveries, a dispatcher pass and a countdown retry) exactly
one wins each claim; the others leave it alone. The claim numbers itself (`claims`),
and every later write of the sender is conditional on `status='sending'` and that
number, so a sender that outlived the sweeper cannot write over a later claim; a
final state is never left but on the provider's word, and duplicate or out-of-order
receipts change nothing. A provider call happens only between a won claim and the
record of its result, so one claim means at most one call.

Unsure. A call whose outcome is unknown (a read timeout after the request left, a
sender killed between claim and record) may have been accepted. Such a row is not
resent blindly: the next claim of an unsure row first asks the provider whether it
holds the message (`SmsProvider.find_sent`: to that number, since `unsure_since`,
the same text) and records what it finds (sent, with the provider's reference), and
sends only when the provider holds none. A batch records its results at least every
FLUSH_EVERY seconds, so a killed worker leaves at most that much unsure.

Functions here receive sessions; `zhida.channels.delivery.batch` strings them together
for a batch of rows (with a session factory: it must close its session before calling
the provider), `receipts` applies the provider's receipts, and
`zhida.channels.delivery.sender` holds the per-process runtime.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Boolean, Table, bindparam, insert, literal_column, select, update
from sqlalchemy.orm import Session

from zhida.channels import optout
from zhida.channels.delivery.schedule import backoff, quiet_until
from zhida.channels.sms.base import DELIVERED_STATUSES, UNSUBSCRIBED, ProviderError, SendResult
from zhida.settings import Settings
from zhida.store.models import (
    Channel,
    FeedbackEvent,
    FeedbackKind,
    Notification,
    OptOut,
)
from zhida.store.models import NotificationStatus as Status

SessionFactory = Callable[[], AbstractContextManager[Session]]


# --- results -----------------------------------------------------------------------------


class Claimed(NamedTuple):
    """A row this sender has claimed (`sending`), as the claim returned it; `body` and
    `link` are empty until `zhida.channels.delivery.presend` composes them."""

    id: int
    to: str | None
    body: str
    segments: int
    profile_id: str
    policy_id: str
    attempts: int  # provider calls made before this one
    opted_out: bool = False
    claims: int = 0  # this claim's number: the fence of every write that follows
    unsure_since: dt.datetime | None = None  # set: ask the provider before sending
    provider: str | None = None  # the provider an unsure call went to
    claimed_at: dt.datetime | None = None
    link: str | None = None
    #: the SHA-256 of the text handed to the provider at the last attempt (None: none
    #: yet); each attempt's text has a fresh link, so this, not the text, is what a
    #: lookup at the provider can match a message whose outcome is unknown against
    sent_hash: str | None = None
    lead: bool = False  # a digest's lead: members wait to go out with it (delivery.digest)
    members: tuple[tuple[int, str], ...] = ()  # (id, policy) its text names besides its own


class SendAction(enum.StrEnum):
    """What one send did with its row (`Outcome.action`)."""

    SENT = "sent"
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"  # no longer true (see presend)
    DEFERRED = "deferred"
    RELEASED = "released"  # given back unsent
    NOT_CLAIMED = "not_claimed"
    LATE = "late"  # the provider accepted after the sweeper had failed the row
    UNSURE = "unsure"  # the outcome is unknown: the provider is asked before any resend
    FOUND = "found"  # an unsure row's message was found at the provider: not sent again


@dataclass(frozen=True)
class Outcome:
    """What one send task did with one row."""

    id: int
    action: SendAction
    retry_in: float | None = None
    provider_ref: str | None = None
    detail: str = ""


# --- the steps, each in the caller's session ---------------------------------------------

N: Table = Notification.__table__  # type: ignore[assignment]
_FEEDBACK: Table = FeedbackEvent.__table__  # type: ignore[assignment]


def is_sms() -> Any:
    return N.c.channel == Channel.SMS


# the hot path's statements, built once (bound parameters carry the values)
_OPTED_OUT = select(OptOut.opted_out).where(OptOut.phone == N.c.to).limit(1).scalar_subquery()
#: a digest's lead (in SQL: RETURNING leaves columns unqualified, the subquery's own)
_LEADS = literal_column(
    "EXISTS (SELECT 1 FROM notifications AS m WHERE m.digest_id = notifications.id "
    f"AND m.status = '{Status.DIGEST}')",
    Boolean,
)
_CLAIMABLE = (
    select(N.c.id)
    .where(
        N.c.id.in_(bindparam("p_ids", expanding=True)),
        N.c.channel == Channel.SMS,
        N.c.status.in_((Status.QUEUED, Status.UNSURE)),
        N.c.due_at <= bindparam("p_now"),
    )
    .with_for_update(skip_locked=True)
)  # PostgreSQL: never wait for a rival
_CLAIM = (
    update(N)
    .where(N.c.id.in_(_CLAIMABLE.scalar_subquery()), N.c.status.in_((Status.QUEUED, Status.UNSURE)))
    .values(
        status=Status.SENDING,
        updated_at=bindparam("p_now"),
        claimed_at=bindparam("p_now"),
        claims=N.c.claims + 1,
    )
    .returning(
        N.c.id,
        N.c.to,
        N.c.body,
        N.c.segments,
        N.c.profile_id,
        N.c.policy_id,
        N.c.attempts,
        _OPTED_OUT.label("opted_out"),
        N.c.claims,
        N.c.unsure_since,
        N.c.provider,
        N.c.body_hash,
        _LEADS.label("lead"),
    )
)
_MARK_SENT = (
    update(N)
    .where(
        N.c.id == bindparam("p_id"),
        N.c.status == Status.SENDING,
        N.c.claims == bindparam("p_claims"),
    )
    .values(
        status=bindparam("p_status"),
        provider_ref=bindparam("p_ref"),
        provider=bindparam("p_provider"),
        sent_at=bindparam("p_now"),
        delivered_at=bindparam("p_delivered"),
        updated_at=bindparam("p_now"),
        attempts=bindparam("p_attempts"),
        unsure_since=None,
    )
    .returning(N.c.id)
)
#: a late word from the provider (its acceptance, or a receipt) for a row that the
#: sweeper or a give-up left unsure or failed without a reference: it was sent
_CORRECT = (
    update(N)
    .where(
        N.c.id == bindparam("p_id"),
        N.c.status.in_((Status.UNSURE, Status.FAILED)),
        N.c.provider_ref.is_(None),
    )
    .values(
        status=Status.SENT,
        provider_ref=bindparam("p_ref"),
        provider=bindparam("p_provider"),
        sent_at=bindparam("p_now"),
        updated_at=bindparam("p_now"),
        unsure_since=None,
        last_error=bindparam("p_note"),
    )
    .returning(N.c.id)
)


def _if_sending(session: Session, claimed: Claimed, **values: Any) -> bool:
    """Update a row under this sender's claim (still `sending`, the same claim number);
    False if it was not."""
    return (
        session.execute(
            update(N)
            .where(N.c.id == claimed.id, N.c.status == Status.SENDING, N.c.claims == claimed.claims)
            .values(**values)
            .returning(N.c.id)
        ).first()
        is not None
    )


def feedback(
    session: Session,
    profile_id: str,
    policy_id: str,
    kind: FeedbackKind,
    now: dt.datetime,
    **detail: Any,
) -> None:
    insert_feedback(
        session,
        [
            {
                "profile_id": profile_id,
                "policy_id": policy_id,
                "kind": kind,
                "at": now,
                "detail": {"channel": Channel.SMS, **detail},
            }
        ],
    )


def insert_feedback(session: Session, rows: list[dict[str, Any]]) -> None:
    """FeedbackEvent rows (as dicts), in one statement."""
    session.execute(insert(_FEEDBACK), rows)


def defer_if_quiet(
    session: Session, ids: Sequence[int], now: dt.datetime, settings: Settings
) -> list[int]:
    """In quiet hours, move due queued (or unsure) rows to deferred until the morning;
    their ids. An unsure row keeps `unsure_since`: its next claim still asks first."""
    morning = quiet_until(now, settings)
    if morning is None or not ids:
        return []
    return list(
        session.scalars(
            update(N)
            .where(
                N.c.id.in_(list(ids)),
                is_sms(),
                N.c.status.in_((Status.QUEUED, Status.UNSURE)),
                N.c.due_at <= now,
            )
            .values(status=Status.DEFERRED, due_at=morning, updated_at=now)
            .returning(N.c.id)
        )
    )


def claim_many(session: Session, ids: Sequence[int], now: dt.datetime) -> list[Claimed]:
    """queued (and due) -> sending, atomically, for those of `ids` that are; in the order
    given. A row another task has, or that is not due, deferred or final, is left out.
    The claim also reads whether each number has opted out."""
    if not ids:
        return []
    rows = session.execute(_CLAIM, {"p_ids": list(ids), "p_now": now}).all()
    order = {nid: k for k, nid in enumerate(ids)}
    return sorted(
        (
            Claimed(
                id=r.id,
                to=r.to,
                body=r.body or "",
                segments=r.segments or 0,
                profile_id=r.profile_id,
                policy_id=r.policy_id,
                attempts=r.attempts or 0,
                opted_out=bool(r.opted_out),
                claims=r.claims or 0,
                unsure_since=r.unsure_since,
                provider=r.provider,
                claimed_at=now,
                sent_hash=r.body_hash,
                lead=bool(r.lead),
            )
            for r in rows
        ),
        key=lambda c: order[c.id],
    )


def claim(session: Session, notification_id: int, now: dt.datetime) -> Claimed | None:
    """claim_many for one row."""
    claimed = claim_many(session, [notification_id], now)
    return claimed[0] if claimed else None


def skip(session: Session, claimed: Claimed, reason: str, now: dt.datetime) -> None:
    _if_sending(session, claimed, status=Status.SKIPPED, last_error=reason, updated_at=now)


def release(
    session: Session, claimed: Claimed, due_at: dt.datetime, reason: str, now: dt.datetime
) -> None:
    """Give a claim back unsent (no provider call was made, no attempt counted); an
    unsure row stays unsure."""
    _if_sending(
        session,
        claimed,
        status=Status.UNSURE if claimed.unsure_since is not None else Status.QUEUED,
        due_at=due_at,
        updated_at=now,
        last_error=reason[:500],
    )


def record_sent(
    session: Session,
    claimed: Claimed,
    result: SendResult,
    now: dt.datetime,
    events: list[dict[str, Any]] | None = None,
    *,
    note: str | None = None,
    attempts: int | None = None,
) -> bool:
    """sending -> sent (or delivered, for a provider that delivers at once, such as the
    file sink), with FeedbackEvents (inserted, or appended to `events` for the caller to
    insert at once), `note` in last_error. When the claim is gone (the sweeper made the
    row unsure, or it was given up on) the provider's acceptance still counts: an unsure
    or failed row without a reference becomes sent (True); any other row only keeps the
    reference for the record (False)."""
    delivered = result.status in DELIVERED_STATUSES
    attempts = claimed.attempts + 1 if attempts is None else attempts
    marked = session.execute(
        _MARK_SENT,
        {
            "p_id": claimed.id,
            "p_claims": claimed.claims,
            "p_status": Status.DELIVERED if delivered else Status.SENT,
            "p_ref": result.provider_ref,
            "p_provider": result.provider or None,
            "p_now": now,
            "p_delivered": now if delivered else None,
            "p_attempts": attempts,
        },
    ).first()
    done = marked is not None
    if done and note:
        session.execute(update(N).where(N.c.id == claimed.id).values(last_error=note[:500]))
    if not done:
        delivered = False
        done = adopt(
            session,
            claimed.id,
            result.provider_ref,
            result.provider,
            now,
            f"provider accepted {result.provider_ref} late: recorded as sent",
        )
    if not done:
        session.execute(
            update(N)
            .where(N.c.id == claimed.id, N.c.provider_ref.is_(None))
            .values(
                provider_ref=result.provider_ref,
                updated_at=now,
                last_error=f"provider accepted {result.provider_ref} after the row was swept",
            )
        )
        return False
    detail = {
        "channel": Channel.SMS,
        "notification_id": claimed.id,
        "provider_ref": result.provider_ref,
        "attempts": attempts,
    }
    rows = [
        {
            "profile_id": claimed.profile_id,
            "policy_id": claimed.policy_id,
            "kind": kind,
            "at": now,
            "detail": detail,
        }
        for kind in (
            (FeedbackKind.SENT, FeedbackKind.DELIVERED) if delivered else (FeedbackKind.SENT,)
        )
    ]
    if events is None:
        insert_feedback(session, rows)
    else:
        events.extend(rows)
    return True


def adopt(
    session: Session, nid: int, provider_ref: str, provider: str, now: dt.datetime, note: str
) -> bool:
    """The provider's word that it holds this message (a late acceptance, a receipt) for
    a row left unsure or failed without a reference: the row becomes sent with it."""
    return (
        session.execute(
            _CORRECT,
            {
                "p_id": nid,
                "p_ref": provider_ref,
                "p_provider": provider or None,
                "p_now": now,
                "p_note": note[:500],
            },
        ).first()
        is not None
    )


def record_error(
    session: Session,
    claimed: Claimed,
    err: ProviderError,
    settings: Settings,
    now: dt.datetime,
    rng: random.Random | None = None,
) -> Outcome:
    """A retryable error re-queues the row with backoff until send_max_retries retries
    were made; then, or for a permanent error at once, the row fails (21610 also
    records an opt-out). An unsure one (the provider may have accepted) makes the row
    unsure, due after unsure_check_seconds (or the backoff, if longer), when the
    provider is asked first; past the retries it fails as unknown (a receipt can still
    correct it)."""
    attempts = claimed.attempts + 1
    if err.unsure and attempts <= settings.send_max_retries:
        delay = max(settings.unsure_check_seconds, backoff(settings, claimed.attempts, rng))
        _if_sending(
            session,
            claimed,
            status=Status.UNSURE,
            attempts=attempts,
            updated_at=now,
            due_at=now + dt.timedelta(seconds=delay),
            unsure_since=claimed.unsure_since or claimed.claimed_at or now,
            provider=getattr(err, "provider", None) or claimed.provider,
            last_error=str(err)[:500],
        )
        return Outcome(claimed.id, SendAction.UNSURE, retry_in=delay, detail=str(err))
    if err.retryable and attempts <= settings.send_max_retries:
        delay = backoff(settings, claimed.attempts, rng)
        _if_sending(
            session,
            claimed,
            status=Status.QUEUED,
            attempts=attempts,
            updated_at=now,
            due_at=now + dt.timedelta(seconds=delay),
            last_error=str(err)[:500],
        )
        return Outcome(claimed.id, SendAction.RETRY, retry_in=delay, detail=str(err))
    reason = str(err) if not err.retryable else f"gave up after {attempts} attempts: {err}"
    _if_sending(
        session,
        claimed,
        status=Status.FAILED,
        attempts=attempts,
        updated_at=now,
        last_error=reason[:500],
    )
    if err.code == UNSUBSCRIBED and claimed.to:
        optout.record(session, claimed.to, True, UNSUBSCRIBED, now)
    return Outcome(claimed.id, SendAction.FAILED, detail=reason)
