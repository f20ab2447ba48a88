"""Benchmark the batch evaluator against its baselines, in one run.

    python -m bench.evaluate --profiles 1000000 --policies 50

Synthesises enterprises, writes and reads them as Parquet, then measures in a
fresh process (so its peak memory is its own) the vectorised evaluator over all
profiles and policies. In the same run it measures the plain-Python reference
interpreter and durable_rules (one profile event at a time) on samples,
extrapolates their per-evaluation cost, checks that all three give identical
outcomes on the samples, and prints the ratios. `--e2e` also times
`zhida evaluate` end to end (Parquet in, JSON Lines out) with 20 policies.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import numpy as np

from bench.policies import derived_rows, make_policies, sample_indices

OUT = Path(__file__).parent / "out"
AS_OF = dt.date(2026, 4, 1)
NAMES = ["ineligible", "unknown", "eligible"]


def _rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited over exec)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load_policies(count: int) -> list:  # type: ignore[type-arg]
    from zhida.profiles.schema import SchemaSet
    from zhida.rules.loader import load_policy_text

    schemas = SchemaSet.builtin()
    return [load_policy_text(p.yaml, f"{p.id}.yaml", schemas) for p in make_policies(count)]


def _each(fn: Callable[[object], object], parts: Iterable[object]) -> list[object]:
    return [fn(p) for p in parts]


def _timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def stage_batch(
    path: Path, npolicies: int, sample: Path, threads: int, chunk: int, repeats: int
) -> dict:
    """In a fresh process: read Parquet, then alternate, `repeats` times, the evaluator
    (cold: a fresh BatchEvaluator converts the columns; warm: the same one again), the
    same with near misses, and the hand-written numpy baseline; keep the sample rows'
    results of the first run."""
    from bench.numpy_baseline import Baseline, chunks, code_columns
    from zhida.matcher.batch import BatchEvaluator
    from zhida.profiles.readers import read_profiles
    from zhida.profiles.schema import SchemaSet, builtin_schema

    rss_start = _rss_mb()
    policies = _load_policies(npolicies)
    t0 = time.perf_counter()
    batch = read_profiles(path, SchemaSet.builtin(), "enterprise")
    df = next(iter(batch.frames.values()))
    t_read = time.perf_counter() - t0
    rss_loaded = _rss_mb()
    idx = np.load(sample)
    schema = builtin_schema("enterprise")
    t_code, _, cols = _timed(lambda: code_columns(df))
    baseline = Baseline(make_policies(npolicies), AS_OF)

    def run(evaluator: BatchEvaluator, keep: bool = False, near: bool = False) -> np.ndarray:
        outcomes = []
        for r in evaluator.evaluate(df, schema):
            outcomes.append(r.outcome)
            if near:  # the near misses as a line reads them: criterion index, holds_on
                for nr in getattr(r, "near", []):  # (older code: dense arrays already)
                    nr.dense(r.stop - r.start)
            if keep:
                sel = idx[(idx >= r.start) & (idx < r.stop)] - r.start
                keep_outcome.append(r.outcome[:, sel].T)
                keep_codes.append(np.concatenate([c[:, sel] for c in r.criteria], axis=0).T)
        return np.concatenate(outcomes, axis=1)

    keep_outcome: list[np.ndarray] = []
    keep_codes: list[np.ndarray] = []
    runs: dict[str, list[tuple[float, float]]] = {}
    counts = np.zeros(3, dtype=np.int64)
    base_mismatches = -1
    for k in range(repeats):  # alternated, so that the machine's drift hits all alike
        evaluator = BatchEvaluator(policies, AS_OF, chunk_size=chunk, threads=threads)
        near = BatchEvaluator(policies, AS_OF, chunk_size=chunk, threads=threads, near_miss=True)
        results = {}
        for kind, fn in (
            ("cold", partial(run, evaluator, keep=k == 0)),
            ("warm", partial(run, evaluator)),
            ("near_cold", partial(run, near)),
            ("near_warm_read", partial(run, near, near=True)),
            ("baseline", partial(baseline.evaluate, cols)),
            ("baseline_chunked", partial(_each, baseline.evaluate, chunks(cols, chunk))),
        ):
            w, c, results[kind] = _timed(fn)
            runs.setdefault(kind, []).append((w, c))
        outcome, base = results["cold"], results["baseline"]
        if k == 0:
            assert isinstance(outcome, np.ndarray) and isinstance(base, np.ndarray)
            counts = np.array([np.count_nonzero(outcome == v) for v in range(3)])
            base_mismatches = int(np.count_nonzero(outcome != base))
    np.savez(
        sample.with_suffix(".result.npz"),
        outcome=np.concatenate(keep_outcome),
        codes=np.concatenate(keep_codes),
    )
    return {
        "rows": df.height,
        "read_s": t_read,
        "baseline_code_columns_s": t_code,
        "baseline_mismatches": base_mismatches,
        "runs": runs,
        "eval_s": runs["cold"][0][0],
        "eval_runs_s": [w for w, _ in runs["cold"]],
        "eval_near_miss_runs_s": [w for w, _ in runs["near_cold"]],
        "rss_start_mb": rss_start,
        "rss_loaded_mb": rss_loaded,
        "rss_peak_mb": _rss_mb(),
        "counts": {NAMES[i]: int(counts[i]) for i in range(3)},
    }


def _stage(cmd: list[str]) -> dict:
    load = os.getloadavg()[0]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    out["load_before"] = round(load, 2)
    out["load_after"] = round(os.getloadavg()[0], 2)
    return out


def summary(stage: dict) -> dict:
    """Best wall and CPU seconds of each kind of run, and the ratios the targets read:
    near misses' cost over the evaluator, the evaluator's speed over the baseline's."""
    best = {
        k: {"wall_s": round(min(w for w, _ in v), 4), "cpu_s": round(min(c for _, c in v), 4)}
        for k, v in stage["runs"].items()
    }

    def ratio(a: str, b: str, m: str) -> float:
        return round(best[a][m] / best[b][m], 3)

    base = {m: min(best["baseline"][m], best["baseline_chunked"][m]) for m in ("wall_s", "cpu_s")}
    return {
        "load": [stage["load_before"], stage["load_after"]],
        "best": best,
        "near_miss_cost": {m: round(ratio("near_cold", "cold", m) - 1, 3) for m in base},
        "speed_vs_baseline_cold": {m: round(base[m] / best["cold"][m], 3) for m in base},
        "speed_vs_baseline_warm": {m: round(base[m] / best["warm"][m], 3) for m in base},
        "baseline_code_columns_s": round(stage["baseline_code_columns_s"], 3),
        "baseline_outcome_mismatches": stage["baseline_mismatches"],
    }


