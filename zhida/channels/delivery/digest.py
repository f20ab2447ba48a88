"""Digests at send time: a claimed lead and its members, sent as one message.

The planner makes them (`zhida.channels.plan_sms`): members wait in status `digest`,
never claimed themselves. When the lead is claimed, `presend` checks the lead and
each member against the current truth, as it checks any row:

- a member no longer true is cancelled on its own (its reason in `last_error`);
- any row of the group still waiting for its re-evaluation gives the whole lead back;
- of those still true, one alone is sent with its own text and application link; two
  or more as the digest 「您有3项政策可申报，合计最高62万元，最早6月30日截止」 with one
  link to the recipient's policy page (`BASE/m/TOKEN`, see `zhida.channels.links`);
- a lead no longer true is cancelled and hands the message over to the first member
  still true, which is claimed in its place (the others then name it as their lead).

The lead is the one row sent to the provider: its reference, its claim fence, its
unsure check. The members named in the text (`Claimed.members`) `follow` it once it is
sent (the same status and provider reference, so a receipt moves them all), failed or
skipped; the total counts each policy's stored benefit, the worse of two that exclude
each other left out (as `/me` adds them up).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from zhida.channels.delivery.steps import Claimed, N
from zhida.channels.links import new_me_link
from zhida.channels.plan_texts import display_name
from zhida.channels.sms.base import DELIVERED_STATUSES, SendResult
from zhida.channels.templates import SmsText, chinese_date, digest_summary, digest_text
from zhida.publishing.catalogue import CompiledVersion
from zhida.settings import Settings
from zhida.store.models import Channel, FeedbackKind
from zhida.store.models import NotificationStatus as Status

#: the lead states its members take on (`follow`)
FOLLOWED = (Status.SENT, Status.DELIVERED, Status.FAILED, Status.SKIPPED)
_FOLLOWED_COLUMNS = (
    "status",
    "provider_ref",
    "provider",
    "sent_at",
    "delivered_at",
    "attempts",
    "last_error",
    "updated_at",
)
_MEMBERS = (
    select(N.c.id, N.c.digest_id, N.c.policy_id)
    .where(N.c.digest_id.in_(bindparam("p_ids", expanding=True)), N.c.status == Status.DIGEST)
    .order_by(N.c.id)
)
CANCEL_MEMBER = (
    update(N)
    .where(N.c.id == bindparam("p_id"), N.c.status == Status.DIGEST)
    .values(
        status=Status.CANCELLED, last_error=bindparam("p_reason"), updated_at=bindparam("p_now")
    )
)


def members_of(session: Session, claimed: Sequence[Claimed]) -> dict[int, list[tuple[int, str]]]:
    """The waiting members (id, policy) of each claimed lead, in id order."""
    leads = [c.id for c in claimed if c.lead]
    out: dict[int, list[tuple[int, str]]] = {}
    if leads:
        for r in session.execute(_MEMBERS, {"p_ids": leads}):
            out.setdefault(r.digest_id, []).append((r.id, r.policy_id))
    return out


def hand_over(
    session: Session, lead: Claimed, to: tuple[int, str], rest: list[int], now: dt.datetime
) -> Claimed | None:
    """The lead no longer true: member `to` is claimed in its place (carrying an unsure
    lead's check, so the provider is asked first), `rest` become its members. None when
    `to` is no longer waiting."""
    row = session.execute(
        update(N)
        .where(N.c.id == to[0], N.c.status == Status.DIGEST)
        .values(
            status=Status.SENDING,
            digest_id=None,
            claims=N.c.claims + 1,
            claimed_at=now,
            updated_at=now,
            unsure_since=lead.unsure_since,
            provider=lead.provider,
            body_hash=lead.sent_hash,
        )
        .returning(N.c.claims, N.c.attempts)
    ).first()
    if row is None:
        return None
    if rest:
        session.execute(
            update(N)
            .where(N.c.id.in_(rest), N.c.status == Status.DIGEST)
            .values(digest_id=to[0], updated_at=now)
        )
    return lead._replace(
        id=to[0], policy_id=to[1], claims=row.claims, attempts=row.attempts or 0, lead=bool(rest)
    )


def compose_digest(
    lead: Claimed,
    true: list[tuple[int, str, Any, CompiledVersion]],
    today: dt.date,
    now: dt.datetime,
    settings: Settings,
    token: str,
) -> tuple[Claimed, SmsText, dict[str, Any]]:
    """The digest of `true` (id, policy id, truth row, current version; the lead's
    first): the claim to send, its text, and the policy-page token row to store."""
    policies = [v.policy for _, _, _, v in true]
    closes = [p.window.closes for p in policies]
    nearest = min((c for c in closes if c is not None), default=None)
    last = None if None in closes else max(c for c in closes if c is not None)
    link, row = new_me_link(lead.profile_id, last, now, settings, token)
    name = display_name(true[0][2].name, policies[0])
    summary = digest_summary(
        len(true), counted_amounts(true), chinese_date(nearest, today) if nearest else ""
    )
    sms = digest_text(name, summary, link, settings.sms_signature, settings.sms_opt_out_hint)
    members = tuple((nid, pid) for nid, pid, _, _ in true[1:])
    claimed = lead._replace(body=sms.text, segments=sms.segments, link=link, members=members)
    return claimed, sms, row._asdict()


def counted_amounts(true: list[tuple[int, str, Any, CompiledVersion]]) -> list[float]:
    """The benefit of each policy that has one, the smaller of two that exclude each
    other left out."""
    amounts = {pid: t.benefit for _, pid, t, _ in true if t.benefit}
    for _, pid, _, version in true:
        for other in version.policy.excludes:
            if pid in amounts and other in amounts:
                worse = pid if amounts[pid] < amounts[other] else other
                amounts.pop(worse)
    return list(amounts.values())


def follow(session: Session, lead: int, ids: Sequence[int] | None = None) -> list[int]:
    """The lead's state copied onto its waiting members (`ids`: only these; None: all),
    when the lead is sent, delivered, failed or skipped; their ids. A member failed with
    the lead and no reference follows too (the provider's late word for the lead)."""
    source = N.alias("lead")
    values = {
        col: select(source.c[col]).where(source.c.id == lead).scalar_subquery()
        for col in _FOLLOWED_COLUMNS
    }
    waiting = N.c.status == Status.DIGEST
    failed_with_lead = (N.c.status == Status.FAILED) & N.c.provider_ref.is_(None)
    stmt = (
        update(N)
        .where(
            N.c.digest_id == lead,
            waiting | failed_with_lead,
            select(source.c.id).where(source.c.id == lead, source.c.status.in_(FOLLOWED)).exists(),
        )
        .values(**values)
        .returning(N.c.id)
    )
    if ids is not None:
        if not ids:
            return []
        stmt = stmt.where(N.c.id.in_(list(ids)))
    return list(session.scalars(stmt))


def members_sent(
    session: Session, lead: Claimed, result: SendResult, now: dt.datetime
) -> list[dict[str, Any]]:
    """The members named in a sent lead's text follow it; their FeedbackEvent rows (sent,
    and delivered when the provider delivered at once), for the caller to insert."""
    followed = set(follow(session, lead.id, [m for m, _ in lead.members]))
    kinds: tuple[FeedbackKind, ...] = (FeedbackKind.SENT,)
    if result.status in DELIVERED_STATUSES:
        kinds = (FeedbackKind.SENT, FeedbackKind.DELIVERED)
    return [
        {
            "profile_id": lead.profile_id,
            "policy_id": policy_id,
            "kind": kind,
            "at": now,
            "detail": {
                "channel": Channel.SMS,
                "notification_id": nid,
                "digest_of": lead.id,
                "provider_ref": result.provider_ref,
            },
        }
        for nid, policy_id in lead.members
        if nid in followed
        for kind in kinds
    ]
