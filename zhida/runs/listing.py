"""Runs as people and the sweeper see them: the list, one run's summary, stalled runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.runs.reevaluate import pending_chunks
from zhida.store.models import Run, RunChunk


def list_runs(session: Session, limit: int = 50) -> list[Run]:
    return list(session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))


def _aware(t: dt.datetime) -> dt.datetime:
    """SQLite gives back naive datetimes (stored as UTC)."""
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def stalled_runs(session: Session, idle: dt.timedelta, now: dt.datetime | None = None) -> list[int]:
    """Runs with chunks left and no chunk finished for `idle` (nor created or started
    within it): running ones whose messages were probably lost (a broker restarted
    without persistence), and pending ones whose creator died before queueing them."""
    now = now or utcnow()
    cutoff = now - idle
    out = []
    for run in session.scalars(
        select(Run).where(Run.status.in_(("running", "pending"))).order_by(Run.id)
    ):
        last = session.scalar(
            select(func.max(RunChunk.finished_at)).where(RunChunk.run_id == run.id)
        )
        latest = max(_aware(t) for t in (last, run.started_at, run.created_at) if t is not None)
        if latest <= cutoff and pending_chunks(session, run.id):
            out.append(run.id)
    return out


def summary_line(run: Run) -> dict[str, Any]:
    """A run as a plain dict (for the CLI and, later, the API)."""
    return {
        "id": run.id,
        "trigger": run.trigger,
        "status": run.status,
        "kind": run.kind,
        "policy_version_ids": list(run.policy_version_ids),
        "as_of": run.as_of,
        "chunks_done": run.chunks_done,
        "chunks_total": run.chunks_total,
        "counts": dict(run.counts or {}),
        "error": run.error,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
