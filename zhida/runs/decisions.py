"""Stored decisions: compare fresh results with what is stored, write only the changes.

Decisions are sparse (see `zhida.store.models`): a row per (profile, policy) whose
outcome is eligible (2) or unknown (1); no row means ineligible (0). Given the
fresh results for a set of profiles and a set of policies, `diff_results` finds

- rows to upsert: a result that is eligible/unknown and either has no stored row
  or differs from it in outcome, policy version, failed/unknown criteria, benefit
  or score (scores are rounded to `SCORE_DIGITS` places, so a re-run with nothing
  changed writes nothing);
- rows to delete: a stored row whose fresh outcome is ineligible;
- transitions: a (profile, policy) whose *outcome* changed, `from_outcome` being the
  stored one (0 when there is no row) and `policy_version_id` the version that
  produced `to_outcome`. A changed score or a new policy version with the same
  outcome updates the decision but is not a transition.

The same comparison serves the batch path (`apply_chunk_results`, a chunk of a run:
bulk COPY on PostgreSQL) and the real-time path (`apply_profile_results`, one
profile, transitions with `run_id` None). Functions receive a Session and never
commit: the caller's transaction makes the decisions, the transitions and the
caller's own bookkeeping (a run chunk marked done) one atomic change.

Transitions for a run are inserted with ON CONFLICT DO NOTHING on the unique
(run_id, profile_id, policy_id), so whatever happens to a task, a run records a
change at most once.

Concurrency: the batch path takes no lock on decision rows; a chunk is serialised
against re-deliveries of itself by its RunChunk row lock (see `zhida.runs.reevaluate`).
Both paths write only for versions still published, checked under the policies'
shared advisory locks, which publishing takes exclusive (`versions_in_force`): a
chunk or event of a superseded version writes nothing once the next version is
published, and one in flight commits before it is. (Without that, a run of v1
racing v2's run recorded one profile's 0 -> eligible twice, once per version, and
notifications, unique per (profile, policy, policy version), told it twice; or a late
v1 chunk overwrote v2's decisions with v1's.) Two runs of the *same* version at
the same time (or the real-time path racing a run on the same profile) may each
record the same change once; notifications are unique per (profile, policy, policy
version), so nobody is told twice. The real-time path serialises itself per profile
with an advisory lock on PostgreSQL.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import Table, bindparam, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from zhida.clock import utcnow
from zhida.publishing.versions import lock_policies, still_published
from zhida.runs.results import (
    KEYS,
    RESULT_SCHEMA,
    ProfileResult,
    canonical_json,
    empty_results,
    profile_results_frame,
)
from zhida.store.models import Decision, PolicyVersion, Transition

DECISIONS: Table = Decision.__table__  # type: ignore[assignment]
TRANSITIONS: Table = Transition.__table__  # type: ignore[assignment]

# above this many rows a PostgreSQL write goes through COPY into a temp table
COPY_THRESHOLD = 200


# --------------------------------------------------------------------------- in force


def versions_in_force(session: Session, version_ids: Sequence[int]) -> list[int]:
    """Those of these versions still published, with their policies' locks held shared
    until the caller's transaction ends (see the module docstring): the only versions
    whose results may be written."""
    ids = sorted({int(v) for v in version_ids})
    if not ids:
        return []
    policies = session.scalars(select(PolicyVersion.policy_id).where(PolicyVersion.id.in_(ids)))
    lock_policies(session, list(policies), shared=True)
    return sorted(still_published(session, ids))


# --------------------------------------------------------------------------- stored


def load_stored(
    session: Session,
    policy_ids: Sequence[str],
    lo: str | None = None,
    hi: str | None = None,
    profile_id: str | None = None,
    profile_ids: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Stored decisions (RESULT_SCHEMA) for these policies and profiles lo <= id < hi
    (or one profile; `profile_ids`: only these)."""
    if not policy_ids:
        return empty_results()
    conn = session.connection()
    where = ["policy_id IN :pids"]
    params: dict[str, Any] = {"pids": list(policy_ids)}
    if profile_id is not None:
        where.append("profile_id = :one")
        params["one"] = profile_id
    if lo is not None:
        where.append("profile_id >= :lo")
        params["lo"] = lo
    if hi is not None:
        where.append("profile_id < :hi")
        params["hi"] = hi
    if conn.dialect.name == "postgresql" and profile_id is None:
        return _load_stored_copy(session, policy_ids, lo, hi, profile_ids)
    binds: list[BindParameter[Any]] = [bindparam("pids", expanding=True)]
    if profile_ids is not None:
        where.append("profile_id IN :ids")
        params["ids"] = list(profile_ids)
        binds.append(bindparam("ids", expanding=True))
    sql = text(
        "SELECT profile_id, policy_id, policy_version_id, outcome, failed, unknown, "
        f"benefit, score FROM decisions WHERE {' AND '.join(where)}"
    ).bindparams(*binds)
    rows = [
        {
            "profile_id": r[0],
            "policy_id": r[1],
            "policy_version_id": int(r[2]),
            "outcome": int(r[3]),
            "failed": canonical_json(r[4]),
            "unknown": canonical_json(r[5]),
            "benefit": r[6],
            "score": float(r[7]),
        }
        for r in session.execute(sql, params)
    ]
    return pl.DataFrame(rows, schema=RESULT_SCHEMA) if rows else empty_results()


