"""Database models (SQLAlchemy 2). Holds data only; no evaluation logic.

Decisions are stored sparsely: a row per (profile, policy) whose outcome is
eligible or unknown. No row means ineligible (or never evaluated), which keeps a
province's tables to the results that matter; explanations are recomputed.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zhida.clock import utcnow

JSONType = JSON().with_variant(JSONB(), "postgresql")

OUTCOME_CODES = {"ineligible": 0, "unknown": 1, "eligible": 2}
OUTCOME_NAMES = {v: k for k, v in OUTCOME_CODES.items()}


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONType, list[Any]: JSONType}


class Profile(Base):
    __tablename__ = "profiles"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    # field -> value as JSON (dates as YYYY-MM-DD); typed by the schema when loaded
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    source: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class Officer(Base):
    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # author | approver | admin
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # console sign-in: an argon2 hash (None: no password set, token only)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    token_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(default=True, server_default=text("true"))


class PolicyVersion(Base):
    __tablename__ = "policy_versions"
    __table_args__ = (
        UniqueConstraint("policy_id", "version", name="uq_policy_version"),
        UniqueConstraint("policy_id", "sha256", name="uq_policy_text"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_id: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft|published|retired
    audience: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    yaml_text: Mapped[str] = mapped_column(Text)
    schema_yaml: Mapped[str] = mapped_column(Text, default="")  # the pack's schema.yaml
    sha256: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    preview: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    review_comment: Mapped[str | None] = mapped_column(Text, nullable=True)


class Decision(Base):
    __tablename__ = "decisions"

    profile_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    outcome: Mapped[int] = mapped_column(SmallInteger)  # 1 unknown, 2 eligible
    failed: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    unknown: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    benefit: Mapped[float | None] = mapped_column(Float, nullable=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_decisions_policy", "policy_id", "outcome"),)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trigger: Mapped[str] = mapped_column(String(32))  # publish | import | daily | manual
    # pending | running | done | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    kind: Mapped[str] = mapped_column(String(16))
    policy_version_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    as_of: Mapped[str] = mapped_column(String(10))
    chunks_total: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RunChunk(Base):
    __tablename__ = "run_chunks"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    lo: Mapped[str] = mapped_column(String(64))  # first profile id (inclusive)
    hi: Mapped[str | None] = mapped_column(String(64), nullable=True)  # next chunk's lo
    # the profile ids of a chunk of chosen profiles (an import's changed ones), sorted;
    # None: every profile with lo <= id < hi
    ids: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Transition(Base):
    """A change of outcome found by a run. Transitions into eligible feed notifications."""

    __tablename__ = "transitions"
    __table_args__ = (
        UniqueConstraint("run_id", "profile_id", "policy_id", name="uq_transition_once"),
        # pending rows only, by id: the planner reads them in id ranges
        Index(
            "ix_transitions_pending",
            "id",
            postgresql_where=text("notified IS false AND to_outcome > 0"),
            sqlite_where=text("notified IS 0 AND to_outcome > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: real-time event
    profile_id: Mapped[str] = mapped_column(String(64))
    policy_id: Mapped[str] = mapped_column(String(100))
    policy_version_id: Mapped[int] = mapped_column(Integer)
    from_outcome: Mapped[int] = mapped_column(SmallInteger)
    to_outcome: Mapped[int] = mapped_column(SmallInteger)
    notified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditLog(Base):
    """Append-only: who did what, when, with which preview."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    officer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ReviewItem(Base):
    """An ambiguous entity-resolution match waiting for a person (never a silent merge)."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incoming: Mapped[dict[str, Any]] = mapped_column(JSONType)
    candidate_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | merged | created
    source: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- notifications, inbox, applications (issue 4) -----------------------------------------


class NotificationStatus(enum.StrEnum):
    """`Notification.status`. A member equals the stored string, so the column stays text."""

    QUEUED = "queued"  # initial: a task may send it once due
    DEFERRED = "deferred"  # quiet hours: due in the morning
    SENDING = "sending"  # claimed by one task
    UNSURE = "unsure"  # a provider call whose outcome is unknown: asked about before any resend
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"  # final: the provider says it arrived
    FAILED = "failed"  # final
    SKIPPED = "skipped"  # final: no SMS (cap, opt-out, no phone)
    CANCELLED = "cancelled"  # final: no longer true when due (reason in last_error)
    DIGEST = "digest"  # initial: a member of a digest, sent with its lead (digest_id)


class Channel(enum.StrEnum):
    """`Notification.channel`, and `channel` in a FeedbackEvent's detail."""

    SMS = "sms"
    INAPP = "inapp"


