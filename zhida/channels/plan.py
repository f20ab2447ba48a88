"""Planning notifications from transitions into eligibility.

One in-app message always (and, configurably, an in-app "可能符合，需补充信息"
message for an unknown outcome, never an SMS); one SMS when the profile has a
phone, has not opted out, is under the frequency cap, and the policy's window is
open or opens within the lead time. Every row is unique per (profile, policy,
policy version, channel) and is saved before any task is queued; quiet hours set
a due time in the row instead of a broker ETA.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from zhida.channels.delivery import quiet_until
from zhida.channels.inbox import push_messages
from zhida.channels.links import new_link, store_links
from zhida.channels.templates import (
    MessageContext,
    benefit_text,
    chinese_date,
    inapp_text,
    sms_text,
)
from zhida.matcher.explain import missing_labels
from zhida.matcher.publish import policy_of, schemas_from
from zhida.matcher.reference import evaluate_policy
from zhida.rules.policy import Policy
from zhida.settings import Settings
from zhida.store.bulk import insert_with_ids
from zhida.store.models import (
    Decision,
    Notification,
    OptOut,
    PolicyVersion,
    Profile,
    Transition,
)
from zhida.store.profiles import frame_from_json

SHANGHAI = ZoneInfo("Asia/Shanghai")
BATCH = 2000


@dataclass
class PlanSummary:
    transitions: int = 0
    inapp: int = 0
    sms_queued: int = 0
    sms_deferred: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count (no SMS)
    waiting: int = 0  # window opens later than the lead time: planned on a later day
    queued_ids: list[int] = field(default_factory=list)


def sms_due(now: dt.datetime, settings: Settings) -> dt.datetime:
    """Now, or the end of quiet hours (08:00 Asia/Shanghai) when now is inside them."""
    return quiet_until(now, settings) or now


class _Versions:
    def __init__(self, session: Session):
        self.session = session
        self.cache: dict[int, tuple[PolicyVersion, Policy]] = {}

    def get(self, version_id: int) -> tuple[PolicyVersion, Policy]:
        if version_id not in self.cache:
            version = self.session.get(PolicyVersion, version_id)
            assert version is not None, f"policy version {version_id} missing"
            self.cache[version_id] = (version, policy_of(version))
        return self.cache[version_id]


def _among(session: Session, column: Any, values: Any) -> Any:
    """`column IN values`; on PostgreSQL `column = ANY(:array)`: one parameter instead of
    thousands, which SQLAlchemy would otherwise compile one by one."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("among", values, type_=ARRAY(column.type), unique=True))
    return column.in_(values)


class _Profiles:
    """Name and phone of every profile of a batch from one light query; the whole typed
    profile only for those that must be evaluated again (unknown outcomes, or no stored
    decision to take the benefit from)."""

    def __init__(self, session: Session, ids: list[str], versions: _Versions,
                 wanted: dict[str, int]):
        self.session, self.versions, self.wanted = session, versions, wanted
        rows = session.execute(select(Profile.id, Profile.data["name"].as_string(),
                                      Profile.data["phone"].as_string())
                               .where(_among(session, Profile.id, ids))).all()
        self.light = {pid: {"name": name, "phone": phone} for pid, name, phone in rows}
        self._full: dict[str, dict[str, Any]] = {}

    def full(self, profile_id: str) -> dict[str, Any]:
        if profile_id not in self._full:
            kind, data = self.session.execute(select(Profile.kind, Profile.data)
                                              .where(Profile.id == profile_id)).one()
            version, _ = self.versions.get(self.wanted[profile_id])
            schema = schemas_from(version.schema_yaml)[kind]
            self._full[profile_id] = frame_from_json([{**data, "id": profile_id}],
                                                     schema).row(0, named=True)
        return self._full[profile_id]


def _stored_benefits(session: Session, batch: list[Any]) -> dict[tuple[str, str, int],
                                                                  float | None]:
    """The benefit of each eligible decision the run stored (same policy version)."""
    rows = session.execute(select(Decision.profile_id, Decision.policy_id,
                                  Decision.policy_version_id, Decision.benefit)
                           .where(_among(session, Decision.profile_id,
                                         {t.profile_id for t in batch}),
                                  Decision.outcome == 2)).all()
    return {(p, q, v): b for p, q, v, b in rows}


