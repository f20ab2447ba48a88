"""`zhida evaluate` end to end: time and peak memory, old code beside new, with the polars
baseline, in one run.

    python -m bench.stream --profiles 1000000 [--old /path/to/older/checkout] [--repeat 2]

Writes N synthetic enterprises to Parquet (in pieces of at most 1M, so a 10M file
does not need 10M in memory; polars' default row groups), a 20-policy pack
(`bench.policies`), then runs in fresh processes, each measured by its own wall time
and peak resident memory (VmHWM):

- `new`: `zhida evaluate` of this checkout, JSON Lines to a file;
- `old`: the same command from `--old` (a checkout of an older commit), when given;
  its output must be byte-identical to new's;
- `polars`: `pl.read_parquet` of the same file plus `write_ndjson` of the same lines
  (the lines are loaded before the clock starts): the I/O floor the target is
  relative to (`zhida evaluate` within 2.5x of it).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import filecmp
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.policies import make_policies

OUT = Path(__file__).parent / "out"
AS_OF = dt.date(2026, 4, 1)
ROOT = Path(__file__).resolve().parent.parent
PIECE = 1_000_000


def _cpu_seconds() -> float:
    """User + system time of this process so far (all its threads)."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _hwm_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_population(n: int, seed: int) -> Path:
    import polars as pl
    import pyarrow.parquet as pq

    from zhida.profiles.synth import synthesize_enterprises

    path = OUT / f"stream-enterprises-{n}-{seed}.parquet"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    writer = None
    try:
        for k, start in enumerate(range(0, n, PIECE)):
            m = min(PIECE, n - start)
            df = synthesize_enterprises(m, seed=seed + k).with_columns(
                pl.lit("enterprise").alias("kind"),
                pl.format(
                    "E{}", (pl.int_range(start + 1, start + m + 1)).cast(pl.String).str.zfill(9)
                ).alias("id"),
            )
            table = df.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            for off in range(0, m, 1 << 18):  # polars' default row group size
                writer.write_table(table.slice(off, 1 << 18))
    finally:
        if writer is not None:
            writer.close()
    tmp.rename(path)
    return path


def write_pack() -> Path:
    pack = OUT / "pack20"
    pack.mkdir(parents=True, exist_ok=True)
    for p in make_policies(20):
        (pack / f"{p.id}.yaml").write_text(p.yaml, encoding="utf-8")
    return pack


def stage_evaluate(pack: Path, profiles: Path, out: Path) -> dict:
    """In a fresh process: the CLI's evaluate, in-process, to a file."""
    from rich.console import Console

    import zhida
    from zhida.cli.evaluate import run_evaluate

    t0 = time.perf_counter()
    c0 = _cpu_seconds()
    with out.open("wb") as f:
        saved = sys.stdout
        sys.stdout = os.fdopen(os.dup(f.fileno()), "w")
        try:
            code = run_evaluate([pack], profiles, AS_OF, False, False, None, Console(stderr=True))
        finally:
            sys.stdout.flush()
            sys.stdout.close()
            sys.stdout = saved
    return {
        "seconds": time.perf_counter() - t0,
        "cpu": _cpu_seconds() - c0,
        "rss_mb": _hwm_mb(),
        "exit": code,
        "zhida": str(Path(zhida.__file__).parent),
    }


def stage_polars(profiles: Path, lines: Path, out: Path) -> dict:
    import polars as pl

    frame = pl.read_ndjson(lines)
    base = _hwm_mb()
    t0 = time.perf_counter()
    c0 = _cpu_seconds()
    df = pl.read_parquet(profiles)
    t_read = time.perf_counter() - t0
    frame.write_ndjson(out)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "cpu": _cpu_seconds() - c0,
        "read": t_read,
        "rows": df.height,
        "lines": frame.height,
        "rss_mb": _hwm_mb(),
        "rss_before_mb": base,
    }


