"""Opt-out state of phone numbers (inbound TD/T/N/退订/STOP..., and opt-ins).

Keywords are compared after NFKC normalisation (full-width ＴＤ becomes TD),
stripping and upper-casing; the whole message must be the keyword.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.store.models import InboundMessage, OptOut

OPT_OUT_KEYWORDS = frozenset(
    {"TD", "T", "N", "退订", "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES", "订阅"})


def normalise_keyword(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip().upper()


def keyword_action(text: str) -> tuple[bool, str] | None:
    """(opted_out, keyword) for an opt-out or opt-in message, None for anything else."""
    word = normalise_keyword(text)
    if word in OPT_OUT_KEYWORDS:
        return True, word
    if word in OPT_IN_KEYWORDS:
        return False, word
    return None


def is_opted_out(session: Session, phone: str | None) -> bool:
    if not phone:
        return False
    return bool(session.scalar(select(OptOut.opted_out).where(OptOut.phone == phone)))


def record(
    session: Session, phone: str, opted_out: bool, keyword: str, now: dt.datetime | None = None
) -> None:
    """Set the latest state of `phone` (an upsert, safe when two messages race);
    the caller commits."""
    values: dict[str, Any] = {
        "phone": phone,
        "opted_out": opted_out,
        "keyword": keyword[:32],
        "updated_at": now or utcnow(),
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg = pg_insert(OptOut).values(**values)
        session.execute(
            pg.on_conflict_do_update(
                index_elements=[OptOut.phone],
                set_={k: pg.excluded[k] for k in ("opted_out", "keyword", "updated_at")},
            )
        )
    elif dialect == "sqlite":
        lite = sqlite_insert(OptOut).values(**values)
        session.execute(
            lite.on_conflict_do_update(
                index_elements=[OptOut.phone],
                set_={k: lite.excluded[k] for k in ("opted_out", "keyword", "updated_at")},
            )
        )
    else:  # pragma: no cover - other databases: read, then write
        row = session.get(OptOut, phone)
        if row is None:
            session.add(OptOut(**values))
        else:
            row.opted_out, row.keyword, row.updated_at = (
                opted_out,
                values["keyword"],
                values["updated_at"],
            )
    session.flush()


def first_time(session: Session, message_sid: str, now: dt.datetime | None = None) -> bool:
    """Remember an inbound message by its provider id; False if it was seen before (a
    replay). Safe when two deliveries of it race: the primary key decides; the caller
    commits."""
    values = {"message_sid": message_sid[:64], "received_at": now or utcnow()}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stored = session.scalar(
        insert(InboundMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["message_sid"])
        .returning(InboundMessage.message_sid)
    )
    return stored is not None