def run_reference(policies: list, rows: list[dict]) -> tuple[float, list]:  # type: ignore[type-arg]
    from zhida.matcher.reference import evaluate_policy

    t0 = time.perf_counter()
    results = [[evaluate_policy(p, r, AS_OF) for p in policies] for r in rows]
    return time.perf_counter() - t0, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--profiles", type=int, default=1_000_000)
    ap.add_argument("--policies", type=int, default=50)
    ap.add_argument("--reference-sample", type=int, default=10_000)
    ap.add_argument("--durable-sample", type=int, default=2_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="batch runs; the first is cold")
    ap.add_argument("--chunk", type=int, default=1 << 17)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--e2e", action="store_true", help="also time `zhida evaluate` (20 policies)")
    ap.add_argument(
        "--old",
        help="a checkout of older code (git archive): its batch stage runs too, alternated",
    )
    ap.add_argument("--rounds", type=int, default=1, help="batch stage processes per code")
    ap.add_argument("--code", help=argparse.SUPPRESS)
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--sample-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.code:  # zhida from that checkout (bench itself is already imported from here)
        sys.path.insert(0, args.code)
    if args.stage == "batch":
        print(
            json.dumps(
                stage_batch(
                    Path(args.file),
                    args.policies,
                    Path(args.sample_file),
                    args.threads,
                    args.chunk,
                    args.repeats,
                )
            )
        )
        return
    report(args)


