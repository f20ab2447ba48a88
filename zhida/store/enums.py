"""The string enums stored in the notification and feedback tables."""

from __future__ import annotations

import enum


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
