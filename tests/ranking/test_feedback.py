"""Feedback lines: bad ones reported by line and skipped, re-import adds nothing, and
notices labelled by take-up within 30 days of the first notice."""

from __future__ import annotations

import datetime as dt

import polars as pl
from sqlalchemy import func, select

from zhida.ranking.feedback import events_frame, import_feedback, notices, parse_feedback
from zhida.store.db import session_scope
from zhida.store.models import FeedbackEvent

GOOD = [
    '{"profile": "E1", "policy": "p1", "event": "sent", "at": "2026-03-01T09:00:00", "channel": "sms"}',
    '{"profile": "E1", "policy": "p1", "event": "applied", "at": "2026-03-20", "channel": null}',
    '{"profile": "E2", "policy": "p1", "event": "sent", "at": "2026-03-01T09:00:00+08:00", "channel": "inapp"}',
]
BAD = [
    "not json",
    '{"profile": "E3", "policy": "p1", "event": "clicked", "at": "2026-03-01"}',
    '{"profile": "E3", "policy": "p1", "event": "sent", "at": "yesterday"}',
    '{"profile": "E3", "policy": "p1", "event": "sent", "at": "2026-03-01", "channel": "fax"}',
    '{"profile": "", "policy": "p1", "event": "sent", "at": "2026-03-01"}',
    '{"profile": "E3", "policy": "p1", "event": "sent", "at": "2026-03-01", "chanel": "sms"}',
    "[1, 2]",
]


def test_bad_lines_reported_with_numbers_and_the_rest_kept() -> None:
    lines = [GOOD[0], BAD[0], GOOD[1], *BAD[1:], "", GOOD[2]]
    parsed = parse_feedback(lines, "fb.jsonl")
    assert len(parsed.rows) == 3
    errors = [str(e) for e in parsed.errors]
    assert errors == [
        "fb.jsonl:2: error: not JSON: Expecting value",
        "fb.jsonl:4: error: unknown event 'clicked' (one of sent, delivered, opened, applied, "
        "granted, declined, held_out)",
        "fb.jsonl:5: error: 'at' must be an ISO date-time, got 'yesterday'",
        "fb.jsonl:6: error: unknown channel 'fax' (sms, inapp or null)",
        "fb.jsonl:7: error: 'profile' must be a non-empty string",
        "fb.jsonl:8: error: unknown key 'chanel' (keys: profile, policy, event, at, channel)",
        "fb.jsonl:9: error: a line must be a JSON object",
    ]


def test_naive_times_are_shanghai() -> None:
    rows = parse_feedback(GOOD, "fb.jsonl").rows
    assert rows[0]["at"] == dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC)
    assert rows[0]["key"] != rows[2]["key"]


def test_reimport_adds_nothing(db_url: str) -> None:
    rows = parse_feedback(GOOD, "fb.jsonl").rows
    with session_scope(db_url) as s:
        assert import_feedback(s, rows) == 3
    with session_scope(db_url) as s:
        assert import_feedback(s, parse_feedback(GOOD, "fb.jsonl").rows) == 0
        assert s.scalar(select(func.count()).select_from(FeedbackEvent)) == 3


def ev(profile: str, policy: str, event: str, day: int, channel: str | None = "sms") -> dict:
    at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + dt.timedelta(days=day)
    return {
        "profile_id": profile,
        "policy_id": policy,
        "kind": event,
        "at": at,
        "detail": {"channel": channel},
    }


def test_notices_label_within_30_days_of_the_first_notice() -> None:
    frame = events_frame(
        [
            ev("E1", "p1", "sent", 0),
            ev("E1", "p1", "sent", 10, "inapp"),  # a second notice: the first counts
            ev("E1", "p1", "applied", 29),
            ev("E2", "p1", "sent", 0),
            ev("E2", "p1", "granted", 31),  # too late
            ev("E2", "p2", "opened", 1),
            ev("E2", "p2", "applied", 2),
            ev("E3", "p1", "held_out", 0, None),
            ev("E3", "p1", "applied", 5, None),
            ev("E2", "p3", "sent", 40, "inapp"),
        ]
    )
    rows = {(r["profile"], r["policy"]): r for r in notices(frame).to_dicts()}
    assert set(rows) == {("E1", "p1"), ("E2", "p1"), ("E3", "p1"), ("E2", "p3")}
    assert rows["E1", "p1"]["label"] and rows["E1", "p1"]["channel"] == "sms"
    assert not rows["E2", "p1"]["label"]
    assert rows["E3", "p1"]["held_out"] and rows["E3", "p1"]["label"]
    assert rows["E3", "p1"]["channel"] is None
    # past engagement: E2 opened and applied (p2) before its p3 notice, not before p1's
    assert (rows["E2", "p3"]["past_opened"], rows["E2", "p3"]["past_applied"]) == (1.0, 1.0)
    assert (rows["E2", "p1"]["past_opened"], rows["E2", "p1"]["past_applied"]) == (0.0, 0.0)


def test_empty_events_give_no_notices() -> None:
    assert notices(events_frame([])).height == 0
    assert isinstance(notices(events_frame([])), pl.DataFrame)


def test_stored_inapp_messages_count_as_sent_notices(db_url: str) -> None:
    from tests.support.factories import notification

    at = dt.datetime(2026, 3, 1, 2, tzinfo=dt.UTC)
    with session_scope(db_url) as s:
        s.add(notification(profile_id="E9", channel="inapp", status="sent", sent_at=at))
        s.add(notification(profile_id="E8", channel="sms", status="queued"))
        import_feedback(s, parse_feedback(GOOD, "fb.jsonl").rows)
    with session_scope(db_url) as s:
        from zhida.ranking.feedback import load_feedback

        frame = load_feedback(s)
    sent = frame.filter(pl.col("event") == "sent")
    assert sorted(sent.get_column("profile").to_list()) == ["E1", "E2", "E9"]
    e9 = sent.filter(pl.col("profile") == "E9").row(0, named=True)
    assert e9["channel"] == "inapp" and e9["at"] == at