def _recent_sms(session: Session, phones: list[str], since: dt.datetime) -> Counter[str]:
    rows = session.execute(
        select(Notification.to, func.count()).where(
            Notification.channel == "sms", _among(session, Notification.to, phones),
            Notification.status.not_in(("skipped", "failed")), Notification.created_at >= since,
        ).group_by(Notification.to)).all()
    return Counter({str(to): int(n) for to, n in rows})


def _opted_out(session: Session, phones: list[str]) -> set[str]:
    return set(session.scalars(select(OptOut.phone).where(_among(session, OptOut.phone, phones),
                                                          OptOut.opted_out.is_(True))))


def _existing(session: Session, keys: list[tuple[str, str, int]]) -> set[tuple[str, str, int, str]]:
    """Notification keys already planned for these (profile, policy, version) keys. Looked
    up by profile id (indexed) and filtered here: a row-value IN list is not indexed."""
    if not keys:
        return set()
    wanted = set(keys)
    rows = session.execute(select(Notification.profile_id, Notification.policy_id,
                                  Notification.policy_version_id, Notification.channel)
                           .where(_among(session, Notification.profile_id,
                                         {k[0] for k in keys}))).all()
    return {(p, q, v, c) for p, q, v, c in rows if (p, q, v) in wanted}


def context(profile: dict[str, Any], policy: Policy, benefit: float | None,
            link: str, today: dt.date | None = None) -> MessageContext:
    enterprise = policy.audience.value == "enterprise"
    name = str(profile.get("name") or ("贵企业" if enterprise else "您好"))
    closes = policy.window.closes
    return MessageContext(name=name, who="贵企业" if enterprise else "您", title=policy.title,
                          benefit=benefit_text(benefit), summary=policy.benefit_summary or "",
                          deadline=chinese_date(closes, today) if closes else "", link=link)


def plan_notifications(session: Session, now: dt.datetime, settings: Settings,
                       limit: int | None = None) -> PlanSummary:
    """Plan rows for transitions not yet notified; the caller commits, then queues
    `summary.queued_ids`."""
    summary = PlanSummary()
    wanted_outcomes = (2, 1) if settings.inapp_for_unknown else (2,)
    stmt = (select(Transition.id, Transition.profile_id, Transition.policy_id,
                   Transition.policy_version_id, Transition.to_outcome)
            .where(Transition.notified.is_(False),
                                     Transition.to_outcome.in_(wanted_outcomes))
            .order_by(Transition.id))
    if limit:
        stmt = stmt.limit(limit)
    # plain rows, not ORM objects: a session holding 100,000 objects would make every
    # flush check them all
    transitions: list[Any] = list(session.execute(stmt).all())
    versions = _Versions(session)
    for start in range(0, len(transitions), BATCH):
        _plan_batch(session, transitions[start:start + BATCH], versions, now, settings, summary)
    return summary


