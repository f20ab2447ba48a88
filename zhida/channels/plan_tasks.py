"""Celery task for planning notifications: after a run, after real-time events, and on beat.

Rows are committed before any send task is queued (GOV.UK Notify's rule)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import shared_task

from zhida.channels.plan import PlanSummary, plan_notifications
from zhida.channels.tasks import enqueue_sms
from zhida.settings import get_settings
from zhida.store.db import session_scope

PLAN = "zhida.notifications.plan"
BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # catches windows that open (planned "later") and anything a failed hook missed
    "notifications-plan": {"task": PLAN, "schedule": 300.0},
}


def plan_and_queue(now: dt.datetime | None = None) -> PlanSummary:
    settings = get_settings()
    with session_scope() as session:
        summary = plan_notifications(session, now or dt.datetime.now(dt.UTC), settings)
    enqueue_sms(summary.queued_ids)
    return summary


@shared_task(name=PLAN, ignore_result=True)
def plan_task() -> dict[str, int]:
    summary = plan_and_queue()
    return {"transitions": summary.transitions, "inapp": summary.inapp,
            "sms_queued": summary.sms_queued, "sms_deferred": summary.sms_deferred}
