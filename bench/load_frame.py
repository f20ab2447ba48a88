"""Benchmark: `load_frame` (stored profiles -> typed frame) against the previous code in the
same run, alternated.

    python -m bench.load_frame --profiles 200000 --repeat 3

The previous code (text COPY, a bytearray grown per row, a copy to bytes and a
backslash replace) is kept below as the baseline; both must give equal frames.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from bench.reeval import PG_ADMIN, load_profiles


def old_load_frame(session: Any, kind: str, schema: Any) -> Any:
    from zhida.store.profiles import _json_lines_frame

    raw_conn = session.connection().connection.driver_connection
    cursor = raw_conn.cursor()
    buf = bytearray()
    sql = "COPY (SELECT data::text FROM profiles WHERE kind = %s ORDER BY id) TO STDOUT"
    with cursor.copy(sql, [kind]) as copy:
        for block in copy:
            buf += block
    return _json_lines_frame(bytes(buf).replace(b"\\\\", b"\\"), schema)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from tests.support.scratch import scratch_database
    from zhida.profiles.schema import SchemaSet
    from zhida.store.db import session_scope
    from zhida.store.profiles import load_frame

    schema = SchemaSet.builtin()["enterprise"]
    result: dict[str, Any] = {"profiles": args.profiles, "load_before": os.getloadavg()}
    with scratch_database(PG_ADMIN, "zhida_bench") as url:
        load_profiles(url, args.profiles, 1)
        times: dict[str, list[float]] = {"old": [], "new": []}
        frames = {}
        for _ in range(args.repeat):
            for name in ("old", "new"):
                with session_scope(url) as s:
                    t0 = time.perf_counter()
                    if name == "old":
                        frames[name] = old_load_frame(s, "enterprise", schema)
                    else:
                        frames[name] = load_frame(s, "enterprise", schema)
                    times[name].append(round(time.perf_counter() - t0, 3))
        result["seconds"] = times
        result["equal"] = frames["old"].equals(frames["new"])
        result["speedup_best"] = round(min(times["old"]) / min(times["new"]), 2)
    result["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
