"""Writing planned rows: one batch's notifications and inbox messages, and the
transitions marked notified.

On PostgreSQL the writes of one batch run on a worker thread while the planner builds
the next batch (pipelined: Python work overlaps the database's). The thread uses the
session's own psycopg connection, which serialises its use between threads, so every
row stays in the caller's transaction. At most one batch is in flight; an error in it
is raised in the caller before anything else touches the connection. On SQLite the
writes run inline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import psycopg
from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from zhida.channels.inbox import INBOX_COLUMNS, InboxRow, announce_messages, check_kinds
from zhida.store.bulk import insert_tuples
from zhida.store.models import (
    Channel,
    InboxMessage,
    Notification,
    NotificationStatus,
    Transition,
)


class NoteRow(NamedTuple):
    """A notifications row as the planner writes it (a tuple: COPY takes it as it is)."""

    profile_id: str
    policy_id: str
    policy_version_id: int
    channel: Channel
    transition_id: int
    status: NotificationStatus
    due_at: dt.datetime
    to: str | None
    body: str
    segments: int
    last_error: str | None
    sent_at: dt.datetime | None
    attempts: int
    created_at: dt.datetime
    updated_at: dt.datetime
    digest_id: int | None = None


NOTE_COLUMNS = NoteRow._fields


def note_row(
    t: Any,
    channel: Channel,
    status: NotificationStatus,
    due_at: dt.datetime,
    now: dt.datetime,
    *,
    to: str | None = None,
    body: str = "",
    segments: int = 0,
    last_error: str | None = None,
    sent_at: dt.datetime | None = None,
) -> NoteRow:
    """The notifications row for transition `t`."""
    return NoteRow(
        t.profile_id,
        t.policy_id,
        t.policy_version_id,
        channel,
        t.id,
        status,
        due_at,
        to,
        body,
        segments,
        last_error,
        sent_at,
        0,
        now,
        now,
    )


@dataclass
class PlannedBatch:
    """The rows one batch of transitions leads to."""

    done: list[int] = field(default_factory=list)  # transitions to mark notified
    sms: list[NoteRow] = field(default_factory=list)
    inapp: list[NoteRow] = field(default_factory=list)
    # (title, kind) of each in-app row: its inbox message shows them with the row's body
    inbox: list[tuple[str, str]] = field(default_factory=list)
    # digest members (status digest), each with its lead: a stored row's id, or the
    # place in `sms` of a batch of this call (written before, or first in this batch)
    members: list[tuple[NoteRow, int | tuple[PlannedBatch, int]]] = field(default_factory=list)
    sms_ids: list[int] = field(default_factory=list)  # of `sms`, once written


@dataclass
class Written:
    sms_ids: list[int]  # in the order of PlannedBatch.sms
    messages: list[tuple[int, str]]  # (inbox message id, profile id)


Target = Session | psycopg.Connection[Any]


def write_batch(target: Target, batch: PlannedBatch) -> Written:
    """The transitions marked, then notification rows and their inbox messages (no
    links: an SMS gets its link when it is sent, an inbox message when its owner opens
    it)."""
    _mark_notified(target, batch.done)
    table = _table(Notification)
    ids: list[int] = []
    if batch.members:  # the leads first: members name their ids
        batch.sms_ids = ids = insert_tuples(target, table, NOTE_COLUMNS, batch.sms)
        members = [
            note._replace(digest_id=lead if isinstance(lead, int) else lead[0].sms_ids[lead[1]])
            for note, lead in batch.members
        ]
        ids += insert_tuples(target, table, NOTE_COLUMNS, [*members, *batch.inapp])
        ids = [*ids[: len(batch.sms)], *ids[len(batch.sms) + len(members) :]]
    else:
        ids = insert_tuples(target, table, NOTE_COLUMNS, [*batch.sms, *batch.inapp])
        batch.sms_ids = ids[: len(batch.sms)]
    inapp_ids = ids[len(batch.sms) :]
    messages = [
        InboxRow(note.profile_id, note.policy_id, nid, kind, title, note.body, note.created_at)
        for note, nid, (title, kind) in zip(batch.inapp, inapp_ids, batch.inbox, strict=True)
    ]
    check_kinds(messages)
    message_ids = insert_tuples(target, _table(InboxMessage), INBOX_COLUMNS, messages)
    return Written(
        ids[: len(batch.sms)],
        [(mid, m.profile_id) for mid, m in zip(message_ids, messages, strict=True)],
    )


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def _mark_notified(target: Target, done: list[int]) -> None:
    if not done:
        return
    if isinstance(target, Session):
        table = _table(Transition)  # Core, not ORM: no synchronisation of session objects
        target.execute(update(table).where(table.c.id.in_(done)).values(notified=True))
    else:
        target.execute("UPDATE transitions SET notified = true WHERE id = ANY(%s)", (done,))


class BatchWriter:
    """Writes batches in order, one in flight, on a worker thread (PostgreSQL) or inline.

    `submit` first waits for the batch before (raising its error), so the caller may use
    the session again only after `wait`; `close` waits for the last one."""

    def __init__(
        self,
        session: Session,
        on_written: Callable[[PlannedBatch, Written], None],
        redis_url: str,
        *,
        pipeline: bool = True,
    ):
        self.session, self.on_written, self.redis_url = session, on_written, redis_url
        self.pending: tuple[PlannedBatch, Future[Written]] | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.target: Target = session
        if session.get_bind().dialect.name == "postgresql":
            raw = session.connection().connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            self.target = raw  # psycopg directly, from this thread or the worker
            if pipeline:
                self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zhida-plan-write")

    def submit(self, batch: PlannedBatch) -> None:
        self.wait()
        future: Future[Written] = Future()
        if self.pool is None:
            future.set_result(write_batch(self.target, batch))
        else:
            future = self.pool.submit(write_batch, self.target, batch)
        self.pending = (batch, future)

    def wait(self) -> None:
        """Until the batch in flight is written; its error is raised here."""
        if self.pending is None:
            return
        batch, future = self.pending
        self.pending = None
        written = future.result()
        announce_messages(self.session, written.messages, redis_url=self.redis_url)
        self.on_written(batch, written)

    def close(self) -> None:
        """Wait for the last batch (also when the caller failed: never leave a write
        running on the connection the caller is about to roll back)."""
        try:
            if self.pending is not None:
                self.pending[1].exception()  # waits, without raising
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)
