"""Planning notifications from transitions into eligibility.

One in-app message always (and, configurably, an in-app "可能符合，需补充信息"
message for an unknown outcome, never an SMS); one SMS when the profile has a
phone, has not opted out, is under the frequency cap, and the policy's window is
open or opens within the lead time. Every row is unique per (profile, policy,
policy version, channel) and is saved before any task is queued; quiet hours and
the digest window set a due time in the row instead of a broker ETA; an SMS planned
while an earlier one to the same phone waits goes out with it (`plan_sms`: digests).

No link is minted here and no SMS text is stored: the sender composes the text, with
a fresh link, when the row is sent (and checks it is still true then); the planner
stores the segment count of the text as it will be, the token's length being fixed.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Row, and_, case, func, literal_column, select
from sqlalchemy.orm import Session, aliased

from zhida.channels.delivery.schedule import quiet_until
from zhida.channels.delivery.steps import insert_feedback
from zhida.channels.links import placeholder_link
from zhida.channels.plan_sms import Leads, lead_due, no_sms_reason, waiting_lead
from zhida.channels.plan_store import BatchWriter, PlannedBatch, Written, note_row
from zhida.channels.plan_texts import Texts, context, display_name
from zhida.channels.plan_uplift import order_by_uplift
from zhida.channels.templates import MessageContext, inapp_text, sms_text
from zhida.clock import shanghai_date
from zhida.matcher.explanation import missing_labels
from zhida.matcher.reference import evaluate_policy
from zhida.publishing.catalogue import CompiledVersion, compiled_by_id
from zhida.ranking.holdout import held_out
from zhida.ranking.uplift import active_uplift
from zhida.rules.policy import Policy
from zhida.settings import Settings
from zhida.store.models import (
    Channel,
    Decision,
    FeedbackKind,
    Notification,
    NotificationStatus,
    OptOut,
    Profile,
    Transition,
)
from zhida.store.profiles import frame_from_json

BATCH = 5000
#: SMS rows that never reached anyone: not counted against the frequency cap
NOT_SENT = (NotificationStatus.SKIPPED, NotificationStatus.FAILED, NotificationStatus.CANCELLED)
PLANNER_LOCK = 0x7A68_6964_0001  # pg_advisory_xact_lock key: one planner at a time


@dataclass
class PlanSummary:
    transitions: int = 0
    inapp: int = 0
    sms_queued: int = 0
    sms_deferred: int = 0  # due later: quiet hours, or the digest window
    sms_digested: int = 0  # members of a digest: sent in another SMS's message
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count (no SMS)
    waiting: int = 0  # window opens later than the lead time: planned on a later day
    held_out: int = 0  # the policy's holdout share: not notified, a held_out event instead
    queued_ids: list[int] = field(default_factory=list)
    bad_profiles: list[str] = field(default_factory=list)  # stored data that cannot be read

    def count_written(self, batch: PlannedBatch, written: Written) -> None:
        for note, nid in zip(batch.sms, written.sms_ids, strict=True):
            if note.status == NotificationStatus.QUEUED:
                self.sms_queued += 1
                self.queued_ids.append(nid)
            elif note.status == NotificationStatus.DEFERRED:
                self.sms_deferred += 1
        self.sms_digested += len(batch.members)


log = logging.getLogger("zhida.plan")

#: what reading a stored profile back raises when its data is bad (a date Python cannot
#: hold, stored before the readers checked the range): that transition is skipped
BAD_STORED_DATA = (ValueError, OverflowError)


def sms_due(now: dt.datetime, settings: Settings) -> dt.datetime:
    """Now, or the end of quiet hours (08:00 Asia/Shanghai) when now is inside them."""
    return quiet_until(now, settings) or now


def _into_eligible_or_unknown() -> Any:
    """Not yet notified, into eligible or unknown: the predicate of ix_transitions_pending,
    spelled out with literals (a bound parameter would not prove the partial index
    usable). Transitions out of eligibility are never notified and stay out of it."""
    return and_(Transition.notified.is_(False), Transition.to_outcome > literal_column("0"))


def _pending(session: Session, limit: int | None) -> list[int]:
    """Ids of the transitions not yet notified, oldest first."""
    stmt = select(Transition.id).where(_into_eligible_or_unknown()).order_by(Transition.id)
    return list(session.scalars(stmt.limit(limit) if limit else stmt))


def _candidates(
    session: Session, first: int, last: int, since: dt.datetime, now: dt.datetime
) -> list[Row[Any]]:
    """The pending transitions with ids first..last, each with all the planner needs,
    from one query: the profile's name and phone, the stored decision's benefit, which
    channels are already planned, opt-out, SMS counted against the cap (a digest once:
    its members are not), and a waiting SMS a new one would join (`plan_sms`).

    Written so that the plan stays cheap when the statistics are stale (as right after
    a run): transitions by a primary-key range, the decision joined on its primary key
    alone (with `outcome` in the condition, the (policy_id, outcome) index looked as
    good and was probed with a filter over every decision of the policy), the other
    lookups as correlated scalar subqueries on unique or leading index columns."""
    batch = (
        select(
            Transition.id,
            Transition.profile_id,
            Transition.policy_id,
            Transition.policy_version_id,
            Transition.to_outcome,
        )
        .where(Transition.id.between(first, last), _into_eligible_or_unknown())
        .subquery("batch")
    )
    phone = Profile.data["phone"].as_string()
    planned = aliased(Notification)
    channels = (
        select(func.sum(case((planned.channel == Channel.SMS, 2), else_=1)))
        .where(
            planned.profile_id == batch.c.profile_id,
            planned.policy_id == batch.c.policy_id,
            planned.policy_version_id == batch.c.policy_version_id,
        )
        .scalar_subquery()
    )
    recent = aliased(Notification)
    sent_since = (
        select(func.count())
        .select_from(recent)
        .where(
            recent.to == phone,
            recent.channel == Channel.SMS,
            recent.status.not_in(NOT_SENT),
            recent.created_at >= since,
            recent.digest_id.is_(None),
        )
        .scalar_subquery()
    )
    opted_out = (
        select(func.count())
        .select_from(OptOut)
        .where(OptOut.phone == phone, OptOut.opted_out.is_(True))
        .scalar_subquery()
    )
    stored = and_(Decision.outcome == 2, Decision.policy_version_id == batch.c.policy_version_id)
    stmt = (
        select(
            batch,
            Profile.id.label("found"),
            Profile.data["name"].as_string().label("name"),
            phone.label("phone"),
            case((stored, True), else_=False).label("decided"),
            case((stored, Decision.benefit)).label("benefit"),
            channels.label("channels"),
            opted_out.label("opted_out"),
            sent_since.label("sent_since"),
            waiting_lead(phone, batch.c.profile_id, now).label("lead"),
        )
        .select_from(batch)
        .outerjoin(Profile, Profile.id == batch.c.profile_id)
        .outerjoin(
            Decision,
            and_(
                Decision.profile_id == batch.c.profile_id, Decision.policy_id == batch.c.policy_id
            ),
        )
        .order_by(batch.c.id)
    )
    return list(session.connection().execute(stmt).all())  # Core: no ORM result overhead


def _full_profile(session: Session, version: CompiledVersion, profile_id: str) -> dict[str, Any]:
    """The whole typed profile: only for those evaluated again (unknown outcomes, or no
    stored decision to take the benefit from)."""
    kind, data = session.execute(
        select(Profile.kind, Profile.data).where(Profile.id == profile_id)
    ).one()
    schema = version.schemas[kind]
    return frame_from_json([{**data, "id": profile_id}], schema).row(0, named=True)


def plan_notifications(
    session: Session,
    now: dt.datetime,
    settings: Settings,
    limit: int | None = None,
    *,
    pipeline: bool = True,
) -> PlanSummary:
    """Plan rows for transitions not yet notified; the caller commits, then queues
    `summary.queued_ids`.

    One planner at a time (a transaction-level advisory lock on PostgreSQL): a second
    one waits, then finds the transitions the first marked. Batch i is built while
    batch i-1 is written (see plan_store), so the query for batch i+1 runs after batch
    i-1 is written and before batch i is: it sees this call's rows of batches up to
    i-1, and _Plan remembers what batches i and i+1 planned. `pipeline=False` writes
    on this thread instead (the benchmark's baseline), in the same order."""
    with collector_paused():
        return _plan_notifications(session, now, settings, limit, pipeline)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while planning: the planner makes millions of
    small row tuples (NamedTuples, which CPython keeps tracking, unlike plain tuples)
    and no reference cycles, so full collections cost time and free nothing (the
    planning benchmark measures it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _plan_notifications(
    session: Session, now: dt.datetime, settings: Settings, limit: int | None, pipeline: bool
) -> PlanSummary:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(PLANNER_LOCK)))
    summary = PlanSummary()
    plan = _Plan(session, now, settings, summary)
    since = now - dt.timedelta(days=settings.sms_cap_days)
    pending = _pending(session, limit)
    batches = [pending[i : i + BATCH] for i in range(0, len(pending), BATCH)]

    def fetch(ids: list[int]) -> list[Row[Any]]:
        return _candidates(session, ids[0], ids[-1], since, now)

    writer = BatchWriter(session, summary.count_written, settings.redis_url, pipeline=pipeline)
    try:
        rows = fetch(batches[0]) if batches else []
        for i in range(len(batches)):
            planned = plan.batch(rows)  # while batch i-1 is being written
            writer.wait()  # batch i-1 written
            if i + 1 < len(batches):
                rows = fetch(batches[i + 1])  # sees batches up to i-1: not i
            writer.submit(planned)
        writer.wait()
    finally:
        writer.close()
    if plan.held:
        insert_feedback(session, plan.held)
    return summary