def _unescape_copy(s: pl.Expr) -> pl.Expr:
    return s.str.replace_all("\\\\", "\\", literal=True)


def _escape_copy(s: pl.Expr) -> pl.Expr:
    # COPY text format: backslash, tab, newline and CR must be escaped in text values
    return (
        s.str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all("\t", "\\t", literal=True)
        .str.replace_all("\n", "\\n", literal=True)
        .str.replace_all("\r", "\\r", literal=True)
    )


def _raw_cursor(session: Session) -> Any:
    raw = session.connection().connection.driver_connection
    assert raw is not None
    return raw.cursor()


def _load_stored_copy(
    session: Session,
    policy_ids: Sequence[str],
    lo: str | None,
    hi: str | None,
    profile_ids: Sequence[str] | None = None,
) -> pl.DataFrame:
    where = ["policy_id = ANY(%s)"]
    params: list[Any] = [list(policy_ids)]
    if profile_ids is not None:
        where.append("profile_id = ANY(%s)")
        params.append(list(profile_ids))
    if lo is not None:
        where.append("profile_id >= %s")
        params.append(lo)
    if hi is not None:
        where.append("profile_id < %s")
        params.append(hi)
    sql = (
        "COPY (SELECT profile_id, policy_id, policy_version_id, outcome, failed::text, "
        f"unknown::text, benefit, score FROM decisions WHERE {' AND '.join(where)}) "
        "TO STDOUT"
    )
    buf = bytearray()
    with _raw_cursor(session).copy(sql, params) as copy:
        for block in copy:
            buf += block
    if not buf:
        return empty_results()
    frame = pl.read_csv(
        bytes(buf),
        separator="\t",
        has_header=False,
        quote_char=None,
        null_values="\\N",
        new_columns=list(RESULT_SCHEMA),
        schema_overrides=RESULT_SCHEMA,
    )
    return frame.with_columns(
        _unescape_copy(pl.col("profile_id")),
        _unescape_copy(pl.col("policy_id")),
        _unescape_copy(pl.col("failed")),
        _unescape_copy(pl.col("unknown")),
    )


# --------------------------------------------------------------------------- diff


@dataclass
class Diff:
    upserts: pl.DataFrame  # RESULT_SCHEMA rows to write
    deletes: pl.DataFrame  # profile_id, policy_id of rows to delete
    transitions: pl.DataFrame  # TRANSITION_SCHEMA
    counts: dict[str, int] = field(default_factory=dict)


def diff_results(
    new: pl.DataFrame, stored: pl.DataFrame, versions: dict[str, int], pairs: int
) -> Diff:
    """Compare fresh eligible/unknown results with the stored rows for the same profiles
    and policies. `versions`: policy_id -> the version evaluated; `pairs`: the number of
    (profile, policy) pairs evaluated, for the `unchanged` count.

    Counts: newly_eligible (x -> eligible), no_longer_eligible (eligible -> x),
    newly_unknown (ineligible -> unknown), no_longer_unknown (unknown -> ineligible),
    unchanged (same outcome, stored or not), decisions_written, decisions_deleted,
    transitions. The first five add up to `pairs`.
    """
    joined = new.join(stored, on=KEYS, how="full", coalesce=True, suffix="_old")
    to = pl.col("outcome").fill_null(0)
    frm = pl.col("outcome_old").fill_null(0)
    changed_fields = (
        (pl.col("policy_version_id") != pl.col("policy_version_id_old"))
        | (pl.col("outcome") != pl.col("outcome_old"))
        | (pl.col("failed") != pl.col("failed_old"))
        | (pl.col("unknown") != pl.col("unknown_old"))
        | pl.col("benefit").ne_missing(pl.col("benefit_old"))
        | (pl.col("score") != pl.col("score_old"))
    )
    joined = joined.with_columns(to.alias("_to"), frm.alias("_from"))
    upserts = joined.filter(
        pl.col("outcome").is_not_null() & (pl.col("outcome_old").is_null() | changed_fields)
    ).select(list(RESULT_SCHEMA))
    deletes = joined.filter(pl.col("outcome").is_null()).select(KEYS)
    moved = joined.filter(pl.col("_to") != pl.col("_from"))
    transitions = moved.select(
        "profile_id",
        "policy_id",
        pl.col("policy_id")
        .replace_strict(versions, return_dtype=pl.Int64)
        .alias("policy_version_id"),
        pl.col("_from").cast(pl.Int8).alias("from_outcome"),
        pl.col("_to").cast(pl.Int8).alias("to_outcome"),
    ).sort(KEYS)
    t_from = transitions.get_column("from_outcome")
    t_to = transitions.get_column("to_outcome")
    counts = {
        "newly_eligible": int((t_to == 2).sum()),
        "no_longer_eligible": int((t_from == 2).sum()),
        "newly_unknown": int(((t_from == 0) & (t_to == 1)).sum()),
        "no_longer_unknown": int(((t_from == 1) & (t_to == 0)).sum()),
        "unchanged": pairs - transitions.height,
        "decisions_written": upserts.height,
        "decisions_deleted": deletes.height,
        "transitions": transitions.height,
    }
    return Diff(upserts.sort(KEYS), deletes.sort(KEYS), transitions, counts)


