"""Feedback: what happened after notices, from the store and from imported history.

`zhida feedback import FILE` reads JSON Lines, one event a line (DESIGN.md, "Command
line"): `{"profile", "policy", "event", "at", "channel"}` with event
sent|delivered|opened|applied|granted|declined, at an ISO date-time (a naive one is
Asia/Shanghai time; a bare date is its midnight) and channel sms|inapp|null. A bad
line is reported with its number and skipped; the rest are stored. Each stored line
carries a digest of its five fields (`FeedbackEvent.key`, unique), so importing the
same history again adds nothing.

`notices` turns events into the rows the take-up model learns from: one per (profile,
policy) notified (its first `sent`) or held out (its first `held_out`), labelled by
an application (`applied` or `granted`) within LABEL_DAYS of that first notice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import ColumnElement, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from zhida.errors import RowError, SubjectError
from zhida.store.models import (
    Channel,
    FeedbackEvent,
    FeedbackKind,
    Notification,
    NotificationStatus,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: the events a feedback file may hold (held_out, the planner's own, so an exported or
#: simulated history round-trips)
IMPORTED_EVENTS = ("sent", "delivered", "opened", "applied", "granted", "declined", "held_out")
CHANNELS = (Channel.SMS.value, Channel.INAPP.value)
LINE_KEYS = ("profile", "policy", "event", "at", "channel")
#: an application this many days after the first notice still counts as take-up
LABEL_DAYS = 30
#: the event frame's columns, as `load_feedback` and `read_feedback_file` return them
EVENT_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "profile": pl.String,
    "policy": pl.String,
    "event": pl.String,
    "at": pl.Datetime("us", "UTC"),
    "channel": pl.String,
}
_TABLE: Table = FeedbackEvent.__table__  # type: ignore[assignment]
BATCH = 5000


@dataclass
class ParsedFeedback:
    rows: list[dict[str, Any]] = field(default_factory=list)  # ready for FeedbackEvent
    errors: list[RowError] = field(default_factory=list)
    lines: int = 0


#: `detail.source` of imported history, and of history a simulator made up (the demo's:
#: it trains the model, but is no result of any policy, so the console leaves it out)
IMPORTED, SIMULATED = "import", "simulated"


def parse_instant(text: str) -> dt.datetime:
    """An ISO date or date-time; naive means Asia/Shanghai. The instant in UTC."""
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value.astimezone(dt.UTC)


def line_key(profile: str, policy: str, event: str, at: dt.datetime, channel: str | None) -> str:
    """The digest that makes a re-imported line a duplicate: same five fields, same key."""
    text = "\x1f".join((profile, policy, event, at.isoformat(), channel or ""))
    return hashlib.sha256(text.encode()).hexdigest()


def parse_line(text: str) -> dict[str, Any]:
    """One feedback line -> a FeedbackEvent row; ValueError with the reason if it is bad."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON: {err.msg}") from None
    if not isinstance(obj, dict):
        raise ValueError("a line must be a JSON object")
    unknown = sorted(set(obj) - set(LINE_KEYS))
    if unknown:
        raise ValueError(f"unknown key '{unknown[0]}' (keys: {', '.join(LINE_KEYS)})")
    for name in ("profile", "policy", "event", "at"):
        if not isinstance(obj.get(name), str) or not obj[name]:
            raise ValueError(f"'{name}' must be a non-empty string")
    event, channel = obj["event"], obj.get("channel")
    if event not in IMPORTED_EVENTS:
        raise ValueError(f"unknown event '{event}' (one of {', '.join(IMPORTED_EVENTS)})")
    if channel is not None and channel not in CHANNELS:
        raise ValueError(f"unknown channel '{channel}' (sms, inapp or null)")
    try:
        at = parse_instant(obj["at"])
    except ValueError:
        raise ValueError(f"'at' must be an ISO date-time, got '{obj['at']}'") from None
    return {
        "profile_id": obj["profile"],
        "policy_id": obj["policy"],
        "kind": event,
        "at": at,
        "detail": {"channel": channel, "source": IMPORTED},
        "key": line_key(obj["profile"], obj["policy"], event, at, channel),
    }


def parse_feedback(lines: Iterable[str], file: str) -> ParsedFeedback:
    out = ParsedFeedback()
    for number, text in enumerate(lines, start=1):
        out.lines = number
        if not text.strip():
            continue
        try:
            out.rows.append(parse_line(text))
        except ValueError as err:
            out.errors.append(RowError(file, number, str(err)))
    return out


def _lines(path: Path) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8") as f:
            yield from f
    except FileNotFoundError:
        raise SubjectError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise SubjectError(f"{path}: not UTF-8 text (JSON Lines expected)") from None


def read_feedback_path(path: Path) -> ParsedFeedback:
    return parse_feedback(_lines(path), str(path))


