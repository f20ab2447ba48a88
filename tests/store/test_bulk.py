"""Bulk inserts with ids: COPY on PostgreSQL round-trips every kind of value exactly."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from zhida.store.bulk import insert_with_ids
from zhida.store.db import session_scope
from zhida.store.models import InboxMessage, Notification

NOW = dt.datetime(2026, 5, 6, 2, 0, tzinfo=dt.UTC)


def test_ids_come_back_in_order_and_values_round_trip(db_url: str) -> None:
    tricky = ["普通", "tab\there", "new\nline", "back\\slash \\N", "", "\r", "引号\"'"]
    rows = [{"profile_id": f"P{i}", "policy_id": "p", "policy_version_id": 1, "channel": "sms",
             "transition_id": None, "status": "queued", "due_at": NOW, "to": None,
             "body": body, "segments": i, "link": None if i % 2 else f"https://x/{i}",
             "provider_ref": None, "attempts": 0, "last_error": None, "created_at": NOW,
             "updated_at": NOW, "sent_at": None} for i, body in enumerate(tricky)]
    with session_scope(db_url) as s:
        ids = insert_with_ids(s, Notification.__table__, rows)  # type: ignore[arg-type]
    assert ids == sorted(ids) and len(set(ids)) == len(rows)
    with session_scope(db_url) as s:
        stored = {n.id: n for n in s.scalars(select(Notification))}
        for new_id, row in zip(ids, rows, strict=True):
            n = stored[new_id]
            assert (n.profile_id, n.body, n.segments, n.link, n.to) == (
                row["profile_id"], row["body"], row["segments"], row["link"], None)
            due = n.due_at if n.due_at.tzinfo else n.due_at.replace(tzinfo=dt.UTC)
            assert due == NOW


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(st.text(max_size=30), min_size=1, max_size=5))
def test_any_text_round_trips_through_copy(pg_admin_url: str, texts: list[str]) -> None:
    from zhida.store.db import upgrade

    texts = [t.replace("\x00", "") for t in texts]  # PostgreSQL text cannot hold NUL
    url = pg_admin_url
    upgrade(url)
    rows = [{"profile_id": "bulk-prop", "policy_id": "p", "title": t, "body": t, "link": None,
             "kind": "eligible", "notification_id": None, "created_at": NOW} for t in texts]
    with session_scope(url) as s:
        ids = insert_with_ids(s, InboxMessage.__table__, rows)  # type: ignore[arg-type]
        got = {m.id: m.title for m in s.scalars(select(InboxMessage)
                                                .where(InboxMessage.id.in_(ids)))}
        assert [got[i] for i in ids] == texts
        s.rollback()