def report(args: argparse.Namespace) -> None:
    import polars as pl

    from bench.durable_baseline import run as run_durable
    from zhida.profiles.synth import synthesize_enterprises

    OUT.mkdir(exist_ok=True)
    path = OUT / f"enterprises-{args.profiles}-{args.seed}.parquet"
    t0 = time.perf_counter()
    df = synthesize_enterprises(args.profiles, seed=args.seed)
    t_synth = time.perf_counter() - t0
    t0 = time.perf_counter()
    df.with_columns(pl.lit("enterprise").alias("kind")).write_parquet(path)
    t_write = time.perf_counter() - t0
    idx = sample_indices(df.height, args.reference_sample)
    sample_path = OUT / "sample.npy"
    np.save(sample_path, idx)

    cmd = [
        sys.executable,
        "-m",
        "bench.evaluate",
        "--stage",
        "batch",
        "--file",
        str(path),
        "--policies",
        str(args.policies),
        "--sample-file",
        str(sample_path),
        "--threads",
        str(args.threads),
        "--chunk",
        str(args.chunk),
        "--repeats",
        str(args.repeats),
    ]
    stages: dict[str, list[dict]] = {"new": [], "old": []}
    for _ in range(args.rounds):  # new and old alternated, each stage a fresh process
        stages["new"].append(_stage(cmd))
        if args.old:
            stages["old"].append(_stage([*cmd, "--code", str(Path(args.old).resolve())]))
    batch = stages["new"][0]
    with np.load(sample_path.with_suffix(".result.npz")) as kept_file:
        kept = {"outcome": kept_file["outcome"], "codes": kept_file["codes"]}

    policies = _load_policies(args.policies)
    rows = df[idx].to_dicts()
    t_ref, ref = run_reference(policies, rows)
    mismatches = 0
    for i, per_policy in enumerate(ref):
        col = 0
        for j, res in enumerate(per_policy):
            ncrit = len(policies[j].criteria)
            codes = kept["codes"][i, col : col + ncrit]
            col += ncrit
            failed = [c.id for c, k in zip(policies[j].criteria, codes, strict=True) if k == 0]
            unknown = [c.id for c, k in zip(policies[j].criteria, codes, strict=True) if k == 1]
            if (
                NAMES[kept["outcome"][i, j]] != res.outcome
                or failed != res.failed
                or unknown != res.unknown
            ):
                mismatches += 1

    from bench.policies import make_policies as mk

    bench_policies = mk(args.policies)
    drows_all = derived_rows(df[idx[: args.durable_sample]], AS_OF)
    t_dur, fired = run_durable(bench_policies, drows_all)
    pos = {r["id"]: k for k, r in enumerate(rows)}
    dur_mismatch = 0
    for r in drows_all:
        for j, p in enumerate(bench_policies):
            vec = kept["outcome"][pos[r["id"]], j] == 2
            if vec != ((r["id"], p.id) in fired):
                dur_mismatch += 1

    n_eval = batch["rows"] * args.policies
    vec_rate = n_eval / batch["eval_s"]
    ref_rate = len(rows) * args.policies / t_ref
    dur_rate = len(drows_all) * args.policies / t_dur
    result = {
        "command": " ".join(
            [
                "python -m bench.evaluate",
                f"--profiles {args.profiles}",
                f"--policies {args.policies}",
            ]
        ),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "chunk": args.chunk,
        "synth_s": round(t_synth, 2),
        "write_parquet_s": round(t_write, 2),
        "read_parquet_validate_s": round(batch["read_s"], 2),
        "vectorised": {
            "evaluations": n_eval,
            "seconds_cold": round(batch["eval_s"], 3),
            "per_second_cold": round(vec_rate),
            "seconds_each_run": [round(t, 3) for t in batch["eval_runs_s"]],
            "per_second_best": round(n_eval / min(batch["eval_runs_s"])),
            "rss_before_read_mb": round(batch["rss_start_mb"]),
            "rss_after_read_mb": round(batch["rss_loaded_mb"]),
            "rss_peak_mb": round(batch["rss_peak_mb"]),
            "outcomes": batch["counts"],
            "near_miss_seconds_each_run": [round(t, 3) for t in batch["eval_near_miss_runs_s"]],
            "near_miss_cost_best": round(
                min(batch["eval_near_miss_runs_s"]) / min(batch["eval_runs_s"]) - 1, 3
            ),
        },
        "batch_stages": {k: [summary(b) for b in v] for k, v in stages.items() if v},
        "reference": {
            "evaluations": len(rows) * args.policies,
            "seconds": round(t_ref, 2),
            "per_second": round(ref_rate),
            "mismatches": mismatches,
        },
        "durable_rules": {
            "evaluations": len(drows_all) * args.policies,
            "complete_rows": len(drows_all),
            "seconds": round(t_dur, 2),
            "per_second": round(dur_rate),
            "mismatches": dur_mismatch,
        },
        "ratio_vs_reference_cold": round(vec_rate / ref_rate, 1),
        "ratio_vs_durable_rules_cold": round(vec_rate / dur_rate, 1),
    }
    if args.e2e:
        result["e2e"] = time_e2e(path)
    print(json.dumps(result, indent=2, ensure_ascii=False))


def time_e2e(path: Path) -> dict:
    """`zhida evaluate` on the same file with 20 policies, JSON Lines to a file."""
    pack = OUT / "pack20"
    pack.mkdir(exist_ok=True)
    for p in make_policies(20):
        (pack / f"{p.id}.yaml").write_text(p.yaml, encoding="utf-8")
    out = OUT / "evaluate-20.jsonl"
    t0 = time.perf_counter()
    with out.open("wb") as f:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "zhida.cli",
                "evaluate",
                "--policies",
                str(pack),
                "--profiles",
                str(path),
                "--as-of",
                AS_OF.isoformat(),
            ],
            check=True,
            stdout=f,
        )
    seconds = time.perf_counter() - t0
    lines = sum(1 for _ in out.open("rb"))
    return {"seconds": round(seconds, 2), "lines": lines, "policies": 20}


if __name__ == "__main__":
    main()
