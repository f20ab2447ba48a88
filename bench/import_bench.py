"""Benchmark `zhida import` into a fresh PostgreSQL database.

    python -m bench.import_bench --rows 1000000

Writes synthetic enterprises (`synth_to_file`) to Parquet, creates a fresh
migrated PostgreSQL database, and times, each in its own transaction:

1. fresh:     the file into the empty store (every row new: COPY into the table);
   baseline:  the same rows, pre-encoded, one bare COPY into a copy of the table: the
              server's floor on this machine right now (ratio reported);
2. same:      the same file again (every row matched by id; nothing changes);
3. changed:   the file with every row's employees + 1 (a real update of every row);
4. second:    a second source of --second rows (default rows/10): new ids, no uscc,
              names spelled differently (suffix variant, full-width brackets, leading
              city dropped or added), most in the same region, some moved: entity
              resolution by name against the whole store.

For each: rows/s for read+validate, resolution and write (COPY/upsert, audit,
commit) separately, and end to end. The machine's load average is printed too,
since these machines are shared and noisy. The database is dropped afterwards
unless --keep.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import polars as pl

OUT = Path(__file__).parent / "out"
PG_ADMIN_URL = os.environ.get(
    "ZHIDA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _rate(rows: int, seconds: float) -> int:
    return round(rows / seconds) if seconds > 0 else 0


def second_source(frame: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """`n` rows of another source describing stored enterprises in its own spelling."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(frame.height, size=n, replace=False))
    sub = frame[pick]
    variant = rng.integers(0, 4, size=n)
    moved = rng.random(n) < 0.1  # another region: these go to review, never merged silently
    name = pl.col("name")
    spelled = (
        pl.when(pl.lit(variant) == 0)
        .then(name.str.replace("有限公司$", "有限责任公司"))
        .when(pl.lit(variant) == 1)
        .then(name.str.replace("^(..)(.*)有限公司$", "$2（$1）有限公司"))
        .when(pl.lit(variant) == 2)
        .then(pl.lit("浙江省") + name)
        .otherwise(name.str.replace("股份有限公司$", "有限公司"))
    )
    return sub.with_columns(
        pl.format("S{}", pl.int_range(pl.len()).cast(pl.String).str.zfill(8)).alias("id"),
        pl.lit(None, dtype=pl.String).alias("uscc"),
        spelled.alias("name"),
        pl.when(pl.lit(moved)).then(pl.lit("330782")).otherwise(pl.col("region")).alias("region"),
        pl.when(pl.lit(moved)).then(None).otherwise(pl.col("phone")).alias("phone"),
    )


def timed_import(url: str, path: Path, source: str) -> dict[str, Any]:
    from zhida.ingest.importer import import_batch
    from zhida.profiles.readers import read_profiles
    from zhida.profiles.schema import SchemaSet
    from zhida.store.db import session_scope

    t0 = time.perf_counter()
    batch = read_profiles(path, SchemaSet.builtin())
    t1 = time.perf_counter()
    with session_scope(url) as session:
        report = import_batch(session, batch, source, file=str(path))
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    rows = batch.rows_read
    read_s, resolve_s = t1 - t0, report.timings["resolve"]
    write_s = (t2 - t1 - resolve_s) + (t3 - t2)  # writes, audit and review rows, commit
    total = t3 - t0
    return {
        "rows": rows,
        "counts": dict(report.counts),
        "bad_rows": report.bad_rows,
        "seconds": {
            "read": round(read_s, 2),
            "resolve": round(resolve_s, 2),
            "write": round(write_s, 2),
            "total": round(total, 2),
        },
        "rows_per_s": {
            "read": _rate(rows, read_s),
            "resolve": _rate(rows, resolve_s),
            "write": _rate(rows, write_s),
            "total": _rate(rows, total),
        },
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


def baseline_copy(url: str, path: Path) -> dict[str, Any]:
    """The floor: rows already encoded as CSV, one COPY into a copy of the profiles table
    (same columns and indexes), timed alone. Nothing of zhida runs while it is timed."""
    import io

    import psycopg

    from zhida.ingest.upsert import profile_json_column
    from zhida.profiles.readers import read_profiles
    from zhida.profiles.schema import Audience, SchemaSet

    frame = read_profiles(path, SchemaSet.builtin()).frames[Audience.ENTERPRISE]
    rows = pl.DataFrame(
        {
            "id": frame["id"],
            "kind": "enterprise",
            "data": profile_json_column(frame),
            "source": "baseline",
        }
    )
    buf = io.BytesIO()
    rows.write_csv(buf, include_header=False)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("CREATE TABLE bench_copy (LIKE profiles INCLUDING ALL)")
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor().copy(
            "COPY bench_copy (id, kind, data, source) FROM STDIN WITH (FORMAT csv)"
        ) as copy:
            copy.write(buf.getbuffer())
        conn.commit()
        seconds = time.perf_counter() - t0
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return {
        "rows": rows.height,
        "seconds": round(seconds, 2),
        "rows_per_s": _rate(rows.height, seconds),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--second", type=int, default=None, help="second-source rows (default rows/10)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-changed", action="store_true", help="skip the full update run")
    ap.add_argument("--keep", action="store_true", help="keep the database")
    args = ap.parse_args()

    from tests.support.scratch import scratch_database
    from zhida.profiles.readers import write_profiles
    from zhida.profiles.synth import synth_to_file

    OUT.mkdir(exist_ok=True)
    path = OUT / f"import-enterprises-{args.rows}-{args.seed}.parquet"
    t0 = time.perf_counter()
    synth_to_file(args.rows, path, "enterprise", seed=args.seed)
    synth_s = time.perf_counter() - t0

    database = contextlib.ExitStack()
    url = database.enter_context(scratch_database(PG_ADMIN_URL, "zhida_bench", keep=args.keep))
    result: dict[str, Any] = {
        "rows": args.rows,
        "synth_s": round(synth_s, 2),
        "database": url.rsplit("/", 1)[1] if args.keep else "(dropped)",
    }
    try:
        frame = pl.read_parquet(path)
        result["fresh"] = timed_import(url, path, "bench")
        print(json.dumps({"fresh": result["fresh"]}, ensure_ascii=False), flush=True)
        result["baseline_copy"] = base = baseline_copy(url, path)
        base["fresh_write_vs_copy"] = round(
            base["seconds"] / result["fresh"]["seconds"]["write"], 2
        )
        print(json.dumps({"baseline_copy": base}, ensure_ascii=False), flush=True)
        result["same"] = timed_import(url, path, "bench")
        print(json.dumps({"same": result["same"]}, ensure_ascii=False), flush=True)
        if not args.skip_changed:
            changed = OUT / f"import-changed-{args.rows}.parquet"
            frame.with_columns(pl.col("employees") + 1).write_parquet(changed)
            result["changed"] = timed_import(url, changed, "bench-changed")
            print(json.dumps({"changed": result["changed"]}, ensure_ascii=False), flush=True)
        n2 = args.second if args.second is not None else max(1, args.rows // 10)
        second = OUT / f"import-second-{n2}.parquet"
        write_profiles(second_source(frame.drop("kind"), n2, args.seed), second, kind="enterprise")
        result["second"] = timed_import(url, second, "second-source")
        print(json.dumps({"second": result["second"]}, ensure_ascii=False), flush=True)
    finally:
        database.close()  # dropped unless --keep
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
