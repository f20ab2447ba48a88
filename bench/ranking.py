"""Benchmark the take-up model, in one run, beside the heuristic.

    python -m bench.ranking --profiles 1000000 --train-profiles 600000

1. Training at scale: simulated feedback (`zhida.ranking.simulate`, the example pack,
   `--train-profiles` synthetic enterprises and a tenth as many citizens, 120 days of
   notices) -> notices -> features -> `train`; the time of each step, the rows, and the
   held-out ROC-AUC of the model, of the heuristic and of the simulator's true
   probabilities on the same rows.
2. Scoring inside the batch path: `evaluate_to_jsonl` (the body of `zhida evaluate`)
   over `--profiles` enterprises and the 20 generated policies of bench/evaluate.py,
   JSON Lines to /dev/null, with the heuristic and with the model just trained,
   alternated `--repeats` times; the best of each and their ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

import numpy as np
import polars as pl

from bench.evaluate import AS_OF, _load_policies

START = dt.date(2026, 3, 1)
UNTIL = dt.date(2026, 5, 30)
ROOT = Path(__file__).resolve().parents[1]


def train_at_scale(n: int) -> tuple[dict[str, object], object]:
    from sklearn.metrics import roc_auc_score

    from zhida.profiles.schema import Audience
    from zhida.profiles.synth import synthesize
    from zhida.ranking.feedback import notices
    from zhida.ranking.simulate import simulate
    from zhida.ranking.train import Population, prepare, train
    from zhida.rules.loader import load_pack

    pack = load_pack([ROOT / "examples" / "policies"])
    frames = {
        Audience.ENTERPRISE: synthesize(n, Audience.ENTERPRISE, seed=1, schemas=pack.schemas),
        Audience.CITIZEN: synthesize(
            max(1, n // 10), Audience.CITIZEN, seed=2, schemas=pack.schemas
        ),
    }
    pop = Population(frames, pack.schemas, pack.policies)
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    sim = simulate(pop, START, 120, seed=0, holdout=0.1)
    t["simulate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = notices(sim.events)
    t["notices"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    prep = prepare(rows, pop, UNTIL)
    t["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    trained = train(prep, UNTIL, sim.events.get_column("at").max(), seed=0)
    t["fit_and_evaluate"] = time.perf_counter() - t0
    eval_rows = (
        pl.concat([p.rows for p in prep.parts])[trained.eval_rows.tolist()]
        .with_columns(pl.Series("model", trained.eval_model))
        .join(sim.truth.select("profile", "policy", "p_notified"), on=["profile", "policy"])
    )
    y = eval_rows.get_column("label").to_numpy()
    r = trained.report
    result = {
        "enterprises": n,
        "events": sim.events.height,
        "notices": rows.height,
        "train_rows": r["train_rows"],
        "eval_rows": r["eval_rows"],
        "iterations": r["iterations"],
        "seconds": {k: round(v, 2) for k, v in t.items()},
        "train_seconds": round(t["notices"] + t["features"] + t["fit_and_evaluate"], 2),
        "roc_auc": {
            "model": r["model"]["roc_auc"],
            "heuristic": r["heuristic"]["roc_auc"],
            "truth": round(float(roc_auc_score(y, eval_rows.get_column("p_notified"))), 4),
        },
        "brier": {"model": r["model"]["brier"], "heuristic": r["heuristic"]["brier"]},
        "precision_at_cap": {
            "model": r["model"]["precision_at_cap"],
            "heuristic": r["heuristic"]["precision_at_cap"],
        },
        "activated": trained.better,
    }
    return result, trained.model


def score_in_batch(n: int, model: object, repeats: int) -> dict[str, object]:
    from zhida.profiles.schema import Audience, SchemaSet
    from zhida.profiles.synth import synthesize
    from zhida.ranking.evaluate import evaluate_to_jsonl

    policies = _load_policies(20)
    schemas = SchemaSet.builtin()
    frames = {Audience.ENTERPRISE: synthesize(n, Audience.ENTERPRISE, seed=1)}
    times: dict[str, list[float]] = {"heuristic": [], "model": []}
    lines = {}
    with open(os.devnull, "wb") as sink:
        for _ in range(repeats):
            for name, m in (("heuristic", None), ("model", model)):
                t0 = time.perf_counter()
                stats = evaluate_to_jsonl(policies, frames, schemas, AS_OF, sink, model=m)  # type: ignore[arg-type]
                times[name].append(time.perf_counter() - t0)
                lines[name] = stats.lines
    best = {k: min(v) for k, v in times.items()}
    return {
        "profiles": n,
        "policies": len(policies),
        "lines": lines["model"],
        "seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "best": {k: round(v, 2) for k, v in best.items()},
        "ratio": round(best["model"] / best["heuristic"], 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profiles", type=int, default=1_000_000, help="scored in the batch path")
    ap.add_argument("--train-profiles", type=int, default=600_000, help="enterprises simulated")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()
    trained, model = train_at_scale(args.train_profiles)
    print(json.dumps({"training": trained}, indent=2), flush=True)
    scoring = score_in_batch(args.profiles, model, args.repeats)
    result = {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "training": trained,
        "scoring": scoring,
        "numpy": np.__version__,
    }
    print(json.dumps({"scoring": scoring}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
