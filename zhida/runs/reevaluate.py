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
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.errors import ZhidaError
from zhida.matcher.batch import BatchEvaluator, fields_read
from zhida.profiles.schema import Audience, Field, ProfileSchema, SchemaSet
from zhida.publishing.catalogue import compiled
from zhida.publishing.versions import VersionStatus
from zhida.ranking.heuristic import heuristic_scores
from zhida.rules.policy import Policy
from zhida.runs.decisions import apply_chunk_results, versions_in_force
from zhida.runs.results import empty_results, results_frame
from zhida.settings import get_settings
from zhida.store.models import PolicyVersion, Run, RunChunk
from zhida.store.profiles import load_frame, stored_ids

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
    "skipped",  # stored profiles that could not be evaluated (no id in their data)
)


log = logging.getLogger(__name__)
#: at most this many ids in a chunk of chosen profiles (each is a bound parameter)
ID_CHUNK = 5000


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
    profile_ids: Sequence[str] | None = None,
) -> Run:
    """A pending run with its chunks, flushed (the caller commits before queueing).
    `profile_ids`: a run over these profiles only (an import's changed ones), cut into
    chunks of at most ID_CHUNK ids that list them; otherwise every profile of the kind."""
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
    chosen = sorted(set(profile_ids)) if profile_ids is not None else None
    if chosen is not None:
        step = max(1, min(size, ID_CHUNK))
        parts = [chosen[i : i + step] for i in range(0, len(chosen), step)] if ids else []
        bounds = [p[0] for p in parts]
    else:
        parts = None
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
            lo=lo if parts is not None else ("" if i == 0 else lo),
            hi=None if parts is not None else (bounds[i + 1] if i + 1 < len(bounds) else None),
            ids=None if parts is None else parts[i],
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


def _without_id(
    session: Session,
    kind: str,
    frame: pl.DataFrame,
    lo: str | None,
    hi: str | None,
    only: Sequence[str] | None,
) -> list[str]:
    """Ids of the stored profiles of the range that the frame read without an id (a row
    whose data lacks it: written by an older `events post`); [] when there are none."""
    if not frame.get_column("id").null_count():
        return []
    found = set(frame.get_column("id").drop_nulls().to_list())
    return sorted(i for i in stored_ids(session, kind, lo, hi, only) if i not in found)


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
    only = chunk.ids  # a chunk of chosen profiles, or (None) an id range
    lo, hi = (None, None) if only is not None else (chunk.lo or None, chunk.hi)
    # only the fields the policies read: no other can change a decision
    frame = load_frame(session, run.kind, rp.schema, lo, hi, only, fields=fields_read(rp.policies))
    judged = None if only is None else list(only)  # None: every profile of the range
    skipped = _without_id(session, run.kind, frame, lo, hi, only)
    if skipped:
        frame = frame.filter(pl.col("id").is_not_null())
        judged = frame.get_column("id").to_list()
        log.warning(
            "run %s chunk %s: %s stored profiles have no id in their data and were skipped "
            "(their decisions stay as they were): %s",
            run_id,
            seq,
            len(skipped),
            ", ".join(skipped[:20]),
        )
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
    counts = apply_chunk_results(session, run_id, new, rp.by_policy(), frame.height, lo, hi, judged)
    counts["skipped"] = len(skipped)
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


def create_import_runs(
    session: Session,
    changed: dict[str, list[str]],
    as_of: dt.date,
    chunk_size: int | None = None,
) -> list[Run]:
    """After an import (DESIGN: "Re-evaluation after a change"): per kind, a run of the
    published policies of that audience over the profiles the import inserted or
    changed (`ImportReport.changed`). None for a kind with no changed profile or no
    published policy: an import that changes nothing starts nothing."""
    runs = []
    for kind, ids in sorted(changed.items()):
        versions = latest_published(session, kind) if ids else []
        if versions:
            runs.append(
                create_run(
                    session, "import", kind, [v.id for v in versions], as_of, chunk_size, ids
                )
            )
    return runs
