"""`zhida demo`: the whole flow on the embedded default, from a fresh clone.

At this stage: synthesise a population, check the example pack (its tests
included), evaluate everyone against it, and print a ranked summary with one
explanation. Files go under the work folder (./var by default).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

from zhida.commands.check import run_check
from zhida.errors import ZhidaError
from zhida.matcher.evaluate import evaluate_to_jsonl
from zhida.matcher.explain import explain_text
from zhida.matcher.reference import evaluate_define_values, evaluate_policy
from zhida.profiles.readers import read_profiles, write_profiles
from zhida.profiles.schema import Audience
from zhida.profiles.synth import synthesize_citizens, synthesize_enterprises
from zhida.rules.loader import load_pack


def example_pack() -> Path:
    """The example pack shipped in the repository (also when run from elsewhere)."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base / "examples" / "policies"
        if candidate.is_dir():
            return candidate
    raise ZhidaError("error: cannot find examples/policies; run the demo from the repository")


def run_demo(workdir: Path, count: int, as_of: dt.date, out: Console, err: Console) -> int:
    pack_dir = example_pack()
    workdir.mkdir(parents=True, exist_ok=True)
    out.rule("1. 检查政策包 (zhida check)")
    if run_check([pack_dir], out, err) != 0:
        return 1
    pack = load_pack([pack_dir])

    out.rule("2. 生成模拟主体 (zhida synth)")
    start = time.perf_counter()
    frames = {Audience.ENTERPRISE: synthesize_enterprises(count, seed=1, schemas=pack.schemas),
              Audience.CITIZEN: synthesize_citizens(count, seed=1, schemas=pack.schemas)}
    profiles_path = workdir / "profiles.parquet"
    write_profiles(frames, profiles_path)
    out.print(f"{count} 家企业、{count} 名个人 -> {profiles_path} "
              f"({time.perf_counter() - start:.1f}s)", markup=False)

    out.rule(f"3. 评估 (zhida evaluate --as-of {as_of})")
    batch = read_profiles(profiles_path, pack.schemas)
    results_path = workdir / "results.jsonl"
    start = time.perf_counter()
    with results_path.open("wb") as f:
        stats = evaluate_to_jsonl(pack.policies, batch.frames, pack.schemas, as_of, f)
    seconds = time.perf_counter() - start
    evaluations = sum(stats.outcomes.values())
    out.print(f"{evaluations:,} 次评估，用时 {seconds:.2f}s；结果 -> {results_path}", markup=False)
    lines = [json.loads(line) for line in results_path.open(encoding="utf-8")]
    _policy_table(pack.by_id(), lines, out)

    out.rule("4. 排序与解释")
    best = _profile_with_most(lines)
    if best is None:
        out.print("没有符合条件的主体。")
        return 0
    mine = sorted((r for r in lines if r["profile"] == best), key=lambda r: r["rank"])
    out.print(f"主体 {best} 的推荐（按得分排序）：", markup=False)
    for r in mine:
        policy = pack.by_id()[r["policy"]]
        flag = "符合" if r["outcome"] == "eligible" else "可能符合，需补充信息"
        out.print(f"  {r['rank']}. {policy.title} — {flag}，得分 {r['score']:.3f}", markup=False)
    top = pack.by_id()[mine[0]["policy"]]
    frame = batch.frames[top.audience]
    profile = frame.filter(pl.col("id") == best).to_dicts()[0]
    result = evaluate_policy(top, profile, as_of)
    out.print()
    out.print(explain_text(result, pack.schemas[top.audience], best,
                           evaluate_define_values(top, profile, as_of)), markup=False)
    out.print()
    out.print(f"更多：zhida explain --policies {pack_dir} --profiles {profiles_path} "
              f"--profile {best} --policy {top.id} --as-of {as_of}", markup=False)
    return 0


def _policy_table(by_id: dict, lines: list[dict], out: Console) -> None:
    counts: Counter[tuple[str, str]] = Counter((r["policy"], r["outcome"]) for r in lines)
    table = Table("政策", "对象", "符合", "可能符合（需补充信息）")
    for pid, policy in by_id.items():
        table.add_row(policy.title, "企业" if policy.audience is Audience.ENTERPRISE else "个人",
                      f"{counts[(pid, 'eligible')]:,}", f"{counts[(pid, 'unknown')]:,}")
    out.print(table)


def _profile_with_most(lines: list[dict]) -> str | None:
    eligible = Counter(r["profile"] for r in lines if r["outcome"] == "eligible")
    return eligible.most_common(1)[0][0] if eligible else None
