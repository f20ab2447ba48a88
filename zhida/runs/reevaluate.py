"""Re-evaluation runs: create a run, cut it into chunks, evaluate a chunk, finalise.

Pure functions receiving a Session; the Celery tasks in `zhida.worker` open one
session (one transaction) per call and commit it.

A run re-evaluates every profile of one kind against a fixed list of policy
versions, as of a fixed date. `create_run` cuts the population into chunks by id
range: the ids are sorted (by the database, so the ranges agree with its own
comparisons) and every `chunk_size`-th id starts a chunk. Chunk 0 starts at ""
and the last chunk is open-ended, so the chunks partition the whole id space:
every profile, and every stored decision, falls in exactly one chunk, including
profiles imported after the run was cut (they are evaluated if they arrive before
their chunk runs). The Run and its RunChunk rows are committed before any task is
queued, so a task always finds its chunk and progress is always readable from the
database.

`process_chunk` does a chunk in ONE transaction:

1. lock the RunChunk row (SELECT ... FOR UPDATE on PostgreSQL; on SQLite a no-op
   UPDATE takes the database write lock first); return None if it is done;
2. load the chunk's profiles and the run's policies, evaluate vectorised, score;
3. compare with the stored decisions of those profiles and policies and write the
   changes and transitions (`zhida.runs.decisions`);
4. mark the chunk done with its counts, increment runs.chunks_done; the chunk that
   makes chunks_done == chunks_total also records the run's summary and `done`.

Idempotency: the work of a chunk and the mark that it is done commit together or
not at all. A second delivery of the same chunk waits on the row lock and then
finds it done; a worker killed mid-chunk leaves an aborted transaction (nothing
written), and the chunk is still pending for a redelivery or `resume`. The
increment of chunks_done happens once per chunk, under the same lock, and takes
the Run row lock last (all chunks of a run lock rows in the same order), so the
last chunk sees every other chunk committed. `finalize_run` recomputes the summary
from the chunks and may be called any number of times.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.errors import ZhidaError
from zhida.matcher.batch import BatchEvaluator
from zhida.profiles.schema import Audience, Field, ProfileSchema, SchemaSet
from zhida.publishing.catalogue import compiled
from zhida.publishing.versions import VersionStatus
from zhida.ranking.heuristic import heuristic_scores, urgency
from zhida.rules.ast import Node, walk
from zhida.rules.functions import is_dated_call
from zhida.rules.policy import Policy
from zhida.runs.decisions import apply_chunk_results, versions_in_force
from zhida.runs.results import empty_results, results_frame
from zhida.settings import get_settings
from zhida.store.models import PolicyVersion, Run, RunChunk
from zhida.store.profiles import load_frame

TRIGGERS = ("publish", "import", "daily", "manual")
COUNT_KEYS = (
    "profiles",
    "pairs",
    "newly_eligible",
    "no_longer_eligible",
    "newly_unknown",
    "no_longer_unknown",
    "unchanged",
    "decisions_written",
    "decisions_deleted",
    "transitions",
)


class RunError(ZhidaError):
    """A run that cannot be created, found or evaluated (printed as `error: ...`)."""


# --------------------------------------------------------------------------- create


def chunk_bounds(session: Session, kind: str, size: int) -> list[str]:
    """The first id of every chunk of `size` profiles of this kind, in the database's
    order (only these ids leave the database)."""
    size = max(1, int(size))
    sql = text(
        "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn "
        "FROM profiles WHERE kind = :kind) AS numbered "
        "WHERE (rn - 1) % :size = 0 ORDER BY id"
    )
    return [r[0] for r in session.execute(sql, {"kind": kind, "size": size})]


def create_run(
    session: Session,
    trigger: str,
    kind: str,
    policy_version_ids: Sequence[int],
    as_of: dt.date,
    chunk_size: int | None = None,
) -> Run:
    """A pending run with its chunks, flushed (the caller commits before queueing)."""
    if kind not in {a.value for a in Audience}:
        raise RunError(f"kind must be enterprise or citizen, got '{kind}'")
    if trigger not in TRIGGERS:
        raise RunError(f"trigger must be one of {', '.join(TRIGGERS)}, got '{trigger}'")
    ids = sorted({int(v) for v in policy_version_ids})
    versions = {
        v.id: v for v in session.scalars(select(PolicyVersion).where(PolicyVersion.id.in_(ids)))
    }
    missing = [i for i in ids if i not in versions]
    if missing:
        raise RunError(f"no policy version with id {', '.join(map(str, missing))}")
    wrong = [f"{v.policy_id}@v{v.version}" for v in versions.values() if v.audience != kind]
    if wrong:
        raise RunError(f"policy versions {', '.join(wrong)} are not for {kind} profiles")
    per_policy: dict[str, int] = {}
    for v in versions.values():
        if v.policy_id in per_policy:
            raise RunError(f"two versions of policy '{v.policy_id}' in one run")
        per_policy[v.policy_id] = v.id
    size = chunk_size or get_settings().chunk_size
    bounds = chunk_bounds(session, kind, size) if ids else []
    run = Run(
        trigger=trigger,
        status="pending",
        kind=kind,
        policy_version_ids=ids,
        as_of=as_of.isoformat(),
        chunks_total=len(bounds),
        chunks_done=0,
        counts={},
    )
    session.add(run)
    session.flush()
    session.add_all(
        RunChunk(
            run_id=run.id,
            seq=i,
            lo="" if i == 0 else lo,
            hi=bounds[i + 1] if i + 1 < len(bounds) else None,
            status="pending",
            counts={},
        )
        for i, lo in enumerate(bounds)
    )
    session.flush()
    return run


def get_run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise RunError(f"no run {run_id}")
    return run


def pending_chunks(session: Session, run_id: int) -> list[int]:
    return list(
        session.scalars(
            select(RunChunk.seq)
            .where(RunChunk.run_id == run_id, RunChunk.status != "done")
            .order_by(RunChunk.seq)
        )
    )


def mark_running(session: Session, run_id: int) -> list[int]:
    """Start (or resume) a run: status running unless done; returns its chunks not done."""
    run = get_run(session, run_id)
    if run.status != "done":
        run.status, run.error = "running", None
        run.started_at = run.started_at or utcnow()
    session.flush()
    return pending_chunks(session, run_id)


def mark_failed(session: Session, run_id: int, error: str) -> None:
    """A chunk failed for good (retries exhausted or a permanent error): the run stops
    as failed, with the error; `resume` retries its pending chunks."""
    session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status != "done")
        .values(status="failed", error=error[:4000])
    )


# --------------------------------------------------------------------------- policies


@dataclass
class RunPolicies:
    """The run's policy versions, compiled (by the catalogue, once per process)."""

    policies: list[Policy]
    versions: list[tuple[str, int, list[str]]]  # (policy_id, version id, criterion ids)
    schema: ProfileSchema  # the built-in fields plus every version's pack fields

    def by_policy(self) -> dict[str, int]:
        return {pid: vid for pid, vid, _ in self.versions}


