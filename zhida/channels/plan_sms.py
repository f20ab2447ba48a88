"""The SMS side of planning: digests, and the reasons an SMS is not planned.

Digests. An SMS planned for a recipient (a phone and a profile) while an earlier SMS
to it still waits (planned by the same call, or stored: queued or deferred, never
attempted, not itself a member, and due more than JOIN_MARGIN seconds from now)
joins that one: a member row (status
`digest`, `digest_id` the lead's id), not counted against the cap again, since it goes
out in the lead's message. Otherwise the SMS leads: it is due `digest_minutes` after
it was planned (or at the end of quiet hours, if later), and whatever is planned for
the same recipient until then joins it. So the first SMS waits at most the window
(quiet hours aside), and every later one less. What the message says (one policy's
own text, or the digest of those still true) is decided when the lead is sent
(`zhida.channels.delivery.digest`).

A stored lead about to fall due is not joined (JOIN_MARGIN): its sender could claim
it before this call commits; one this call planned (not yet committed) always is. A
member whose lead was sent without it all the same (a sender faster than the margin)
is sent on its own by the sweeper (`zhida.channels.delivery.sweep`).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import aliased

from zhida.channels.delivery.schedule import quiet_until
from zhida.channels.plan_store import PlannedBatch
from zhida.settings import Settings
from zhida.store.models import Channel, Notification, NotificationStatus

#: seconds: a stored lead due sooner than this is not joined
JOIN_MARGIN = 60.0
#: an SMS lead planned by this call: its batch and place there (its id once written)
Opened = tuple[PlannedBatch, int]


def lead_due(now: dt.datetime, settings: Settings) -> dt.datetime:
    """When a leading SMS planned now is due: the digest window later, or at the end of
    quiet hours when that is later."""
    due = now + dt.timedelta(minutes=settings.digest_minutes if settings.sms_digests else 0)
    return (quiet_until(due, settings) or due).astimezone(dt.UTC)


def waiting_lead(phone: ColumnElement[Any], profile_id: Any, now: dt.datetime) -> Any:
    """The id of a stored SMS to `phone` and `profile_id` that a new one may join (see
    the module), as a correlated scalar subquery over the recipient index; NULL when
    there is none."""
    lead = aliased(Notification)
    return (
        select(func.min(lead.id))
        .where(
            lead.to == phone,
            lead.profile_id == profile_id,
            lead.channel == Channel.SMS,
            lead.status.in_((NotificationStatus.QUEUED, NotificationStatus.DEFERRED)),
            lead.digest_id.is_(None),
            lead.attempts == 0,
            or_(
                lead.due_at > now.astimezone(dt.UTC) + dt.timedelta(seconds=JOIN_MARGIN),
                lead.created_at == now,  # planned by this call (due now when no window)
            ),
        )
        .scalar_subquery()
    )


class Leads:
    """The SMS leads planned by the last two batches of this call, by recipient (phone
    and profile: the digest's link opens one profile's page), which a batch's query
    does not see yet (see `plan_notifications`); older ones it finds (`waiting_lead`).
    `on` False (settings.sms_digests): nothing joins."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.recent: deque[dict[tuple[str, str], Opened]] = deque(maxlen=2)

    def next_batch(self) -> None:
        self.recent.append({})

    def find(self, phone: str, profile_id: str, stored: int | None) -> int | Opened | None:
        if not self.on:
            return None
        for opened in self.recent:
            found = opened.get((phone, profile_id))
            if found is not None:
                return found
        return stored

    def opened(self, phone: str, profile_id: str, batch: PlannedBatch, index: int) -> None:
        if self.on:
            self.recent[-1].setdefault((phone, profile_id), (batch, index))


def no_sms_reason(phone: str, opted_out: bool, recent: int, settings: Settings) -> str | None:
    if not phone:
        return "no_phone"
    if opted_out:
        return "opted_out"
    if recent >= settings.sms_cap:
        return "frequency_cap"
    return None
