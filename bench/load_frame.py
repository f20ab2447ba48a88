"""Benchmark: `load_frame` (stored profiles -> typed frame, from the typed columns) against
the JSON reader it replaced (`tests/support/json_load.py`: a CSV COPY of each profile's
JSON, parsed by polars), in the same run, alternated.

    python -m bench.load_frame --profiles 200000 --repeat 3

Both must give equal frames. Besides wall seconds, the CPU seconds of this process and
of its PostgreSQL backend (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from bench.reeval import PG_ADMIN, _cpu_seconds, load_profiles


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from tests.support.json_load import json_frame
    from tests.support.scratch import scratch_database
    from zhida.profiles.schema import SchemaSet
    from zhida.store.db import session_scope
    from zhida.store.profiles import load_frame

    schema = SchemaSet.builtin()["enterprise"]
    result: dict[str, Any] = {"profiles": args.profiles, "load_before": os.getloadavg()}
    with scratch_database(PG_ADMIN, "zhida_bench") as url:
        load_profiles(url, args.profiles, 1)
        times: dict[str, list[float]] = {"old": [], "new": []}
        cpu: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        frames = {}
        for _ in range(args.repeat):
            for name, load in (("old", json_frame), ("new", load_frame)):
                with session_scope(url) as s:
                    backend = [
                        int(s.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
                    ]
                    c0, b0, t0 = time.process_time(), _cpu_seconds(backend), time.perf_counter()
                    frames[name] = load(s, "enterprise", schema)
                    times[name].append(round(time.perf_counter() - t0, 3))
                    cpu[name].append(
                        (round(time.process_time() - c0, 2), round(_cpu_seconds(backend) - b0, 2))
                    )
        result["seconds"] = times
        result["cpu_s_client_backend"] = cpu
        result["equal"] = frames["old"].equals(frames["new"])
        result["speedup_best"] = round(min(times["old"]) / min(times["new"]), 2)
    result["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
