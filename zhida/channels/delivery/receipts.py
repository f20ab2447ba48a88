"""Delivery receipts: applied to their row, or stashed until the sender has recorded the
provider's reference.

A receipt for a row left unsure or failed without a reference (its sender died or
timed out) corrects it when the receipt names the row (`receive_receipt`'s
notification_id).

A receipt moves a row that is `sending` or `sent`: delivered -> delivered, failed or
undelivered -> failed (final), sent -> sent. A final row, a duplicate and an
out-of-order receipt change nothing. The members of a digest carry their lead's
reference once it is sent, so its receipt moves them all. A receipt can arrive before the sender has
recorded the provider's reference (the provider called back between its acceptance
and our commit): the webhook then stashes it, and the sender applies what was stashed
for the references it has just recorded.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhida.channels import optout
from zhida.channels.delivery.digest import follow
from zhida.channels.delivery.steps import N, SessionFactory, adopt, feedback, is_sms
from zhida.channels.sms.base import DELIVERED_STATUSES, FAILED_STATUSES, UNSUBSCRIBED
from zhida.clock import utcnow
from zhida.store.models import FeedbackKind
from zhida.store.models import NotificationStatus as Status


class ReceiptStash(Protocol):
    def put(self, provider_ref: str, status: str, error_code: str) -> None: ...

    def pop(self, provider_ref: str) -> list[tuple[str, str]]: ...

    def pop_many(self, refs: Sequence[str]) -> dict[str, list[tuple[str, str]]]: ...


class RedisReceiptStash:
    """Receipts for an unknown provider_ref, kept a day. The webhook stores one, then
    looks for the row again; the sender records the row, then pops the receipts; so
    one of the two always sees the other (applying twice is harmless)."""

    prefix = "zhida:sms:receipt:"
    ttl = 86_400

    def __init__(self, client: Any):
        self.client = client

    @classmethod
    def from_url(cls, url: str) -> RedisReceiptStash:
        import redis

        return cls(redis.Redis.from_url(url))

    def put(self, provider_ref: str, status: str, error_code: str) -> None:
        key = self.prefix + provider_ref
        pipe = self.client.pipeline()
        pipe.rpush(key, f"{status}\t{error_code}")
        pipe.expire(key, self.ttl)
        pipe.execute()

    def pop(self, provider_ref: str) -> list[tuple[str, str]]:
        return self.pop_many([provider_ref]).get(provider_ref, [])

    def pop_many(self, refs: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """The receipts stashed for these references, removed (one round trip; each LPOP
        is atomic)."""
        pipe = self.client.pipeline(transaction=False)
        for ref in refs:
            pipe.lpop(self.prefix + ref, 1000)
        out: dict[str, list[tuple[str, str]]] = {}
        for ref, items in zip(refs, pipe.execute(), strict=True):
            if items:
                out[ref] = [_receipt_of(item) for item in items]
        return out


def _receipt_of(item: bytes) -> tuple[str, str]:
    status, _, code = item.decode().partition("\t")
    return status, code


class MemoryReceiptStash:
    """The same for one process (the embedded default)."""

    def __init__(self) -> None:
        self._items: dict[str, list[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def put(self, provider_ref: str, status: str, error_code: str) -> None:
        with self._lock:
            self._items.setdefault(provider_ref, []).append((status, error_code))

    def pop(self, provider_ref: str) -> list[tuple[str, str]]:
        with self._lock:
            return self._items.pop(provider_ref, [])

    def pop_many(self, refs: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        with self._lock:
            return {ref: self._items.pop(ref) for ref in refs if ref in self._items}


_STASHES: dict[str, ReceiptStash] = {}
_STASH_LOCK = threading.Lock()


def stash_for(redis_url: str) -> ReceiptStash:
    with _STASH_LOCK:
        if redis_url not in _STASHES:
            _STASHES[redis_url] = (
                RedisReceiptStash.from_url(redis_url) if redis_url else MemoryReceiptStash()
            )
        return _STASHES[redis_url]


def apply_receipt(
    session: Session,
    provider_ref: str,
    status: str,
    error_code: str = "",
    now: dt.datetime | None = None,
) -> str:
    """A delivery receipt: delivered -> delivered, failed/undelivered -> failed (final),
    sent -> sent unless final; other statuses (queued, sending...) are ignored. Returns
    "delivered" | "failed" | "sent" (applied), "ignored" (duplicate, out of order, or the
    row is final) or "unknown" (no row has this reference yet)."""
    now = now or utcnow()
    status = (status or "").strip().lower()
    open_states = N.c.status.in_((Status.SENDING, Status.SENT))
    where = (N.c.provider_ref == provider_ref, is_sms())
    row: Any = None
    if status in DELIVERED_STATUSES:
        rows = session.execute(
            update(N)
            .where(*where, open_states)
            .values(status=Status.DELIVERED, delivered_at=now, updated_at=now)
            .returning(N.c.id, N.c.profile_id, N.c.policy_id, N.c.to)
        ).all()
        for row in rows:  # a digest: its lead and members
            feedback(
                session,
                row[1],
                row[2],
                FeedbackKind.DELIVERED,
                now,
                notification_id=row[0],
                provider_ref=provider_ref,
            )
        if rows:
            return Status.DELIVERED
    elif status in FAILED_STATUSES:
        reason = f"receipt {status}" + (f" (error {error_code})" if error_code else "")
        row = session.execute(
            update(N)
            .where(*where, open_states)
            .values(status=Status.FAILED, updated_at=now, last_error=reason)
            .returning(N.c.id, N.c.profile_id, N.c.policy_id, N.c.to)
        ).first()  # a digest's rows all fail
        if row is not None:
            if error_code == UNSUBSCRIBED and row[3]:
                optout.record(session, row[3], True, UNSUBSCRIBED, now)
            return Status.FAILED
    elif status == "sent":  # the provider's word
        row = session.execute(
            update(N)
            .where(*where, N.c.status == Status.SENDING)
            .values(status=Status.SENT, updated_at=now)
            .returning(N.c.id)
        ).first()  # (members are never sending)
        if row is not None:
            return Status.SENT
    known = session.scalar(select(N.c.id).where(*where).limit(1))
    return "ignored" if known is not None else "unknown"


def _exists(status: str) -> bool:
    """A receipt status that says the provider holds the message."""
    status = (status or "").strip().lower()
    return status in DELIVERED_STATUSES or status in FAILED_STATUSES or status == "sent"


def feedback_sent(session: Session, nid: int, provider_ref: str) -> None:
    """The `sent` FeedbackEvent of a row adopted from a receipt."""
    row = session.execute(select(N.c.profile_id, N.c.policy_id).where(N.c.id == nid)).first()
    if row is not None:
        feedback(
            session,
            row[0],
            row[1],
            FeedbackKind.SENT,
            utcnow(),
            notification_id=nid,
            provider_ref=provider_ref,
        )


def receive_receipt(
    sessions: SessionFactory,
    stash: ReceiptStash,
    provider_ref: str,
    status: str,
    error_code: str = "",
    notification_id: int | None = None,
    provider: str = "",
) -> str:
    """A receipt from the webhook: applied at once, or, when its row does not carry the
    reference yet (the sender has not recorded it), stashed for the sender; then
    looked for once more, so a record committed in between is not missed.

    `notification_id` (from the signed callback URL, or the provider's OutId): when no
    row carries the reference and that row was left unsure or failed without one (its
    sender died or timed out, the sweeper gave up), the receipt is the provider's word
    that the message exists: the row takes the reference ("corrected"), then the
    receipt applies to it."""
    with sessions() as session:
        result = apply_receipt(session, provider_ref, status, error_code)
        if result == "unknown" and notification_id is not None and _exists(status):
            note = f"receipt {status} for {provider_ref}: the provider holds it"
            if adopt(session, notification_id, provider_ref, provider, utcnow(), note):
                for nid in [notification_id, *follow(session, notification_id)]:
                    feedback_sent(session, nid, provider_ref)
                apply_receipt(session, provider_ref, status, error_code)
                return "corrected"
    if result != "unknown":
        return result
    stash.put(provider_ref, status, error_code)
    with sessions() as session:
        return apply_receipt(session, provider_ref, status, error_code)


class ReceiptSource(Protocol):
    """A provider whose receipts can be pulled (Aliyun's QuerySendDetails)."""

    name: str

    def pull_receipt(
        self, to: str, provider_ref: str, sent_at: dt.datetime
    ) -> tuple[str, str] | None: ...


def pull_receipts(
    sessions: SessionFactory,
    source: ReceiptSource,
    now: dt.datetime | None = None,
    older_than: dt.timedelta = dt.timedelta(minutes=10),
    limit: int = 500,
) -> dict[str, int]:
    """Receipts pulled for rows this provider accepted more than `older_than` ago that
    no pushed receipt has finished (a lost push, a misconfigured URL): each applied as
    if pushed. A failed pull leaves the rest for the next pass. Counts by result."""
    now = now or utcnow()
    with sessions() as session:
        rows = session.execute(
            select(N.c.to, N.c.provider_ref, N.c.sent_at)
            .where(
                is_sms(),
                N.c.status == Status.SENT,
                N.c.provider == source.name,
                N.c.provider_ref.is_not(None),
                N.c.sent_at <= now - older_than,
                N.c.digest_id.is_(None),  # a digest's members share its lead's reference
            )
            .order_by(N.c.sent_at)
            .limit(limit)
        ).all()
    counts: dict[str, int] = {}
    for to, ref, sent_at in rows:
        receipt = source.pull_receipt(to or "", ref, sent_at)
        if receipt is None:
            counts["waiting"] = counts.get("waiting", 0) + 1
            continue
        with sessions() as session:
            result = apply_receipt(session, ref, receipt[0], receipt[1], now)
        counts[result] = counts.get(result, 0) + 1
    return counts