def stage_parts(pack: Path, profiles: Path, lines: Path, out: Path, repeat: int) -> dict:
    """In one fresh process, everything imported first: what is left of the run when
    parts of it cost nothing (`--parts`). Best of `repeat` each:

    - `polars`: the baseline, as `stage_polars` (the same lines, read before the clock);
    - `read`: polars' reads of the row groups, as the reader makes them;
    - `read_check`: the whole reading side, one thread: `stream_profiles` (the row
      groups, the id checks, the conversion and checking of every column);
    - `main`: the consuming side on batches read before the clock: evaluate, score,
      rank, build the lines' frame, write (`evaluate_batches_to_jsonl`);
    - `main_beside_thread`, `main_beside_process`: `main` while the reading side runs
      over and over beside it, in a thread (as in a run: the GIL shared) or in another
      process (only the cores shared); when the two agree, what slows the consuming
      side is the cores, not the GIL;
    - `main_no_write`: `main` with `write_ndjson` skipped;
    - `main_no_lines`: the same with the lines' frame not built either.

    A run overlaps the two sides on two cores, so its wall time is at least the longer
    side and at least half their sum."""
    import polars as pl

    import zhida.ranking.evaluate as ev
    from zhida.cli.evaluate import load_policies
    from zhida.profiles.readers import stream_profiles
    from zhida.profiles.readers.stream import _parquet_raws

    loaded = load_policies([pack])
    frame = pl.read_ndjson(lines)

    def best(run: Callable[[], object]) -> float:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        return min(times)

    def baseline() -> None:
        pl.read_parquet(profiles)
        frame.write_ndjson(out)

    def main_side() -> None:
        with out.open("wb") as f:
            ev.evaluate_batches_to_jsonl(loaded.policies, batches, loaded.schemas, AS_OF, f)

    r: dict = {"polars": best(baseline)}
    r["read"] = best(lambda: list(_parquet_raws(profiles, str(profiles), 1 << 17)))
    r["read_check"] = best(lambda: list(stream_profiles(profiles, loaded.schemas)))
    batches = [b.frames for b in stream_profiles(profiles, loaded.schemas)]
    r["main"] = best(main_side)
    with _reading_beside(pack, profiles, process=False):
        r["main_beside_thread"] = best(main_side)
    with _reading_beside(pack, profiles, process=True):
        r["main_beside_process"] = best(main_side)
    ev.write_jsonl = lambda frame, out: None  # type: ignore[assignment]
    r["main_no_write"] = best(main_side)
    ev.result_frame = lambda *_: pl.DataFrame({"profile": ["-"]})  # type: ignore[assignment]
    r["main_no_lines"] = best(main_side)
    seconds = {k: round(v, 3) for k, v in r.items()}
    over = {k: round(v / r["polars"], 2) for k, v in r.items() if k != "polars"}
    floor = max(r["read_check"], r["main"], (r["read_check"] + r["main"]) / 2)
    return {
        "seconds": seconds,
        "over_polars": over,
        "floor_over_polars": round(floor / r["polars"], 2),
    }


def _read_loop(pack: Path, profiles: Path, ready: threading.Event, stop: threading.Event) -> None:
    """The reading side over and over until `stop`; `ready` set after the first pass."""
    from zhida.cli.evaluate import load_policies
    from zhida.profiles.readers import stream_profiles

    schemas = load_policies([pack]).schemas
    while not stop.is_set():
        for _ in stream_profiles(profiles, schemas):
            if stop.is_set():
                return
        ready.set()


@contextlib.contextmanager
def _reading_beside(pack: Path, profiles: Path, process: bool) -> Iterator[None]:
    """The reading side in a loop beside the block, in a thread of this process (sharing
    its GIL) or in another process (sharing only the cores); the block starts after the
    loop's first pass."""
    if process:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", "read-loop"]
        cmd += ["--pack", str(pack), "--file", str(profiles)]
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("the reading loop in another process did not start")
            yield
        finally:
            child.kill()
            child.wait()
        return
    ready, stop = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def loop() -> None:
        try:
            _read_loop(pack, profiles, ready, stop)
        except BaseException as e:
            failed.append(e)
            ready.set()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        ready.wait()
        if failed:
            raise failed[0]
        yield
    finally:
        stop.set()
        thread.join()