def load_run_policies(session: Session, kind: str, version_ids: Sequence[int]) -> RunPolicies:
    rows = list(
        session.scalars(
            select(PolicyVersion)
            .where(PolicyVersion.id.in_([int(v) for v in version_ids]))
            .order_by(PolicyVersion.id)
        )
    )
    if len(rows) != len(set(version_ids)):
        raise RunError("a policy version of the run no longer exists")
    audience = Audience(kind)
    extra: dict[str, Field] = {}
    policies: list[Policy] = []
    for v in rows:
        found = compiled(v)
        for name, f in found.extension.get(audience, {}).items():
            if name in extra and extra[name].type is not f.type:
                raise RunError(f"field '{name}' has two types in the run's policy packs")
            extra[name] = f
        policies.append(found.policy)
    schema = SchemaSet.builtin()[audience].extended(extra)
    versions = [(v.policy_id, v.id, p.criterion_ids()) for v, p in zip(rows, policies, strict=True)]
    return RunPolicies(policies, versions, schema)


# --------------------------------------------------------------------------- chunk


def _lock_chunk(session: Session, run_id: int, seq: int) -> RunChunk | None:
    if session.connection().dialect.name == "sqlite":
        # take the write lock before reading, so a concurrent process cannot read the same
        # chunk as pending (SQLite has no row locks; it serialises writers)
        session.execute(
            update(RunChunk)
            .where(RunChunk.run_id == run_id, RunChunk.seq == seq)
            .values(status=RunChunk.status)
        )
    return session.scalars(
        select(RunChunk).where(RunChunk.run_id == run_id, RunChunk.seq == seq).with_for_update()
    ).first()


