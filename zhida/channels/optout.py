"""Opt-out state of phone numbers (inbound TD/T/N/退订/STOP..., and opt-ins), and the
reply that confirms a change.

A message is read as people write it: NFKC (full-width ＴＤ becomes TD), upper case,
punctuation, symbols and spaces (ASCII, full-width, ideographic) as separators, and
courtesy words around the keyword dropped (「退订。」「退订 谢谢」「请退订」「TD please」).
What is left must be exactly one keyword: 「TD TD」, 「S TOP」 or 「请问怎么申请」 are not.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from zhida.channels.ratelimit import RateLimited, bucket_for
from zhida.channels.sms.base import ProviderError, mask_phone
from zhida.channels.sms.registry import get_provider
from zhida.channels.sms_text import segments
from zhida.clock import utcnow
from zhida.settings import Settings
from zhida.store.models import InboundMessage, OptOut

log = logging.getLogger(__name__)

OPT_OUT_KEYWORDS = frozenset(
    {
        *("TD", "T", "N", "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"),
        *("退订", "取消", "取消订阅", "退订短信", "拒收"),
    }
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES", "订阅", "恢复", "恢复订阅", "重新订阅"})
#: words around a keyword that do not change what it asks for
COURTESY_WORDS = frozenset(
    {"谢谢", "谢谢你", "谢谢您", "多谢", "您好", "你好", "好的", "PLEASE", "THANKS", "THANK"}
    | {"YOU", "THX", "OK", "PLS"}
)
COURTESY_PREFIXES = ("请帮我", "麻烦", "我要", "我想", "帮我", "请")
COURTESY_SUFFIXES = ("谢谢你", "谢谢您", "谢谢", "多谢", "谢了", "吧", "啦", "了")


def _is_separator(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "PSZC"


def _strip_courtesy(token: str) -> str:
    changed = True
    while changed and token not in OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS:
        changed = False
        for affix in COURTESY_PREFIXES:
            if token.startswith(affix) and len(token) > len(affix):
                token, changed = token[len(affix) :], True
        for affix in COURTESY_SUFFIXES:
            if token.endswith(affix) and len(token) > len(affix):
                token, changed = token[: -len(affix)], True
    return token


def normalise_keyword(text: str) -> str:
    """The message as a keyword is looked up: the one word left after normalisation, or
    the words left joined by spaces when there are several (never a keyword)."""
    cleaned = "".join(
        " " if _is_separator(c) else c for c in unicodedata.normalize("NFKC", text or "")
    )
    words = [_strip_courtesy(w) for w in cleaned.upper().split() if w not in COURTESY_WORDS]
    return " ".join(w for w in words if w not in COURTESY_WORDS)


def keyword_action(text: str) -> tuple[bool, str] | None:
    """(opted_out, keyword) for an opt-out or opt-in message, None for anything else."""
    word = normalise_keyword(text)
    if word in OPT_OUT_KEYWORDS:
        return True, word
    if word in OPT_IN_KEYWORDS:
        return False, word
    return None


def confirmation_text(opted_out: bool, settings: Settings) -> str:
    """The reply that confirms an opt-out (and how to undo it) or an opt-in."""
    if opted_out:
        return (
            f"{settings.sms_signature}您已退订政策直达短信，今后不再向您发送。"
            "如需恢复，请回复“订阅”。"
        )
    return f"{settings.sms_signature}您已恢复接收政策直达短信。{settings.sms_opt_out_hint}"


def send_confirmation(settings: Settings, phone: str, opted_out: bool, reference: str) -> bool:
    """Send the confirmation through the configured provider, within the provider rate
    shared by every worker. A failure is logged, not raised: the opt-out itself is
    already recorded, and the number gets no other SMS either way. True when sent."""
    body = confirmation_text(opted_out, settings)
    try:
        wait = bucket_for(settings.redis_url, settings.sms_rate_per_second).acquire(1, max_wait=5.0)
        if wait > 0:
            time.sleep(wait)
        get_provider(settings).send_sms(
            phone, body, f"reply-{reference}", meta={"segments": segments(body)}
        )
    except (ProviderError, RateLimited) as err:
        log.warning("no confirmation to %s: %s", mask_phone(phone), err)
        return False
    return True


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
