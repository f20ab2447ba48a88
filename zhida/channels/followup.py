"""The one question on /me a few days after a notice: 已申请 / 不感兴趣 / 条件不符实际 /
太麻烦 / 已享受 (DESIGN.md, "What a business or citizen sees").

It is asked for a policy whose first notice (an SMS the provider accepted, or an in-app
message) was sent at least `Settings.followup_days` days ago and not yet answered. One
tap stores the answer as a feedback event that `zhida rank train` reads
(`zhida.ranking.feedback.load_feedback`):

- 已申请 -> `applied`;
- 不感兴趣 / 条件不符实际 / 太麻烦 -> `declined`, the reason kept in `detail.reason`;
- 已享受 -> `declined` with reason `already_enjoyed`: a self-report, not the
  department's `granted`, and not take-up the notice caused, so it is no positive label.

Answered once: the event's `key` is a digest of (profile, policy), unique, so a second
tap (or a race of two) stores nothing and the first answer stands.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.errors import ZhidaError
from zhida.ranking.feedback import import_feedback, load_feedback
from zhida.store.models import FeedbackEvent, FeedbackKind

SOURCE = "followup"
#: answer code -> (the button's label, the event kind, the reason kept)
ANSWERS: dict[str, tuple[str, FeedbackKind, str | None]] = {
    "applied": ("已申请", FeedbackKind.APPLIED, None),
    "not_interested": ("不感兴趣", FeedbackKind.DECLINED, "not_interested"),
    "not_eligible": ("条件不符实际", FeedbackKind.DECLINED, "not_eligible"),
    "too_hard": ("太麻烦", FeedbackKind.DECLINED, "too_hard"),
    "already_enjoyed": ("已享受", FeedbackKind.DECLINED, "already_enjoyed"),
}


class FollowupRefused(ZhidaError):
    """An unknown answer, or a policy this profile was never notified of."""


def answer_key(profile_id: str, policy_id: str) -> str:
    return hashlib.sha256(f"{SOURCE}\x1f{profile_id}\x1f{policy_id}".encode()).hexdigest()


def first_notices(session: Session, profile_id: str) -> dict[str, dt.datetime]:
    """policy -> when this profile was first notified of it (SMS accepted, or in-app)."""
    sent = load_feedback(session, profile_id).filter(pl.col("event") == FeedbackKind.SENT)
    first = sent.group_by("policy").agg(pl.col("at").min())
    return dict(zip(first["policy"].to_list(), first["at"].to_list(), strict=True))


def answered(session: Session, profile_id: str) -> dict[str, str]:
    """policy -> the stored answer code, for this profile."""
    stmt = select(FeedbackEvent.policy_id, FeedbackEvent.detail).where(
        FeedbackEvent.profile_id == profile_id,
        FeedbackEvent.key.is_not(None),
        FeedbackEvent.kind.in_([FeedbackKind.APPLIED.value, FeedbackKind.DECLINED.value]),
    )
    return {
        policy: detail["answer"]
        for policy, detail in session.execute(stmt)
        if (detail or {}).get("source") == SOURCE
    }


def due(session: Session, profile_id: str, ask_before: dt.datetime) -> set[str]:
    """The policies to ask about: first notified at or before `ask_before`, unanswered."""
    cutoff = ask_before if ask_before.tzinfo else ask_before.replace(tzinfo=dt.UTC)
    done = answered(session, profile_id)
    return {p for p, at in first_notices(session, profile_id).items() if at <= cutoff} - set(done)


def answer(session: Session, profile_id: str, policy_id: str, code: str, now: dt.datetime) -> str:
    """Store the answer (the first one wins); the stored answer code."""
    if code not in ANSWERS:
        raise FollowupRefused(f"unknown answer '{code}' (one of {', '.join(ANSWERS)})")
    if policy_id not in first_notices(session, profile_id):
        raise FollowupRefused(f"'{profile_id}' was not notified of '{policy_id}'")
    _, kind, reason = ANSWERS[code]
    detail: dict[str, Any] = {"channel": None, "source": SOURCE, "answer": code}
    if reason is not None:
        detail["reason"] = reason
    row = {
        "profile_id": profile_id,
        "policy_id": policy_id,
        "kind": kind.value,
        "at": now,
        "detail": detail,
        "key": answer_key(profile_id, policy_id),
    }
    import_feedback(session, [row])
    return answered(session, profile_id)[policy_id]
