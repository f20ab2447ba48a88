"""Runs as people and the sweeper see them: the list, one run's summary, stalled runs
and the hint `zhida runs watch` gives about one."""

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


def _last_activity(session: Session, run: Run) -> dt.datetime:
    """When the run last moved: its last finished chunk, else its start, else its creation."""
    last = session.scalar(select(func.max(RunChunk.finished_at)).where(RunChunk.run_id == run.id))
    return max(_aware(t) for t in (last, run.started_at, run.created_at) if t is not None)


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
        if _last_activity(session, run) <= cutoff and pending_chunks(session, run.id):
            out.append(run.id)
    return out


def _duration(d: dt.timedelta) -> str:
    s = int(d.total_seconds())
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def stall_hint(
    session: Session, run_id: int, idle: dt.timedelta, now: dt.datetime | None = None
) -> str | None:
    """What to tell someone watching a running run in which no chunk has finished for
    `idle` while some are not done (a killed worker holds them, or the broker lost
    them): which chunks, and that `zhida runs resume` re-queues them. None otherwise."""
    run = session.get(Run, run_id)
    if run is None or run.status != "running":
        return None
    left = pending_chunks(session, run_id)
    if not left:
        return None
    now = now or utcnow()
    quiet = now - _last_activity(session, run)
    if quiet < idle:
        return None
    shown = ", ".join(map(str, left[:10])) + (
        f" and {len(left) - 10} more" if len(left) > 10 else ""
    )
    noun = "chunk" if len(left) == 1 else "chunks"
    return (
        f"run {run_id} looks stalled: no chunk finished for {_duration(quiet)}, "
        f"{len(left)} {noun} not done ({shown}); a worker may have died holding them or "
        f"the broker lost them. `zhida runs resume {run_id}` re-queues them (safe to repeat)"
    )


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