@dataclass
class ChunkDone:
    counts: dict[str, int]  # this chunk's (see `zhida.runs.decisions.diff_results`)
    run_counts: dict[str, int] | None = None  # the run's summary, when this chunk ended it


def process_chunk(session: Session, run_id: int, seq: int, delay: float = 0.0) -> ChunkDone | None:
    """Evaluate one chunk and write its changes, in the session's transaction.

    Returns the chunk's counts (and the run's, when it was the last chunk), or None when
    it was already done (or does not exist).
    `delay` (tests only) sleeps after the writes, before the chunk is marked done, so a
    test can kill a worker while a chunk's transaction is open.
    """
    chunk = _lock_chunk(session, run_id, seq)
    if chunk is None or chunk.status == "done":
        return None
    run = get_run(session, run_id)
    as_of = dt.date.fromisoformat(run.as_of)
    # only versions still published (a superseded one's chunk writes nothing)
    rp = load_run_policies(session, run.kind, versions_in_force(session, run.policy_version_ids))
    frame = load_frame(session, run.kind, rp.schema, chunk.lo or None, chunk.hi)
    ids = frame.get_column("id")
    parts = []
    if frame.height and rp.policies:
        evaluator = BatchEvaluator(rp.policies, as_of, chunk_size=max(1, frame.height))
        for res in evaluator.evaluate(frame, rp.schema):
            scores = heuristic_scores(rp.policies, res.outcome, res.criteria, res.benefit, as_of)
            parts.append(
                results_frame(
                    ids.slice(res.start, res.stop - res.start),
                    rp.versions,
                    res.outcome,
                    res.criteria,
                    res.benefit,
                    scores,
                )
            )
    new = pl.concat(parts, how="vertical") if parts else empty_results()
    counts = apply_chunk_results(
        session, run_id, new, rp.by_policy(), frame.height, chunk.lo or None, chunk.hi
    )
    if delay > 0:
        session.flush()
        time.sleep(delay)
    chunk.status, chunk.counts, chunk.finished_at = "done", counts, utcnow()
    session.flush()
    # the Run row is locked last: every chunk of a run takes its locks in this order
    session.execute(update(Run).where(Run.id == run_id).values(chunks_done=Run.chunks_done + 1))
    done, total = session.execute(
        select(Run.chunks_done, Run.chunks_total).where(Run.id == run_id)
    ).one()
    if done >= total:
        return ChunkDone(counts, _record_summary(session, run_id))
    return ChunkDone(counts)


def _sum_counts(session: Session, run_id: int) -> tuple[int, dict[str, int]]:
    done = list(
        session.scalars(
            select(RunChunk.counts).where(RunChunk.run_id == run_id, RunChunk.status == "done")
        )
    )
    total: dict[str, int] = dict.fromkeys(COUNT_KEYS, 0)
    for c in done:
        for k, v in (c or {}).items():
            total[k] = total.get(k, 0) + int(v)
    return len(done), total


def _record_summary(session: Session, run_id: int) -> dict[str, int]:
    n_done, counts = _sum_counts(session, run_id)
    session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(status="done", chunks_done=n_done, counts=counts, finished_at=utcnow(), error=None)
    )
    return counts


def finalize_run(session: Session, run_id: int) -> bool:
    """Record the summary if every chunk is done (idempotent). True when the run is done."""
    run = session.scalars(select(Run).where(Run.id == run_id).with_for_update()).first()
    if run is None:
        return False
    if run.status == "done":
        return True
    left = (
        session.scalar(
            select(func.count())
            .select_from(RunChunk)
            .where(RunChunk.run_id == run_id, RunChunk.status != "done")
        )
        or 0
    )
    if left:
        return False
    _record_summary(session, run_id)
    session.expire(run)
    return True