# --------------------------------------------------------------------------- write


def write_diff(session: Session, diff: Diff, run_id: int | None) -> None:
    """Write a diff in the caller's transaction: upsert, delete, insert transitions."""
    if session.connection().dialect.name == "postgresql" and (
        max(diff.upserts.height, diff.deletes.height, diff.transitions.height) > COPY_THRESHOLD
    ):
        _write_copy(session, diff, run_id)
    else:
        _write_rows(session, diff, run_id)


def _upsert_stmt(dialect: str) -> Any:
    table = DECISIONS
    ins: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    cols = [
        "policy_version_id",
        "outcome",
        "failed",
        "unknown",
        "benefit",
        "score",
        "run_id",
        "updated_at",
    ]
    return ins.on_conflict_do_update(
        index_elements=KEYS, set_={c: getattr(ins.excluded, c) for c in cols}
    )


def _write_rows(session: Session, diff: Diff, run_id: int | None) -> None:
    dialect = session.connection().dialect.name
    now = utcnow()
    if diff.upserts.height:
        rows = [
            {
                **r,
                "failed": json.loads(r["failed"]),
                "unknown": json.loads(r["unknown"]),
                "run_id": run_id,
                "updated_at": now,
            }
            for r in diff.upserts.iter_rows(named=True)
        ]
        session.execute(_upsert_stmt(dialect), rows)
    if diff.deletes.height:
        table = DECISIONS
        stmt = delete(table).where(
            table.c.profile_id == bindparam("p"), table.c.policy_id == bindparam("q")
        )
        session.execute(stmt, [{"p": p, "q": q} for p, q in diff.deletes.iter_rows()])
    if diff.transitions.height and run_id is not None:
        ins: Any = (
            postgresql.insert(TRANSITIONS)
            if dialect == "postgresql"
            else sqlite.insert(TRANSITIONS)
        )
        stmt = ins.on_conflict_do_nothing(index_elements=["run_id", "profile_id", "policy_id"])
        rows = [
            {**r, "run_id": run_id, "notified": False, "created_at": now}
            for r in diff.transitions.iter_rows(named=True)
        ]
        session.execute(stmt, rows)


def _copy_payload(frame: pl.DataFrame) -> bytes:
    strings = [c for c, t in frame.schema.items() if t == pl.String]
    frame = frame.with_columns(_escape_copy(pl.col(c)) for c in strings)
    buf = io.BytesIO()
    frame.write_csv(
        buf,
        separator="\t",
        include_header=False,
        quote_style="never",
        null_value="\\N",
        float_precision=None,
    )
    return buf.getvalue()


def _copy_into(cursor: Any, table: str, frame: pl.DataFrame) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN") as copy:
        copy.write(_copy_payload(frame))


