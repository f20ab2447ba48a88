"""The in-app inbox: one row per message, always read and changed for ONE profile.

`push_message` adds the row in the caller's transaction. Once that transaction
commits, an event `{"id": MESSAGE_ID}` is published on the Redis channel
`zhida:inbox:{profile_id}` (when a Redis URL is configured), which wakes the open
pages of that profile (Server-Sent Events, `zhida.api.routes.inbox`). The event carries
no content: the page's stream reads the new rows from the database, for its own
profile only. Without Redis the stream polls the table, so both paths deliver.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import NamedTuple

import redis
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.errors import ZhidaError
from zhida.settings import get_settings
from zhida.store.models import InboxMessage

log = logging.getLogger(__name__)

KINDS = ("eligible", "maybe", "notice")  # notice: no policy verdict (a dispute's answer)
_PENDING = "zhida.inbox.pending"  # session.info key: events to publish after commit
_CLIENTS: dict[str, redis.Redis] = {}


class MessageNotFound(ZhidaError):
    """No such message for this profile (another profile's message is 'not found' too)."""


def channel_name(profile_id: str) -> str:
    return f"zhida:inbox:{profile_id}"


def _client(url: str) -> redis.Redis:
    if url not in _CLIENTS:
        _CLIENTS[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _CLIENTS[url]


def _publish_pending(session: Session) -> None:
    for url, channel, payload in session.info.pop(_PENDING, []):
        try:
            _client(url).publish(channel, payload)
        except redis.RedisError as err:  # the row is committed; open pages catch up by polling
            log.warning("inbox event not published on %s: %s", channel, err)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _publish_after_commit(session: Session, url: str, channel: str, payload: str) -> None:
    session.info.setdefault(_PENDING, []).append((url, channel, payload))
    if not event.contains(session, "after_commit", _publish_pending):
        event.listen(session, "after_commit", _publish_pending)
        event.listen(session, "after_rollback", _drop_pending)


def push_message(
    session: Session,
    profile_id: str,
    policy_id: str,
    title: str,
    body: str,
    kind: str = "eligible",
    notification_id: int | None = None,
    *,
    redis_url: str | None = None,
) -> InboxMessage:
    """Add a message to a profile's inbox; open pages hear of it once the caller commits.

    Idempotent per notification: a second call with the same `notification_id` returns
    the message already made. `redis_url` defaults to the settings' (empty: no event;
    the pages poll).
    """
    _check_kind(kind)
    if notification_id is not None:
        existing = session.scalar(
            select(InboxMessage).where(InboxMessage.notification_id == notification_id)
        )
        if existing is not None:
            return existing
    message = InboxMessage(
        profile_id=profile_id,
        policy_id=policy_id,
        title=title,
        body=body,
        kind=kind,
        notification_id=notification_id,
        created_at=utcnow(),
    )
    session.add(message)
    session.flush()
    url = get_settings().redis_url if redis_url is None else redis_url
    if url:
        _publish_after_commit(
            session, url, channel_name(profile_id), json.dumps({"id": message.id})
        )
    return message


class InboxRow(NamedTuple):
    """An inbox_messages row inserted in bulk (the planner's path)."""

    profile_id: str
    policy_id: str
    notification_id: int | None
    kind: str
    title: str
    body: str
    created_at: dt.datetime


INBOX_COLUMNS = InboxRow._fields


def check_kinds(rows: list[InboxRow]) -> None:
    """Every row has a known kind."""
    for row in rows:
        _check_kind(row.kind)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def announce_messages(
    session: Session, messages: list[tuple[int, str]], *, redis_url: str | None = None
) -> None:
    """Events for messages inserted in bulk (the planner's path), (message id, profile id)
    each, published once the caller commits, as push_message does."""
    url = get_settings().redis_url if redis_url is None else redis_url
    if url:
        for message_id, profile_id in messages:
            _publish_after_commit(
                session, url, channel_name(profile_id), json.dumps({"id": message_id})
            )


def list_messages(
    session: Session, profile_id: str, limit: int = 50, before_id: int | None = None
) -> list[InboxMessage]:
    """The profile's messages, newest first."""
    stmt = select(InboxMessage).where(InboxMessage.profile_id == profile_id)
    if before_id is not None:
        stmt = stmt.where(InboxMessage.id < before_id)
    return list(session.scalars(stmt.order_by(InboxMessage.id.desc()).limit(limit)))


def messages_after(
    session: Session, profile_id: str, after_id: int, limit: int = 50
) -> list[InboxMessage]:
    """The profile's messages newer than `after_id`, oldest first (what a stream sends next)."""
    return list(
        session.scalars(
            select(InboxMessage)
            .where(InboxMessage.profile_id == profile_id, InboxMessage.id > after_id)
            .order_by(InboxMessage.id)
            .limit(limit)
        )
    )


def latest_id(session: Session, profile_id: str) -> int:
    return int(
        session.scalar(
            select(func.max(InboxMessage.id)).where(InboxMessage.profile_id == profile_id)
        )
        or 0
    )


def unread_count(session: Session, profile_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(InboxMessage)
            .where(InboxMessage.profile_id == profile_id, InboxMessage.read_at.is_(None))
        )
        or 0
    )


def own_message(session: Session, profile_id: str, message_id: int) -> InboxMessage:
    """One of the profile's messages (another profile's is MessageNotFound too)."""
    message = session.scalar(
        select(InboxMessage).where(
            InboxMessage.id == message_id, InboxMessage.profile_id == profile_id
        )
    )
    if message is None:
        raise MessageNotFound(f"no message {message_id}")
    return message


def mark_read(
    session: Session, profile_id: str, message_id: int, now: dt.datetime | None = None
) -> InboxMessage:
    """Mark one of the profile's messages read (the first read time is kept)."""
    message = own_message(session, profile_id, message_id)
    if message.read_at is None:
        message.read_at = now or utcnow()
        session.flush()
    return message
