"""Importing profiles into the store: resolve each row, then one fast upsert.

Everything happens in the caller's session, so in one transaction: a failure
anywhere (a broken file, a database error, an interrupt) leaves nothing written.

- PostgreSQL: rows whose id the resolver found nowhere go by one streamed
  ``COPY`` straight into ``profiles`` (JSON encoded chunk by chunk while the
  server parses the previous one); the others by ``COPY`` into a temporary
  table, then ``UPDATE ... FROM`` it (only rows whose data would change) and
  ``INSERT ... ON CONFLICT (id) DO UPDATE`` for ids stored meanwhile.
- SQLite: ``executemany`` of ``INSERT ... ON CONFLICT (id) DO UPDATE``.

An update merges: the incoming fields replace the stored ones, fields the row
leaves empty keep their stored value (``data || incoming`` with nulls stripped).
Rows that the resolver merges into another profile are written to that profile's
id; each such link is recorded in the audit log (action ``profile.link``,
subject the incoming id, so a later import of the same id goes straight there).
Ambiguous rows become review items and are not written until a person accepts
(merge into the candidate) or rejects (a new profile) them.

This module strings the steps together; the resolver's look-ups are in
`zhida.ingest.store_view`, the writes in `zhida.ingest.upsert` and the review queue in
`zhida.ingest.review`.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import insert
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.errors import RowError
from zhida.ingest.review import save_reviews
from zhida.ingest.store_view import LINK_ACTION, SqlStoreView, driver
from zhida.ingest.upsert import DEFAULT_CHUNK_ROWS, Progress, insert_new_profiles, upsert_profiles
from zhida.profiles.readers import ProfileBatch, read_profiles
from zhida.profiles.resolve import Action, StoreView, resolve
from zhida.profiles.schema import Audience, SchemaSet
from zhida.store.models import AuditLog

__all__ = ["ImportReport", "import_batch", "import_file"]


@dataclass
class ImportReport:
    """What an import did. `counts` has new, update, merge, review and conflict."""

    source: str
    file: str = ""
    rows_read: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # rows skipped for an id of another kind
    counts: dict[str, int] = field(default_factory=lambda: {a.value: 0 for a in Action})
    timings: dict[str, float] = field(default_factory=dict)  # read, resolve, write (seconds)
    # kind -> ids of the stored profiles the import inserted or changed (sorted): what a
    # run re-evaluates; an id whose data the import left as it was is not here
    changed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def written(self) -> int:
        c = self.counts
        return c["new"] + c["update"] + c["merge"]

    @property
    def bad_rows(self) -> int:
        return len(self.errors) + len(self.conflicts)


def import_file(
    session: Session,
    path: str | Path,
    schemas: SchemaSet | None = None,
    *,
    kind: Audience | str | None = None,
    source: str | None = None,
    progress: Progress | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ImportReport:
    """Read, validate, resolve and write one profile file (CSV, JSON Lines, Parquet).

    A file that cannot be read at all raises ProfileDataError before anything is
    written; bad rows are reported in the result and skipped. `source` defaults
    to the file name.
    """
    start = time.perf_counter()
    batch = read_profiles(path, schemas or SchemaSet.builtin(), kind)
    read_s = time.perf_counter() - start
    report = import_batch(
        session,
        batch,
        source or Path(path).name,
        file=str(path),
        progress=progress,
        chunk_rows=chunk_rows,
    )
    report.timings = {"read": read_s, **report.timings}
    return report


def import_batch(
    session: Session,
    batch: ProfileBatch,
    source: str,
    *,
    file: str = "",
    progress: Progress | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ImportReport:
    """Resolve and write rows already read by `read_profiles` (see `import_file`)."""
    report = ImportReport(
        source=source,
        file=file,
        rows_read=batch.rows_read,
        errors=list(batch.errors),
        warnings=list(batch.warnings),
    )
    store: StoreView = SqlStoreView(session)
    t0 = time.perf_counter()
    plans: list[tuple[Audience, pl.DataFrame, pl.DataFrame]] = []
    for aud, frame in batch.frames.items():
        if frame.height == 0:
            continue
        res = resolve(frame, aud, store)
        plans.append((aud, frame, res))
        for action, count in res.group_by("action").len().iter_rows():
            report.counts[action] += count
        for reason in res.filter(pl.col("action") == Action.CONFLICT.value)["reason"]:
            report.conflicts.append(f"{file or source}: error: {reason}")
    t1 = time.perf_counter()

    links: list[pl.DataFrame] = []
    reviews: list[tuple[dict[str, Any], pl.DataFrame]] = []
    writes: list[pl.DataFrame] = []  # per audience: kind, typed fields (id = target), new
    for aud, frame, res in plans:
        written = res.filter(
            pl.col("action").is_in([Action.NEW.value, Action.UPDATE.value, Action.MERGE.value])
        )
        rows = (
            frame.with_row_index("_row")
            .join(
                written.select(pl.col("row").cast(pl.UInt32).alias("_row"), "target", "action"),
                on="_row",
                how="inner",
            )
            .sort("_row")
        )
        writes.append(
            rows.select(
                pl.lit(aud.value, dtype=pl.String).alias("kind"),
                *(pl.col("target").alias(c) if c == "id" else pl.col(c) for c in frame.columns),
                (pl.col("action") == Action.NEW.value).alias("_new"),
                pl.int_range(pl.len()).over("target").alias("_round"),  # repeated targets: in order
            )
        )
        merged = res.filter(pl.col("action") == Action.MERGE.value).join(
            frame.select(
                pl.int_range(frame.height, dtype=pl.Int64).alias("row"),
                pl.col("id").alias("incoming"),
            ),
            on="row",
        )
        links.append(
            merged.select(
                pl.col("incoming").alias("subject"),
                pl.struct(
                    pl.col("target"),
                    pl.lit(aud.value).alias("kind"),
                    pl.lit(source).alias("source"),
                    "rule",
                    "score",
                    "reason",
                ).alias("detail"),
            )
        )
        review = res.filter(pl.col("action") == Action.REVIEW.value)
        if review.height:
            review_rows = (
                frame.with_row_index("row")
                .join(
                    review.select(pl.col("row").cast(pl.UInt32), "candidate", "score", "reason"),
                    on="row",
                )
                .sort("row")
            )
            reviews.append(({"kind": aud.value}, review_rows))

    for w in writes:
        ids: list[str] = []
        rounds = w.get_column("_round").max()
        for rnd in range(int(rounds) + 1 if isinstance(rounds, int) else 0):
            part = w.filter(pl.col("_round") == rnd)
            if rnd == 0:  # ids the resolver found nowhere in the store: plain inserts
                insert_new_profiles(
                    session,
                    part.filter(pl.col("_new")).drop("_new", "_round"),
                    source,
                    progress,
                    chunk_rows,
                    ids,
                )
                part = part.filter(~pl.col("_new"))
            upsert_profiles(session, part.drop("_new", "_round"), source, progress, chunk_rows, ids)
        if ids and w.height:
            kind = str(w.get_column("kind")[0])
            report.changed[kind] = sorted({*report.changed.get(kind, []), *ids})
    save_reviews(session, reviews, source)
    _insert_links(session, pl.concat(links) if links else pl.DataFrame())
    session.add(
        AuditLog(
            action="profile.import",
            subject=source[:200],
            detail={
                "file": file,
                "rows_read": report.rows_read,
                "bad_rows": report.bad_rows,
                "counts": dict(report.counts),
            },
        )
    )
    session.flush()
    report.timings.update({"resolve": t1 - t0, "write": time.perf_counter() - t1})
    return report


def _insert_links(session: Session, links: pl.DataFrame) -> None:
    """Audit rows `profile.link` (subject: the incoming id; detail: a struct column)."""
    if links.height == 0:
        return
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        session.execute(insert(AuditLog), [{"action": LINK_ACTION, **r} for r in links.to_dicts()])
        return
    session.flush()
    stamp = utcnow().isoformat()
    frame = links.select(
        pl.lit(stamp).alias("at"),
        pl.lit(LINK_ACTION).alias("action"),
        pl.col("subject"),
        pl.col("detail").struct.json_encode(),
    )
    cur = driver(conn).cursor()
    with cur.copy(
        "COPY audit_log (at, action, subject, detail) FROM STDIN WITH (FORMAT csv)",
        writer=QueuedLibpqWriter(cur),
    ) as copy:
        for start in range(0, frame.height, DEFAULT_CHUNK_ROWS):
            buf = io.BytesIO()
            frame.slice(start, DEFAULT_CHUNK_ROWS).write_csv(buf, include_header=False)
            copy.write(buf.getvalue())