def _plan_batch(session: Session, batch: list[Row[Any]], versions: _Versions,
                now: dt.datetime, settings: Settings, summary: PlanSummary) -> None:
    wanted = {t.profile_id: t.policy_version_id for t in batch}
    profiles = _Profiles(session, list(wanted), versions, wanted)
    benefits = _stored_benefits(session, batch)
    phones = sorted({str(p["phone"]) for p in profiles.light.values() if p.get("phone")})
    recent = _recent_sms(session, phones, now - dt.timedelta(days=settings.sms_cap_days))
    opted_out = _opted_out(session, phones)
    existing = _existing(session, [(t.profile_id, t.policy_id, t.policy_version_id)
                                   for t in batch])
    today = now.astimezone(SHANGHAI).date()
    lead = today + dt.timedelta(days=settings.window_lead_days)
    due = sms_due(now, settings)
    sms_rows: list[dict[str, Any]] = []
    inbox: list[tuple[dict[str, Any], str, str]] = []  # (in-app row, title, kind)
    link_rows: list[dict[str, object]] = []
    done: list[int] = []  # transitions handled now (notified)
    for t in batch:
        summary.transitions += 1
        profile = profiles.light.get(t.profile_id)
        version, policy = versions.get(t.policy_version_id)
        window = policy.window
        if profile is None or (window.closes is not None and today > window.closes):
            done.append(t.id)
            summary.skipped["window_closed" if profile else "profile_gone"] += 1
            continue
        if window.opens is not None and window.opens > lead:
            summary.waiting += 1  # planned by a later run of the planner
            continue
        done.append(t.id)
        key = (t.profile_id, t.policy_id, t.policy_version_id)
        if t.to_outcome == 1:
            if (*key, "inapp") not in existing:
                result = evaluate_policy(policy, profiles.full(t.profile_id), today)
                schema = schemas_from(version.schema_yaml)[policy.audience]
                inbox.append(_maybe_note(t, policy, profile, missing_labels(result, schema),
                                         now))
            continue
        if key in benefits:
            benefit = benefits[key]
        else:  # no stored decision (a transition written by hand): evaluate again
            benefit = evaluate_policy(policy, profiles.full(t.profile_id), today).benefit
        link, link_row = new_link(t.profile_id, t.policy_id, t.policy_version_id,
                                  window.closes, now, settings)
        link_rows.append(link_row)
        ctx = context(profile, policy, benefit, link, today)
        if (*key, "inapp") not in existing:
            title, body = inapp_text(ctx)
            inbox.append((note_row(t, "inapp", now, status="sent", body=body, link=link,
                                   sent_at=now), title, "eligible"))
        if (*key, "sms") in existing:
            continue
        phone = str(profile.get("phone") or "")
        reason = _no_sms_reason(phone, opted_out, recent, settings)
        row = note_row(t, "sms", now, to=phone or None, link=link, due_at=due)
        if reason:
            row.update(status="skipped", last_error=reason)
            summary.skipped[reason] += 1
        else:
            sms = sms_text(ctx, settings.sms_signature, settings.sms_opt_out_hint,
                           policy.sms_template)
            row.update(body=sms.text, segments=sms.segments,
                       status="queued" if due <= now else "deferred")
            recent[phone] += 1
        sms_rows.append(row)
    store_links(session, link_rows)
    if done:
        session.execute(update(Transition).where(_among(session, Transition.id, done))
                        .values(notified=True))
    ids = insert_notes(session, [*sms_rows, *(note for note, _, _ in inbox)])
    push_messages(session, [
        {"profile_id": note["profile_id"], "policy_id": note["policy_id"], "title": title,
         "body": note["body"], "link": note["link"], "kind": kind, "notification_id": nid,
         "created_at": now}
        for (note, title, kind), nid in zip(inbox, ids[len(sms_rows):], strict=True)],
        redis_url=settings.redis_url)
    summary.inapp += len(inbox)
    for row, nid in zip(sms_rows, ids, strict=False):
        if row["status"] == "queued":
            summary.sms_queued += 1
            summary.queued_ids.append(nid)
        elif row["status"] == "deferred":
            summary.sms_deferred += 1


_NOTE_DEFAULTS: dict[str, Any] = {"status": "queued", "body": "", "segments": 0, "link": None,
                                  "to": None, "last_error": None, "sent_at": None, "attempts": 0}


def note_row(t: Row[Any], channel: str, now: dt.datetime, **values: Any) -> dict[str, Any]:
    """A notifications row as a dict (every key present, for one executemany)."""
    row = {**_NOTE_DEFAULTS, "profile_id": t.profile_id, "policy_id": t.policy_id,
           "policy_version_id": t.policy_version_id, "channel": channel,
           "transition_id": t.id, "due_at": now, "created_at": now, "updated_at": now}
    row.update(values)
    return row


def insert_notes(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert in one batch; the new ids in the order of the rows."""
    return insert_with_ids(session, Notification.__table__, rows)  # type: ignore[arg-type]


def _no_sms_reason(phone: str, opted_out: set[str], recent: Counter[str],
                   settings: Settings) -> str | None:
    if not phone:
        return "no_phone"
    if phone in opted_out:
        return "opted_out"
    if recent[phone] >= settings.sms_cap:
        return "frequency_cap"
    return None


def _maybe_note(t: Row[Any], policy: Policy, profile: dict[str, Any], missing: list[str],
                now: dt.datetime) -> tuple[dict[str, Any], str, str]:
    """Unknown outcome: at most an in-app message listing the missing data; never an SMS."""
    ctx = context(profile, policy, None, "")
    ctx = MessageContext(**{**ctx.as_dict(), "missing": "、".join(missing) or "部分信息"})
    title, body = inapp_text(ctx, maybe=True)
    return note_row(t, "inapp", now, status="sent", body=body, sent_at=now), title, "maybe"