class _Plan:
    """Turns batches of candidate transitions into rows (PlannedBatch)."""

    def __init__(
        self, session: Session, now: dt.datetime, settings: Settings, summary: PlanSummary
    ):
        self.session, self.now, self.settings, self.summary = session, now, settings, summary
        self.uplift = active_uplift(settings.var_dir)  # orders capped SMS (plan_uplift)
        self.versions: dict[int, CompiledVersion] = {}  # see resolve_versions
        self.today = shanghai_date(now)
        self.lead = self.today + dt.timedelta(days=settings.window_lead_days)
        self.due = lead_due(now, settings)
        self.leads = Leads(settings.sms_digests)  # SMS leads of the batches queries miss
        self.texts = Texts(self.today)
        # an SMS is composed again when it is sent, with a fresh token of this length
        self.link = placeholder_link(settings)
        # What the last two batches planned, which a batch's query does not see (see
        # plan_notifications): their notification keys (a key planned twice, from two
        # runs' transitions, is planned once) and their SMS per phone (the cap).
        self.unseen: deque[tuple[set[tuple[str, str, int, str]], Counter[str]]] = deque(maxlen=2)
        self.out = PlannedBatch()
        self.held: list[dict[str, Any]] = []  # held_out FeedbackEvent rows

    def batch(self, rows: list[Row[Any]]) -> PlannedBatch:
        self.unseen.append((set(), Counter()))
        self.leads.next_batch()
        self.resolve_versions({t.policy_version_id for t in rows})
        self.out = PlannedBatch()
        self.out.done = [t.id for t in self.sms_order(rows) if self.plan_one(t)]
        return self.out

    def sms_order(self, rows: list[Row[Any]]) -> list[Row[Any]]:
        """The order SMS are given in: id order, or by uplift where the cap binds."""
        return rows if self.uplift is None else order_by_uplift(self, self.uplift, rows)

    def sms_sent(self, phone: str, sent_since: int | None) -> int:
        """SMS counted against the cap: stored, and planned by this call but unseen."""
        return int(sent_since or 0) + sum(counts[phone] for _, counts in self.unseen)

    def resolve_versions(self, version_ids: set[int]) -> None:
        """The compiled policy versions of a batch's transitions, from the catalogue, asked
        for once per call and version: not per transition (a lookup hashes the policy
        text), and not again while a batch is written on the session's connection."""
        new = version_ids - self.versions.keys()
        if new:
            self.versions.update(compiled_by_id(self.session, new))

    def planned(self, key: tuple[str, str, int, str]) -> bool:
        """Planned by this call and not yet seen by the queries (else `channels` says it)."""
        return any(key in keys for keys, _ in self.unseen)

    def plan_one(self, t: Row[Any]) -> bool:
        """Plan what one transition needs; False when it waits for a later day."""
        self.summary.transitions += 1
        version = self.versions.get(t.policy_version_id)
        assert version is not None, f"policy version {t.policy_version_id} missing"
        policy = version.policy
        window = policy.window
        if t.found is None or (window.closes is not None and self.today > window.closes):
            self.summary.skipped["window_closed" if t.found else "profile_gone"] += 1
            return True
        if window.opens is not None and window.opens > self.lead:
            self.summary.waiting += 1  # planned by a later run of the planner
            return False
        if t.to_outcome == 2 and held_out(
            self.settings.secret_key, t.profile_id, t.policy_id, policy.holdout
        ):
            self.hold(t)
            return True
        key = (t.profile_id, t.policy_id, t.policy_version_id)
        stored = t.channels or 0  # 1 in-app, 2 SMS, 3 both already planned
        need_inapp = not stored & 1 and not self.planned((*key, Channel.INAPP))
        need_sms = t.to_outcome == 2 and not stored & 2 and not self.planned((*key, Channel.SMS))
        keys = self.unseen[-1][0]
        if need_inapp:
            keys.add((*key, Channel.INAPP))
        if need_sms:
            keys.add((*key, Channel.SMS))
        try:
            if t.to_outcome == 1:
                if not self.settings.inapp_for_unknown:
                    self.summary.skipped["unknown_no_message"] += 1
                elif need_inapp:
                    self.plan_maybe(t, version, policy)
            elif need_inapp or need_sms:
                self.plan_eligible(t, policy, need_inapp, need_sms)
        except BAD_STORED_DATA as err:  # one bad row: reported, skipped; the rest go on
            self.summary.skipped["bad_profile_data"] += 1
            self.summary.bad_profiles.append(t.profile_id)
            log.warning(
                "transition %s: stored profile %s cannot be read (%s): not notified",
                t.id,
                t.profile_id,
                err,
            )
        return True

    def hold(self, t: Row[Any]) -> None:
        """Held out (ranking/holdout.py): recorded, not notified."""
        self.summary.held_out += 1
        self.held.append(
            {
                "profile_id": t.profile_id,
                "policy_id": t.policy_id,
                "kind": FeedbackKind.HELD_OUT,
                "at": self.now,
                "detail": {"policy_version_id": t.policy_version_id, "transition_id": t.id},
            }
        )

    def plan_maybe(self, t: Row[Any], version: CompiledVersion, policy: Policy) -> None:
        """Unknown outcome: at most an in-app message listing the missing data; never SMS."""
        profile = _full_profile(self.session, version, t.profile_id)
        result = evaluate_policy(policy, profile, self.today)
        missing = missing_labels(result, version.schema)
        ctx = context(t.name, policy, None, "")
        ctx = replace(ctx, missing="、".join(missing) or "部分信息")
        title, body = inapp_text(ctx, maybe=True)
        self.add_inapp(t, title, "maybe", body)

    def plan_eligible(self, t: Row[Any], policy: Policy, need_inapp: bool, need_sms: bool) -> None:
        if t.decided:
            benefit = t.benefit
        else:  # no stored decision (a transition written by hand): evaluate again
            profile = _full_profile(self.session, self.versions[t.policy_version_id], t.profile_id)
            benefit = evaluate_policy(policy, profile, self.today).benefit
        ctx, title, body = self.texts.get(t.policy_version_id, policy, benefit)
        if need_inapp:
            self.add_inapp(t, title, "eligible", body)
        if need_sms:
            self.add_sms(t, policy, ctx)

    def add_inapp(self, t: Row[Any], title: str, kind: str, body: str) -> None:
        self.out.inapp.append(
            note_row(
                t,
                Channel.INAPP,
                NotificationStatus.SENT,
                self.now,
                self.now,
                body=body,
                sent_at=self.now,
            )
        )
        self.out.inbox.append((title, kind))
        self.summary.inapp += 1

    def add_sms(self, t: Row[Any], policy: Policy, ctx: MessageContext) -> None:
        """The SMS row, without its text: only its segment count, from the text with a
        link of the length the sender's will have (`placeholder_link`). A member of a
        waiting SMS's digest when there is one (`plan_sms`), else a lead."""
        phone = t.phone or ""
        lead = self.leads.find(phone, t.profile_id, t.lead) if phone and not t.opted_out else None
        if lead is not None:  # in the lead's message: not counted against the cap again
            self.out.members.append(
                (
                    note_row(
                        t,
                        Channel.SMS,
                        NotificationStatus.DIGEST,
                        self.due,
                        self.now,
                        to=phone,
                        segments=self.segments(t, policy, ctx),
                    ),
                    lead,
                )
            )
            return
        sent = self.sms_sent(phone, t.sent_since)
        reason = no_sms_reason(phone, bool(t.opted_out), sent, self.settings)
        segments, status = 0, NotificationStatus.SKIPPED
        if reason:
            self.summary.skipped[reason] += 1
        else:
            segments = self.segments(t, policy, ctx)
            status = (
                NotificationStatus.QUEUED if self.due <= self.now else NotificationStatus.DEFERRED
            )
            self.unseen[-1][1][phone] += 1
            self.leads.opened(phone, t.profile_id, self.out, len(self.out.sms))
        self.out.sms.append(
            note_row(
                t,
                Channel.SMS,
                status,
                self.due,
                self.now,
                to=phone or None,
                segments=segments,
                last_error=reason,
            )
        )

    def segments(self, t: Row[Any], policy: Policy, ctx: MessageContext) -> int:
        return sms_text(
            replace(ctx, name=display_name(t.name, policy), link=self.link),
            self.settings.sms_signature,
            self.settings.sms_opt_out_hint,
            policy.sms_template,
        ).segments
