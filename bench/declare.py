"""Latency of one self-declaration on /me (`zhida.channels.selfservice.declare`).

    python -m bench.declare --policies 20 --declarations 60 --old /tmp/old --repeat 2

A declaration applies one value to a stored profile and re-judges the profile at
once through the real-time path. For each database (a SQLite file and a scratch
PostgreSQL database), `--policies` benchmark policies are published and
`--profiles` enterprises stored; then `--declarations` declarations are made, each
on another profile (`declare` + commit, timed together): the first one apart (a
cold process), then p50 / p95 / max of the rest. With `--old DIR` the same
measurement runs in child processes, alternately with the code of DIR (an older
checkout) and of this tree, `--repeat` times each. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("ZHIDA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
AS_OF = dt.date(2026, 4, 1)


def _setup(url: str, policies: int, profiles: int) -> list[str]:
    from bench.policies import make_policies
    from zhida.profiles.synth import synthesize_enterprises
    from zhida.publishing.officers import add_officer
    from zhida.publishing.versions import approve, submit
    from zhida.store.db import session_scope
    from zhida.store.models import Profile
    from zhida.store.profiles import stored_profile

    with session_scope(url) as s:
        author, _ = add_officer(s, "bench-author", "author")
        approver, _ = add_officer(s, "bench-approver", "approver")
        for p in make_policies(policies):
            approve(s, approver, submit(s, author, p.yaml, f"{p.id}.yaml"), None)
    rows = synthesize_enterprises(profiles, seed=3).to_dicts()
    with session_scope(url) as s:
        s.add_all(
            Profile(id=r["id"], kind="enterprise", data=stored_profile(r["id"], r), source="bench")
            for r in rows
        )
    return [r["id"] for r in rows]


def _measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from zhida.channels.selfservice import declare
    from zhida.store.db import session_scope

    ids = _setup(url, args.policies, args.profiles)
    now = dt.datetime(2026, 4, 1, 10, 0, tzinfo=dt.UTC)
    times = []
    for k in range(args.declarations):
        pid = ids[k % len(ids)]
        t0 = time.perf_counter()
        with session_scope(url) as s:
            declare(s, pid, "rd_expense", str(100_000 * (k + 1)), now, AS_OF)
        times.append(time.perf_counter() - t0)
    rest = sorted(times[1:])
    ms = [round(t * 1000, 1) for t in rest]
    return {
        "first_ms": round(times[0] * 1000, 1),
        "p50_ms": ms[len(ms) // 2],
        "p95_ms": ms[int(0.95 * (len(ms) - 1))],
        "max_ms": ms[-1],
        "mean_ms": round(sum(rest) / len(rest) * 1000, 1),
    }


def child(args: argparse.Namespace) -> dict[str, Any]:
    """Both databases, with the zhida on this process's path."""
    from tests.support.scratch import scratch_database
    from zhida.store.db import dispose_engines, upgrade

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="zhida-declare-") as tmp:
        url = f"sqlite:///{tmp}/zhida.db"
        upgrade(url)
        out["sqlite"] = _measure(url, args)
        dispose_engines()
    with ExitStack() as stack:
        url = stack.enter_context(scratch_database(PG_ADMIN, "zhida_bench_declare"))
        out["postgresql"] = _measure(url, args)
    with open("/proc/loadavg", encoding="ascii") as f:
        out["load_average_1m"] = float(f.read().split()[0])
    return out


def side_by_side(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    trees = {"old": args.old.resolve(), "new": ROOT}
    out: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for _ in range(args.repeat):
        for name, tree in trees.items():
            done = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", *argv],
                cwd=tree,
                env={**os.environ, "PYTHONPATH": str(tree)},
                capture_output=True,
                text=True,
                check=True,
            )
            out[name].append(json.loads(done.stdout))
            print(f"{name}: {out[name][-1]}", file=sys.stderr)
    return {"policies": args.policies, "declarations": args.declarations, **out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--policies", type=int, default=20)
    ap.add_argument("--profiles", type=int, default=200)
    ap.add_argument("--declarations", type=int, default=60)
    ap.add_argument("--old", type=Path, help="an older checkout to measure beside this one")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    argv = [
        *("--policies", str(args.policies), "--profiles", str(args.profiles)),
        *("--declarations", str(args.declarations)),
    ]
    if args.child:
        # run as a file: its folder is first on the path; the tree is in PYTHONPATH
        if sys.path and sys.path[0] == str(Path(__file__).resolve().parent):
            sys.path.pop(0)
        result = child(args)
    elif args.old:
        result = side_by_side(args, argv)
    else:
        result = child(args)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