def _write_copy(session: Session, diff: Diff, run_id: int | None) -> None:
    cur = _raw_cursor(session)
    now = utcnow()
    if diff.upserts.height:
        cur.execute(
            "CREATE TEMP TABLE zd_up (profile_id text, policy_id text, "
            "policy_version_id int, outcome smallint, failed text, unknown text, "
            "benefit float8, score float8) ON COMMIT DROP"
        )
        _copy_into(cur, "zd_up", diff.upserts)
        cur.execute(
            "INSERT INTO decisions (profile_id, policy_id, policy_version_id, outcome, failed, "
            "unknown, benefit, score, run_id, updated_at) "
            "SELECT profile_id, policy_id, policy_version_id, outcome, failed::jsonb, "
            "unknown::jsonb, benefit, score, %s, %s FROM zd_up ORDER BY profile_id, policy_id "
            "ON CONFLICT (profile_id, policy_id) DO UPDATE SET "
            "policy_version_id = EXCLUDED.policy_version_id, outcome = EXCLUDED.outcome, "
            "failed = EXCLUDED.failed, unknown = EXCLUDED.unknown, benefit = EXCLUDED.benefit, "
            "score = EXCLUDED.score, run_id = EXCLUDED.run_id, updated_at = EXCLUDED.updated_at",
            (run_id, now),
        )
        cur.execute("DROP TABLE zd_up")
    if diff.deletes.height:
        cur.execute("CREATE TEMP TABLE zd_del (profile_id text, policy_id text) ON COMMIT DROP")
        _copy_into(cur, "zd_del", diff.deletes)
        cur.execute(
            "DELETE FROM decisions d USING zd_del t "
            "WHERE d.profile_id = t.profile_id AND d.policy_id = t.policy_id"
        )
        cur.execute("DROP TABLE zd_del")
    if diff.transitions.height and run_id is not None:
        cur.execute(
            "CREATE TEMP TABLE zd_tr (profile_id text, policy_id text, "
            "policy_version_id int, from_outcome smallint, to_outcome smallint) "
            "ON COMMIT DROP"
        )
        _copy_into(cur, "zd_tr", diff.transitions)
        cur.execute(
            "INSERT INTO transitions (run_id, profile_id, policy_id, policy_version_id, "
            "from_outcome, to_outcome, notified, created_at) "
            "SELECT %s, profile_id, policy_id, policy_version_id, from_outcome, to_outcome, "
            "false, %s FROM zd_tr ORDER BY profile_id, policy_id "
            "ON CONFLICT (run_id, profile_id, policy_id) DO NOTHING",
            (run_id, now),
        )
        cur.execute("DROP TABLE zd_tr")


# --------------------------------------------------------------------------- entry points


def apply_chunk_results(
    session: Session,
    run_id: int,
    new: pl.DataFrame,
    versions: dict[str, int],
    profiles: int,
    lo: str | None,
    hi: str | None,
    profile_ids: Sequence[str] | None = None,
) -> dict[str, int]:
    """Bring the stored decisions of profiles lo <= id < hi (of `profile_ids` among them,
    when given: the others' stay as they are) for the run's policies in line with `new`
    (their eligible/unknown results); record the run's transitions. Returns the chunk's
    counts (see `diff_results`) plus `profiles` and `pairs`."""
    stored = load_stored(session, list(versions), lo, hi, profile_ids=profile_ids)
    pairs = profiles * len(versions)
    diff = diff_results(new, stored, versions, pairs)
    write_diff(session, diff, run_id)
    return {"profiles": profiles, "pairs": pairs, **diff.counts}


def apply_profile_results(
    session: Session, profile_id: str, results: Sequence[ProfileResult]
) -> list[Transition]:
    """The real-time path: one profile's fresh results, one per policy given (any outcome,
    0 included). Stored decisions for those policies are brought in line; policies not
    given, or of versions no longer published, are left alone. Returns the new
    Transition rows (run_id None), flushed."""
    in_force = set(versions_in_force(session, [int(r[1]) for r in results]))
    results = [r for r in results if int(r[1]) in in_force]  # a stale matcher's: dropped
    versions = {r[0]: int(r[1]) for r in results}
    if not versions:
        return []
    if session.connection().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"zhida.profile:{profile_id}"},
        )
    new = profile_results_frame(profile_id, results)
    stored = load_stored(session, list(versions), profile_id=profile_id)
    diff = diff_results(new, stored, versions, len(versions))
    write_diff(session, diff, None)
    now = utcnow()
    made = [
        Transition(
            run_id=None,
            profile_id=r["profile_id"],
            policy_id=r["policy_id"],
            policy_version_id=r["policy_version_id"],
            from_outcome=r["from_outcome"],
            to_outcome=r["to_outcome"],
            notified=False,
            created_at=now,
        )
        for r in diff.transitions.iter_rows(named=True)
    ]
    session.add_all(made)
    session.flush()
    return made


def stored_decisions(session: Session, profile_id: str) -> list[Decision]:
    """A profile's stored decisions (eligible and unknown), by policy id."""
    stmt = select(Decision).where(Decision.profile_id == profile_id).order_by(Decision.policy_id)
    return list(session.scalars(stmt))
