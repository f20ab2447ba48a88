"""Bulk inserts with ids: COPY on PostgreSQL round-trips every kind of value exactly."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.support.strategies import examples
from zhida.store.bulk import binary_types, insert_tuples
from zhida.store.db import session_scope
from zhida.store.models import InboxMessage, Notification

NOW = dt.datetime(2026, 5, 6, 2, 0, tzinfo=dt.UTC)


def insert_dicts(session: Any, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    return insert_tuples(session, table, list(rows[0]), [tuple(r.values()) for r in rows])


def test_ids_come_back_in_order_and_values_round_trip(db_url: str) -> None:
    tricky = ["普通", "tab\there", "new\nline", "back\\slash \\N", "", "\r", "引号\"'"]
    rows = [
        {
            "profile_id": f"P{i}",
            "policy_id": "p",
            "policy_version_id": 1,
            "channel": "sms",
            "transition_id": None,
            "status": "queued",
            "due_at": NOW,
            "to": None,
            "body": body,
            "segments": i,
            "body_hash": None if i % 2 else f"{i:064d}",
            "provider_ref": None,
            "attempts": 0,
            "last_error": None,
            "created_at": NOW,
            "updated_at": NOW,
            "sent_at": None,
        }
        for i, body in enumerate(tricky)
    ]
    with session_scope(db_url) as s:
        ids = insert_dicts(s, Notification.__table__, rows)
    assert ids == sorted(ids) and len(set(ids)) == len(rows)
    with session_scope(db_url) as s:
        stored = {n.id: n for n in s.scalars(select(Notification))}
        for new_id, row in zip(ids, rows, strict=True):
            n = stored[new_id]
            assert (n.profile_id, n.body, n.segments, n.body_hash, n.to) == (
                row["profile_id"],
                row["body"],
                row["segments"],
                row["body_hash"],
                None,
            )
            due = n.due_at if n.due_at.tzinfo else n.due_at.replace(tzinfo=dt.UTC)
            assert due == NOW


@settings(max_examples=examples(40), deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(st.text(max_size=30), min_size=1, max_size=5))
def test_any_text_round_trips_through_copy(pg_url: str, texts: list[str]) -> None:
    texts = [t.replace("\x00", "") for t in texts]  # PostgreSQL text cannot hold NUL
    url = pg_url
    rows = [
        {
            "profile_id": "bulk-prop",
            "policy_id": "p",
            "title": t,
            "body": t,
            "kind": "eligible",
            "notification_id": None,
            "created_at": NOW,
        }
        for t in texts
    ]
    with session_scope(url) as s:
        ids = insert_dicts(s, InboxMessage.__table__, rows)
        got = {
            m.id: m.title for m in s.scalars(select(InboxMessage).where(InboxMessage.id.in_(ids)))
        }
        assert [got[i] for i in ids] == texts
        s.rollback()


@settings(max_examples=examples(30), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    rows=st.lists(
        st.tuples(
            st.datetimes(
                min_value=dt.datetime(1970, 1, 2),
                max_value=dt.datetime(2200, 1, 1),
                timezones=st.sampled_from(
                    [dt.UTC, ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York")]
                ),
            ),
            st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
            st.one_of(st.none(), st.text(max_size=20).map(lambda t: t.replace("\x00", ""))),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_binary_copy_round_trips_times_numbers_and_nulls(
    pg_url: str, rows: list[tuple[dt.datetime, int | None, str | None]]
) -> None:
    """Binary COPY (typed by the table) keeps instants, integers and NULLs exactly."""
    columns = (
        "profile_id",
        "policy_id",
        "policy_version_id",
        "channel",
        "transition_id",
        "status",
        "due_at",
        "to",
        "body",
        "segments",
        "attempts",
        "last_error",
        "created_at",
        "updated_at",
    )
    values = [
        (f"bulk-bin-{i}", "p", 1, "sms", number, "queued", when, None, "", 0, 0, error, when, NOW)
        for i, (when, number, error) in enumerate(rows)
    ]
    with session_scope(pg_url) as s:
        assert binary_types(Notification.__table__, ("id", *columns)) is not None  # type: ignore[arg-type]
        ids = insert_tuples(s, Notification.__table__, columns, values)  # type: ignore[arg-type]
        got = {n.id: n for n in s.scalars(select(Notification).where(Notification.id.in_(ids)))}
        for new_id, (when, number, error) in zip(ids, rows, strict=True):
            n = got[new_id]
            # compared as UTC: PEP 495 makes an inter-zone == False for ambiguous local times
            assert (n.due_at.astimezone(dt.UTC), n.transition_id, n.last_error, n.to) == (
                when.astimezone(dt.UTC),
                number,
                error,
                None,
            )
        s.rollback()
