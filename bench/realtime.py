"""Soak and throughput benchmark of the real-time path (durable_rules), one process.

    python -m bench.realtime --events 1000000 --policies 20
    python -m bench.realtime --events 100000 --old /tmp/old --repeat 2   # old beside new

Synthesises enterprises and benchmark policies (bench/policies.py), compiles
them into a RealtimeMatcher, then posts profile-update events one at a time:
each event is parsed from its JSON line, applied to the stored profile and
matched against every policy. It reports events per second, the latency of one
event from post to result (apply + match: p50, p99, p99.9, max), the resident
memory (VmRSS) at the start, every 100,000 events and at the end (flat memory
means no state piles up in durable_rules), and the share of (profile, policy)
judgements made by durable_rules versus the reference interpreter (profiles with
an unknown value). Then it re-checks a sample of final profiles against the
batch evaluator and measures the batch evaluator's throughput on the same
policies, for comparison. Prints one JSON object.

`--post candidates` (the default, as the live path runs) posts to durable_rules only
the events of rules that could fire; `--post all` posts every judgeable event (the
audit mode). `--old DIR` runs this benchmark in child processes, alternately from
DIR (an older checkout, its own bench/realtime.py) and from this tree, `--repeat`
times each, and prints both series side by side.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.policies import make_policies

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 4, 1)
NAMES = ["ineligible", "unknown", "eligible"]
REPORT_EVERY = 100_000


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _load() -> float | None:
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return float(f.read().split()[0])
    except OSError:
        return None


def _load_policies(count: int) -> list[Any]:
    from zhida.profiles.schema import SchemaSet
    from zhida.rules.loader import load_policy_text

    schemas = SchemaSet.builtin()
    return [load_policy_text(p.yaml, f"{p.id}.yaml", schemas) for p in make_policies(count)]


def _event_lines(
    profiles: dict[str, dict[str, Any]], ids: list[str], count: int, seed: int, block: int = 10_000
) -> Iterator[list[str]]:
    """Blocks of event JSON lines: data refreshes of 1-3 fields, some patents granted."""
    rng = random.Random(seed)
    done = 0
    while done < count:
        lines = []
        for _ in range(min(block, count - done)):
            pid = ids[rng.randrange(len(ids))]
            if rng.random() < 0.1:
                lines.append(
                    json.dumps(
                        {"type": "patent.granted", "profile": pid, "invention": rng.random() < 0.3}
                    )
                )
                continue
            current = profiles[pid]
            fields: dict[str, Any] = {}
            for name in rng.sample(
                [
                    "revenue",
                    "employees",
                    "rd_expense",
                    "rd_staff",
                    "patents",
                    "tax_credit",
                    "high_tech",
                    "established",
                ],
                rng.randint(1, 3),
            ):
                fields[name] = _new_value(rng, name, current.get(name))
            lines.append(
                json.dumps(
                    {
                        "type": "profile.updated",
                        "profile": pid,
                        "kind": "enterprise",
                        "fields": fields,
                    },
                    ensure_ascii=False,
                )
            )
        done += len(lines)
        yield lines


def _new_value(rng: random.Random, name: str, current: Any) -> Any:
    if rng.random() < 0.02:
        return None  # the source lost the value: unknown from now on
    if name in ("revenue", "rd_expense"):
        base = current if isinstance(current, float) and current > 0 else 1e6
        return round(base * rng.lognormvariate(0.05, 0.3), 2)
    if name in ("employees", "rd_staff", "patents"):
        base = current if isinstance(current, int) else 10
        return max(0, int(base * rng.lognormvariate(0.0, 0.2)) + rng.randint(-1, 2))
    if name == "tax_credit":
        return rng.choice("AABBMCD")
    if name == "high_tech":
        return rng.random() < 0.2
    year = rng.randint(1995, 2025)
    return f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from zhida.matcher.batch import BatchEvaluator
    from zhida.matcher.realtime import VIA_DURABLE, VIA_REFERENCE, RealtimeMatcher
    from zhida.profiles.events import apply_event, parse_event
    from zhida.profiles.readers import polars_dtype
    from zhida.profiles.schema import SchemaSet, builtin_schema
    from zhida.profiles.synth import synthesize_enterprises

    schemas = SchemaSet.builtin()
    schema = builtin_schema("enterprise")
    policies = _load_policies(args.policies)
    frame = synthesize_enterprises(args.profiles, seed=args.seed)
    store: dict[str, dict[str, Any]] = {r["id"]: r for r in frame.to_dicts()}
    ids = list(store)
    matcher = RealtimeMatcher(policies, name_prefix="bench-rt-", post=args.post)
    # written now, so its pages are resident before the first RSS reading (np.zeros'
    # pages would join RSS as the loop touches them: 8 MB per million events)
    latency = np.full(args.events, np.nan, dtype=np.float64)
    outcomes = np.zeros(3, dtype=np.int64)
    rss_start = _rss_mb()
    rss: list[dict[str, float]] = [{"events": 0, "rss_mb": round(rss_start, 1)}]
    parse_s = 0.0
    i = 0
    clock = time.perf_counter
    cpu_start = time.process_time()
    start = window_start = clock()
    for block in _event_lines(store, ids, args.events, args.seed):
        t0 = clock()
        events = [parse_event(line, schemas) for line in block]
        parse_s += clock() - t0
        for event in events:
            t0 = clock()
            profile = apply_event(store.get(event.profile_id), event)
            store[event.profile_id] = profile
            results = matcher.match(profile, event.kind, AS_OF)
            latency[i] = clock() - t0
            for r in results:
                outcomes[NAMES.index(r.outcome)] += 1
            i += 1
            if i % REPORT_EVERY == 0:
                now = clock()
                rss.append(
                    {
                        "events": i,
                        "rss_mb": round(_rss_mb(), 1),
                        "window_events_per_s": round(REPORT_EVERY / (now - window_start)),
                    }
                )
                window_start = now
                print(
                    f"{i:,} events, {i / (now - start):,.0f}/s, RSS {rss[-1]['rss_mb']} MB",
                    file=sys.stderr,
                    flush=True,
                )
    elapsed = clock() - start
    cpu = time.process_time() - cpu_start
    rss_end = _rss_mb()
    if i % REPORT_EVERY:
        rss.append({"events": i, "rss_mb": round(rss_end, 1)})
    stats = dict(matcher.stats)
    judged = stats[VIA_DURABLE] + stats[VIA_REFERENCE] + stats.get("compiled", 0)

    # the final profiles of a sample, judged again, against the batch evaluator
    sample_ids = random.Random(args.seed + 1).sample(ids, min(args.check, len(ids)))
    rows = [store[pid] for pid in sample_ids]
    check = pl.DataFrame(
        {n: [r.get(n) for r in rows] for n in schema.fields},
        schema={n: polars_dtype(f.type) for n, f in schema.fields.items()},
    )
    batch = np.concatenate(
        [r.outcome for r in BatchEvaluator(policies, AS_OF).evaluate(check, schema)], axis=1
    )
    agree = sum(
        int(NAMES[batch[j, k]] == res.outcome)
        for k, row in enumerate(rows)
        for j, res in enumerate(matcher.match(row, "enterprise", AS_OF))
    )
    matcher.close()

    # the batch evaluator on the same policies, for comparison (best of 3 runs)
    big = synthesize_enterprises(args.batch_profiles, seed=args.seed + 2)
    runs, cpu_runs = [], []
    for _ in range(3):
        evaluator = BatchEvaluator(policies, AS_OF)
        t0, c0 = clock(), time.process_time()
        for _chunk in evaluator.evaluate(big, schema):
            pass
        runs.append(clock() - t0)
        cpu_runs.append(time.process_time() - c0)
    batch_s = min(runs)

    lat_us = latency[:i] * 1e6
    events_per_s = i / elapsed
    batch_profiles_per_s = args.batch_profiles / batch_s
    return {
        "events": i,
        "policies": len(policies),
        "profiles": len(ids),
        "seconds": round(elapsed, 1),
        "events_per_s": round(events_per_s),
        "evaluations_per_s": round(events_per_s * len(policies)),
        "cpu_seconds": round(cpu, 1),  # this process alone: the rate on an idle core
        "events_per_cpu_s": round(i / cpu) if cpu else None,
        "load_average_1m": _load(),
        "latency_us": {
            "p50": round(float(np.percentile(lat_us, 50)), 1),
            "p99": round(float(np.percentile(lat_us, 99)), 1),
            "p99.9": round(float(np.percentile(lat_us, 99.9)), 1),
            "max": round(float(lat_us.max()), 1),
            "mean": round(float(lat_us.mean()), 1),
        },
        "parse_events_per_s": round(i / parse_s) if parse_s else None,
        "rss_mb": {
            "start": round(rss_start, 1),
            "end": round(rss_end, 1),
            "growth": round(rss_end - rss_start, 1),
            "growth_after_first_100k": round(rss_end - rss[1]["rss_mb"], 1)
            if len(rss) > 2
            else None,
            "samples": rss,
        },
        "judged_by": {
            VIA_DURABLE: stats[VIA_DURABLE],
            VIA_REFERENCE: stats[VIA_REFERENCE],
            "compiled": stats.get("compiled", 0),  # --post candidates: no rule could fire
            "durable_rules_share": round(stats[VIA_DURABLE] / judged, 4) if judged else None,
        },
        "post": args.post,
        "disagreements": stats["disagreements"],  # durable_rules vs the compiled criteria
        "outcomes": {NAMES[k]: int(outcomes[k]) for k in range(3)},
        "final_check_vs_batch": {"evaluations": len(rows) * len(policies), "agree": agree},
        "batch": {
            "profiles": args.batch_profiles,
            "seconds": round(batch_s, 3),
            "profiles_per_s": round(batch_profiles_per_s),
            "evaluations_per_s": round(batch_profiles_per_s * len(policies)),
            "runs_s": [round(r, 3) for r in runs],
            "profiles_per_cpu_s": round(args.batch_profiles / min(cpu_runs)),
        },
        "batch_vs_realtime": round(batch_profiles_per_s / events_per_s),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--policies", type=int, default=20)
    ap.add_argument("--profiles", type=int, default=20_000, help="enterprises the events update")
    ap.add_argument(
        "--batch-profiles", type=int, default=1_000_000, help="rows for the batch comparison"
    )
    ap.add_argument(
        "--check",
        type=int,
        default=2_000,
        help="final profiles re-checked against the batch evaluator",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--post", choices=["candidates", "all"], default="candidates")
    ap.add_argument("--old", type=Path, help="an older checkout to measure beside this one")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, with --old")
    args = ap.parse_args()
    result = side_by_side(args) if args.old else run(args)
    print(json.dumps(result, ensure_ascii=False, indent=2))


_SUMMARY = ("events_per_s", "events_per_cpu_s", "load_average_1m", "latency_us", "rss_mb")


def side_by_side(args: argparse.Namespace) -> dict[str, Any]:
    """Old and new in child processes, alternating; the figures that compare."""
    common = [
        *("--events", str(args.events), "--policies", str(args.policies)),
        *("--profiles", str(args.profiles), "--batch-profiles", str(args.batch_profiles)),
        *("--check", str(args.check), "--seed", str(args.seed)),
    ]
    trees = {"old": (args.old.resolve(), common), "new": (ROOT, [*common, "--post", args.post])}
    out: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for _ in range(args.repeat):
        for name, (tree, argv) in trees.items():
            env = {**os.environ, "PYTHONPATH": str(tree)}
            done = subprocess.run(
                [sys.executable, "-m", "bench.realtime", *argv],
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            full = json.loads(done.stdout)
            keep = {k: full[k] for k in _SUMMARY}
            keep["outcomes"], keep["disagreements"] = full["outcomes"], full["disagreements"]
            keep["final_check_vs_batch"] = full["final_check_vs_batch"]
            out[name].append(keep)
            print(f"{name}: {keep['events_per_cpu_s']} events per CPU-second", file=sys.stderr)
    return {"events": args.events, "policies": args.policies, **out}


if __name__ == "__main__":
    main()