def partial_counts(session: Session, run_id: int) -> dict[str, int]:
    """The counts of the chunks done so far (a run's summary once it is done)."""
    return _sum_counts(session, run_id)[1]


# --------------------------------------------------------------------------- listing


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


# --------------------------------------------------------------------------- daily


def _nodes(policy: Policy) -> list[Node]:
    roots: list[Node] = [c.when for c in policy.all_criteria() if c.when is not None]
    roots += list(policy.defines.values())
    if policy.benefit_amount is not None:
        roots.append(policy.benefit_amount)
    out: list[Node] = []
    for root in roots:
        out.extend(walk(root))
    return out


def uses_time(policy: Policy) -> bool:
    """Whether the policy's outcome, failed/unknown criteria or benefit can change with
    the evaluation date alone: a criterion, define or benefit calls years_since,
    months_since, days_since or days_until."""
    return any(is_dated_call(n) for n in _nodes(policy))


def window_changes(policy: Policy, since: dt.date, as_of: dt.date) -> bool:
    """Whether the window's effect on the score (its urgency band: not yet open, open
    with more than 90 / 90 / 30 days left, closed) differs between the two dates."""
    return urgency(policy.window, since) != urgency(policy.window, as_of)


def latest_published(
    session: Session, kind: str | None = None, policy_ids: Sequence[str] | None = None
) -> list[PolicyVersion]:
    """The published version of each policy (the newest, should there be several)."""
    stmt = select(PolicyVersion).where(PolicyVersion.status == VersionStatus.PUBLISHED)
    if kind:
        stmt = stmt.where(PolicyVersion.audience == kind)
    if policy_ids:
        stmt = stmt.where(PolicyVersion.policy_id.in_(list(policy_ids)))
    newest: dict[str, PolicyVersion] = {}
    for v in session.scalars(stmt.order_by(PolicyVersion.policy_id, PolicyVersion.version)):
        newest[v.policy_id] = v
    return list(newest.values())


def daily_selection(session: Session, as_of: dt.date) -> dict[str, list[int]]:
    """kind -> the published policy versions the daily run re-evaluates as of `as_of`.

    A policy is selected when time alone can change its results: (1) it uses
    years_since / months_since / days_since / days_until anywhere its outcome or benefit
    is computed (every day: a firm turns 3 on its own date), or (2) its window's urgency
    band changed since the previous daily run of that kind (or since yesterday): the
    window opened, came within 90 or 30 days of closing, or closed. The window never
    changes an outcome (DESIGN), so (2) only refreshes scores; it makes no transitions.
    """
    out: dict[str, list[int]] = {}
    for v in latest_published(session):
        since = _previous_daily(session, v.audience, as_of)
        policy = compiled(v).policy
        if uses_time(policy) or window_changes(policy, since, as_of):
            out.setdefault(v.audience, []).append(v.id)
    return out


def _previous_daily(session: Session, kind: str, as_of: dt.date) -> dt.date:
    last = session.scalar(
        select(func.max(Run.as_of)).where(
            Run.trigger == "daily", Run.kind == kind, Run.as_of < as_of.isoformat()
        )
    )
    return dt.date.fromisoformat(last) if last else as_of - dt.timedelta(days=1)


def daily_exists(session: Session, kind: str, as_of: dt.date) -> bool:
    return (
        session.scalar(
            select(func.count())
            .select_from(Run)
            .where(Run.trigger == "daily", Run.kind == kind, Run.as_of == as_of.isoformat())
        )
        != 0
    )


def create_daily_runs(session: Session, as_of: dt.date, chunk_size: int | None = None) -> list[Run]:
    """One run per kind for today's selection; none for a kind that already has today's
    daily run (so a re-delivered daily task does not start a second one)."""
    if session.connection().dialect.name == "postgresql":  # one daily creator at a time
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('zhida.daily', 0))"))
    runs = []
    for kind, ids in sorted(daily_selection(session, as_of).items()):
        if ids and not daily_exists(session, kind, as_of):
            runs.append(create_run(session, "daily", kind, ids, as_of, chunk_size))
    return runs


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