def import_feedback(session: Session, rows: list[dict[str, Any]]) -> int:
    """Store parsed rows; a row whose key is already stored is left out. How many were new."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    added = 0
    for start in range(0, len(rows), BATCH):
        stmt = insert(_TABLE).on_conflict_do_nothing(index_elements=["key"])
        result = session.execute(stmt.returning(_TABLE.c.id), rows[start : start + BATCH])
        added += len(result.all())
    return added


def events_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """FeedbackEvent rows (dicts) as the event frame."""
    return pl.DataFrame(
        {
            "profile": [r["profile_id"] for r in rows],
            "policy": [r["policy_id"] for r in rows],
            "event": [r["kind"] for r in rows],
            "at": [r["at"] for r in rows],
            "channel": [(r.get("detail") or {}).get("channel") for r in rows],
        },
        schema=EVENT_SCHEMA,
    )


def real_feedback() -> ColumnElement[bool]:
    """Feedback events that happened: not marked simulated."""
    return FeedbackEvent.detail["source"].as_string().is_distinct_from(SIMULATED)


def load_feedback(
    session: Session, profile_id: str | None = None, simulated: bool = True
) -> pl.DataFrame:
    """Every stored feedback event, the system's own and the imported, and a `sent`
    event for each in-app message (the planner stores those as sent notifications,
    not as feedback events; SMS get theirs when the provider accepts them); with
    `profile_id`, that profile's only; `simulated=False`: without the simulated."""
    stmt = select(
        FeedbackEvent.profile_id,
        FeedbackEvent.policy_id,
        FeedbackEvent.kind,
        FeedbackEvent.at,
        FeedbackEvent.detail,
    )
    if profile_id is not None:
        stmt = stmt.where(FeedbackEvent.profile_id == profile_id)
    if not simulated:
        stmt = stmt.where(real_feedback())
    rows = [
        {"profile_id": p, "policy_id": q, "kind": k, "at": _aware(a), "detail": d}
        for p, q, k, a, d in session.execute(stmt)
    ]
    inapp = select(Notification.profile_id, Notification.policy_id, Notification.sent_at).where(
        Notification.channel == Channel.INAPP,
        Notification.status == NotificationStatus.SENT,
        Notification.sent_at.is_not(None),
    )
    if profile_id is not None:
        inapp = inapp.where(Notification.profile_id == profile_id)
    rows += [
        {
            "profile_id": p,
            "policy_id": q,
            "kind": FeedbackKind.SENT,
            "at": _aware(a),
            "detail": {"channel": Channel.INAPP},
        }
        for p, q, a in session.execute(inapp)
        if a is not None
    ]
    return events_frame(rows)


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def notices(events: pl.DataFrame, label_days: int = LABEL_DAYS) -> pl.DataFrame:
    """One row per (profile, policy) first notified or held out, oldest first:
    profile, policy, at (the first notice), channel (of that notice; null when held
    out), held_out, label (applied or granted within `label_days` of `at`), and the
    profile's past engagement before `at`: past_opened, past_applied (any policy)."""
    first = (
        events.filter(pl.col("event").is_in([FeedbackKind.SENT, FeedbackKind.HELD_OUT]))
        .sort("at")
        .group_by("profile", "policy", maintain_order=True)
        .first()
        .select(
            "profile",
            "policy",
            "at",
            pl.when(pl.col("event") == FeedbackKind.SENT).then(pl.col("channel")).alias("channel"),
            (pl.col("event") == FeedbackKind.HELD_OUT).alias("held_out"),
        )
    )
    took = (
        events.filter(pl.col("event").is_in([FeedbackKind.APPLIED, FeedbackKind.GRANTED]))
        .select("profile", "policy", pl.col("at").alias("took_at"))
        .join(first.select("profile", "policy", "at"), on=["profile", "policy"])
        .filter(
            (pl.col("took_at") >= pl.col("at"))
            & (pl.col("took_at") <= pl.col("at") + pl.duration(days=label_days))
        )
        .select("profile", "policy")
        .unique()
        .with_columns(pl.lit(True).alias("label"))
    )
    out = first.join(took, on=["profile", "policy"], how="left").with_columns(
        pl.col("label").fill_null(False)
    )
    for kind, name in (
        (FeedbackKind.OPENED, "past_opened"),
        (FeedbackKind.APPLIED, "past_applied"),
    ):
        out = _count_before(out, events.filter(pl.col("event") == kind), name)
    return out.sort("at", "profile", "policy")


def _count_before(rows: pl.DataFrame, events: pl.DataFrame, name: str) -> pl.DataFrame:
    """How many of the profile's `events` happened strictly before each row's `at`."""
    counted = (
        events.select("profile", pl.col("at").alias("ev_at"))
        .sort("ev_at")
        .with_columns(pl.int_range(1, pl.len() + 1).over("profile").alias(name))
        .with_columns((pl.col("ev_at") + pl.duration(microseconds=1)).alias("after"))
    )
    joined = rows.sort("at").join_asof(
        counted.select("profile", "after", name).sort("after"),
        left_on="at",
        right_on="after",
        by="profile",
        strategy="backward",
        check_sortedness=False,  # both sorted by time above; polars cannot check with `by`
    )
    return joined.select(*rows.columns, pl.col(name).fill_null(0).cast(pl.Float64))