def _announce_ready(ready: threading.Event) -> None:
    ready.wait()
    print("ready", flush=True)


def _stage(args: list[str], pythonpath: Path) -> dict:
    # the tree's zhida first; this checkout's stage code (run as a script, so an older
    # tree's bench/stream.py is not the one run); not the working directory's
    env = dict(os.environ, PYTHONPATH=f"{pythonpath}{os.pathsep}{ROOT}")
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    done = subprocess.run(cmd, env=env, cwd=OUT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--old", type=Path, help="a checkout of the older code to compare")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-polars", action="store_true")
    ap.add_argument("--parts", action="store_true", help="also time the parts (stage_parts)")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--pack", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--lines", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage == "evaluate":
        print(json.dumps(stage_evaluate(args.pack, args.file, args.out)))
        return
    if args.stage == "read-loop":
        ready = threading.Event()
        threading.Thread(target=_announce_ready, args=(ready,), daemon=True).start()
        _read_loop(args.pack, args.file, ready, threading.Event())
        return
    if args.stage == "parts":
        print(json.dumps(stage_parts(args.pack, args.file, args.lines, args.out, args.repeat)))
        return
    if args.stage == "polars":
        print(json.dumps(stage_polars(args.file, args.lines, args.out)))
        return

    OUT.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    path = write_population(args.profiles, args.seed)
    pack = write_pack()
    result: dict = {
        "profiles": args.profiles,
        "policies": 20,
        "population_seconds": round(time.perf_counter() - t0, 2),
        "load_before": os.getloadavg(),
        "runs": [],
    }
    codes = [("new", ROOT)] + ([("old", args.old.resolve())] if args.old else [])
    outs = {name: OUT / f"stream-{name}.jsonl" for name, _ in codes}
    for _ in range(args.repeat):
        for name, tree in codes:
            ev = ["--stage", "evaluate", "--pack", str(pack), "--file", str(path)]
            load = os.getloadavg()[0]
            r = _stage([*ev, "--out", str(outs[name])], tree)
            result["runs"].append({"code": name, "load": load, **r})
            print(json.dumps(result["runs"][-1]), file=sys.stderr)
        if not args.no_polars:
            pol = ["--stage", "polars", "--file", str(path), "--lines", str(outs["new"])]
            load = os.getloadavg()[0]
            r = _stage([*pol, "--out", str(OUT / "stream-polars.jsonl")], ROOT)
            result["runs"].append({"code": "polars", "load": load, **r})
            print(json.dumps(result["runs"][-1]), file=sys.stderr)
    if args.parts:
        parts = ["--stage", "parts", "--pack", str(pack), "--file", str(path)]
        parts += ["--lines", str(outs["new"]), "--out", str(OUT / "stream-parts.jsonl")]
        result["load_parts"] = os.getloadavg()[0]
        result["parts"] = _stage([*parts, "--repeat", str(args.repeat)], ROOT)
    result["lines"] = sum(1 for _ in outs["new"].open("rb"))
    if args.old:
        result["old_equals_new"] = filecmp.cmp(outs["old"], outs["new"], shallow=False)
    result["load_after"] = os.getloadavg()
    for key, suffix in (("seconds", ""), ("cpu", "_cpu")):
        best: dict[str, float] = {}
        for r in result["runs"]:
            best[r["code"]] = min(best.get(r["code"], float("inf")), r[key])
        if "polars" in best:
            result[f"new_over_polars{suffix}"] = round(best["new"] / best["polars"], 2)
            if "old" in best:
                result[f"old_over_polars{suffix}"] = round(best["old"] / best["polars"], 2)
        if "old" in best:
            result[f"new_over_old{suffix}"] = round(best["new"] / best["old"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