class FeedbackKind(enum.StrEnum):
    """`FeedbackEvent.kind`: what the system saw happen after a notice."""

    SENT = "sent"
    DELIVERED = "delivered"
    OPENED = "opened"  # the application link was opened
    APPLIED = "applied"  # an application was submitted
    GRANTED = "granted"  # the benefit was granted (imported history, or the department)
    DECLINED = "declined"  # the profile said no, or the application was refused
    HELD_OUT = "held_out"  # eligible, planned, and not notified: the policy's holdout share


_SMS_ONLY = f"channel = '{Channel.SMS}'"
#: rows a task may still send (a digest member: with its lead)
_WAITING = (
    f"status IN ('{NotificationStatus.QUEUED}', '{NotificationStatus.DEFERRED}', "
    f"'{NotificationStatus.SENDING}', '{NotificationStatus.UNSURE}', "
    f"'{NotificationStatus.DIGEST}')"
)


class Notification(Base):
    """One message to one profile about one policy version on one channel, at most once.

    Life: queued (initial; a task may send it) | deferred (quiet hours or rate: due_at) ->
    sending (claimed by one task) -> sent (provider accepted) -> delivered | failed (final).
    skipped (cap, opt-out, no phone) is final too; so is cancelled (no longer true when
    it came to be sent: the policy's version superseded and the profile not eligible
    under the current one, or its decision gone; the reason in `last_error`). Final
    states never change back, except on the provider's own word (a receipt for a row
    given up on). An SMS row keeps no body: its text, with a freshly minted link, is
    composed when it is sent (`body_hash`: the SHA-256 of the text last sent).
    unsure: a provider call whose outcome is unknown (a timeout after the request left,
    a sender killed after its claim); the next claim asks the provider whether the
    message exists before sending.

    Digests: SMS planned while an earlier one to the recipient waits are its members
    (`digest_id` the lead's, status `digest`, never claimed): sent in the lead's message,
    they follow its state and provider_ref (channels/delivery/digest.py).

    claims counts the claims (each write of a sender is conditional on its own claim's
    number, a fence against a sender that outlived the sweeper); claimed_at is the last
    claim's time, unsure_since the claim time of the first call whose outcome is unknown
    (the provider is asked about messages since then); provider names the provider called.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint(
            "profile_id", "policy_id", "policy_version_id", "channel", name="uq_notification_once"
        ),
        # partial: only the rows each query looks for (see migration 0011)
        Index(
            "ix_notifications_due",
            "status",
            "due_at",
            postgresql_where=text(_WAITING),
            sqlite_where=text(_WAITING),
        ),
        Index(
            "ix_notifications_recipient",
            "to",
            "created_at",
            postgresql_where=text(_SMS_ONLY),
            sqlite_where=text(_SMS_ONLY),
        ),
        Index(
            "ix_notifications_provider_ref",
            "provider_ref",
            postgresql_where=text("provider_ref IS NOT NULL"),
            sqlite_where=text("provider_ref IS NOT NULL"),
        ),
        Index(
            "ix_notifications_digest",
            "digest_id",
            postgresql_where=text("digest_id IS NOT NULL"),
            sqlite_where=text("digest_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # looked up by profile through uq_notification_once (profile_id leads it)
    profile_id: Mapped[str] = mapped_column(String(64))
    policy_id: Mapped[str] = mapped_column(String(100))
    policy_version_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(8))  # Channel
    transition_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(12), default=NotificationStatus.QUEUED)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    to: Mapped[str | None] = mapped_column(String(32), nullable=True)
    body: Mapped[str] = mapped_column(Text, default="")  # in-app only: names no link
    segments: Mapped[int] = mapped_column(Integer, default=0)
    body_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    provider_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    provider: Mapped[str | None] = mapped_column(String(16), nullable=True)
    claims: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    unsure_since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: a digest member: the id of the row it is sent with (None: sent on its own)
    digest_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class InboxMessage(Base):
    __tablename__ = "inbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(String(64), index=True)
    policy_id: Mapped[str] = mapped_column(String(100))
    notification_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="eligible")  # eligible | maybe
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)  # no link: the inbox mints one for its owner
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class OptOut(Base):
    """The latest opt-out state of a phone number (inbound TD/STOP... and opt-ins)."""

    __tablename__ = "opt_outs"

    phone: Mapped[str] = mapped_column(String(32), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(default=True)
    keyword: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InboundMessage(Base):
    """An inbound SMS already acted on, by the provider's id: a replayed (signed)
    request is recognised and changes nothing."""

    __tablename__ = "inbound_messages"

    message_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApplicationToken(Base):
    """BASE/a/TOKEN: random, stored hashed, bound to one profile and one policy, expiring."""

    __tablename__ = "application_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    profile_id: Mapped[str] = mapped_column(String(64))
    policy_id: Mapped[str] = mapped_column(String(100))
    policy_version_id: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("profile_id", "policy_id", name="uq_submission_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    profile_id: Mapped[str] = mapped_column(String(64))
    policy_id: Mapped[str] = mapped_column(String(100))
    policy_version_id: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    outcome: Mapped[str] = mapped_column(String(16))
    trace: Mapped[str] = mapped_column(Text, default="")
    #: the prefilled (government) value of each field the applicant changed, by label
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FeedbackEvent(Base):
    """What happened after a notice (FeedbackKind): what the take-up model learns from.

    `key` is set on imported history (`zhida feedback import`), a digest of the line's
    (profile, policy, event, at, channel), so a re-import adds nothing; the system's own
    events leave it null."""

    __tablename__ = "feedback_events"
    __table_args__ = (UniqueConstraint("key", name="uq_feedback_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(String(64), index=True)
    policy_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    key: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuthSession(Base):
    """A signed-in browser (zhida/api/sessions.py): the hash of the random id its cookie
    holds, who it signs in (kind "profile" or "officer", and the subject), and when it
    ends; a revoked or expired row signs nobody in."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_subject", "kind", "subject"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class UsedToken(Base):
    """A single-use token already spent (a login link): its hash, kept until it would have
    expired anyway."""

    __tablename__ = "used_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class Grant(Base):
    """A 免申即享 decision (`grant: automatic`): the profile confirmed or declined, in one tap,
    the benefit of one policy version, with the decision record (inputs, trace, version) of
    the eligibility it confirmed; `exported_at` once `zhida grants export` has listed it for
    the paying department, which it does once."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("profile_id", "policy_id", "policy_version_id", name="uq_grant_once"),
        Index("ix_grants_export", "policy_id", "decision", "exported_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(String(64), index=True)
    policy_id: Mapped[str] = mapped_column(String(100))
    policy_version_id: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))  # confirmed | declined
    benefit: Mapped[float | None] = mapped_column(Float, nullable=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    exported_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Declaration(Base):
    """A value a profile supplied itself on /me (self-declared, marked so): applied to the
    profile at once; an officer verifies it (`verified_at`) before money moves."""

    __tablename__ = "declarations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(String(64), index=True)
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[dict[str, Any]] = mapped_column(JSONType)  # {"value": JSON value}
    declared_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    verified_by: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Dispute(Base):
    """「数据有误」: a profile says a stored value is wrong; an officer corrects it (which
    re-evaluates the profile and tells them) or rejects it."""

    __tablename__ = "disputes"
    __table_args__ = (Index("ix_disputes_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(String(64), index=True)
    policy_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    field: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|corrected|rejected
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resolution: Mapped[str] = mapped_column(Text, default="")
