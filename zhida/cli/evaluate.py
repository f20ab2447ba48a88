"""`zhida evaluate` and `zhida explain`."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from zhida.cli.support import (
    EXIT_BAD_ROWS,
    AsOfOpt,
    KindOpt,
    PoliciesOpt,
    ProfilesOpt,
    err_console,
    out_console,
    parse_date,
    print_errors,
    progress_bar,
    user_errors,
)
from zhida.errors import ErrorList, ZhidaError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import polars as pl

    from zhida.profiles.readers import ProfileBatch
    from zhida.profiles.schema import Audience
    from zhida.ranking.model import TakeupModel
    from zhida.rules.loader import Pack


@user_errors
def evaluate(
    policies: PoliciesOpt,
    profiles: ProfilesOpt,
    as_of: AsOfOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Also print ineligible results.")] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Add the Chinese explanation to each line.")
    ] = False,
    kind: KindOpt = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="A take-up model file (default: the active one, if any)."),
    ] = None,
) -> None:
    """Evaluate profiles against policies; JSON Lines on stdout."""
    code = run_evaluate(
        policies, profiles, parse_date(as_of), all_, explain, kind, err_console, model
    )
    raise typer.Exit(code)


@user_errors
def explain(
    policies: PoliciesOpt,
    profiles: ProfilesOpt,
    profile: Annotated[str, typer.Option("--profile", help="Profile id.")],
    policy: Annotated[str, typer.Option("--policy", help="Policy id.")],
    as_of: AsOfOpt = None,
    kind: KindOpt = None,
) -> None:
    """Why one profile is or is not eligible for one policy, criterion by criterion."""
    raise typer.Exit(
        run_explain(
            policies, profiles, profile, policy, parse_date(as_of), kind, out_console, err_console
        )
    )


def load_policies(paths: list[Path]) -> Pack:
    """Load a pack; any error in it stops the command (nothing is evaluated half-checked)."""
    from zhida.rules.loader import load_pack

    pack = load_pack(list(paths))
    if pack.errors:
        raise ErrorList(list(pack.errors))
    if not pack.policies:
        raise ZhidaError("no policies found in " + ", ".join(map(str, paths)))
    return pack


def read_checked(path: Path, pack: Pack, kind: str | None, err: Console) -> ProfileBatch:
    from zhida.profiles.readers import read_profiles

    batch = read_profiles(path, pack.schemas, kind)
    report_batch(path, batch, err)
    report_skipped(path, len(batch.errors), batch.rows_read, err)
    return batch


def report_batch(path: Path, batch: ProfileBatch, err: Console) -> None:
    """A batch's warnings, then its bad rows, on stderr."""
    for warning in batch.warnings:
        err.print(f"{path}: warning: {warning}", markup=False)
    print_errors(list(batch.errors), err)


def report_skipped(path: Path, bad: int, read: int, err: Console) -> None:
    if bad:
        err.print(f"{path}: {bad} bad rows skipped, {read - bad} read", markup=False)


def run_evaluate(
    policies: list[Path],
    profiles: Path,
    as_of: dt.date,
    include_all: bool,
    explain: bool,
    kind: str | None,
    err: Console,
    model_path: Path | None = None,
) -> int:
    """Read, evaluate and write batch by batch (`stream_profiles`): memory is bounded by
    the batch; each batch's bad rows are reported as it comes, the next batch is read
    while one is evaluated (`read_ahead`); the first is read while the take-up model is
    loaded and the evaluator imported."""
    from zhida.profiles.readers import read_ahead, stream_profiles

    pack = load_policies(policies)
    ahead = read_ahead(stream_profiles(profiles, pack.schemas, kind))
    model = takeup_model(model_path)  # while the first batch is read
    seen = {"bad": 0, "read": 0, "warned": 0}

    def batches() -> Iterator[dict[Audience, pl.DataFrame]]:
        for batch in ahead:  # reported here, in file order, by the consuming thread
            report_batch(profiles, batch, err)
            seen["bad"] += len(batch.errors)
            seen["read"] += batch.rows_read
            seen["warned"] += len(batch.warnings)
            yield batch.frames

    from zhida.ranking.evaluate import evaluate_batches_to_jsonl

    out = sys.stdout.buffer
    with progress_bar(err, 0, "评估中") as bar:
        task = bar.add_task("evaluate", total=None) if bar else None

        def advance(rows: int) -> None:
            if bar is not None and task is not None:
                bar.advance(task, rows)

        evaluate_batches_to_jsonl(
            pack.policies,
            batches(),
            pack.schemas,
            as_of,
            out,
            include_all=include_all,
            explain=explain,
            progress=advance,
            model=model,
        )
    out.flush()
    report_skipped(profiles, seen["bad"], seen["read"], err)
    return EXIT_BAD_ROWS if seen["bad"] or seen["warned"] else 0


def takeup_model(path: Path | None) -> TakeupModel | None:
    """The model named, else the active one (`zhida rank train`), else none (heuristic)."""
    from zhida.ranking.model import active_model_path, load
    from zhida.settings import get_settings

    if path is None:
        path = active_model_path(get_settings().var_dir)
        if not path.is_file():
            return None
    return load(path)


def run_explain(
    policies: list[Path],
    profiles: Path,
    profile_id: str,
    policy_id: str,
    as_of: dt.date,
    kind: str | None,
    out: Console,
    err: Console,
) -> int:
    from zhida.matcher.explain import explain_text
    from zhida.matcher.nearmiss import near_miss_scalar
    from zhida.matcher.nearmiss_text import near_miss_text
    from zhida.matcher.reference import evaluate_define_values, evaluate_policy

    pack = load_policies(policies)
    policy = pack.by_id().get(policy_id)
    if policy is None:
        from zhida.suggest import did_you_mean

        hint = did_you_mean(policy_id, list(pack.by_id()))
        raise ZhidaError(f"no policy '{policy_id}'" + (f" ({hint})" if hint else ""))
    batch = read_checked(profiles, pack, kind, err)
    frame = batch.frames.get(policy.audience)
    rows = (
        frame.filter(frame.get_column("id") == profile_id).to_dicts() if frame is not None else []
    )
    if not rows:
        other = [
            a
            for a, df in batch.frames.items()
            if a is not policy.audience and (df.get_column("id") == profile_id).any()
        ]
        why = (
            (
                f"; it is a {other[0].value} profile and this policy is for "
                f"{policy.audience.value} profiles"
            )
            if other
            else ""
        )
        raise ZhidaError(f"no profile '{profile_id}' in {profiles}{why}")
    profile = rows[0]
    result = evaluate_policy(policy, profile, as_of)
    defines = evaluate_define_values(policy, profile, as_of)
    schema = pack.schemas[policy.audience]
    out.print(explain_text(result, schema, profile_id, defines), markup=False)
    near = near_miss_scalar(policy, profile, as_of)
    if near is not None:
        out.print(f"差一步：{near_miss_text(policy, near, profile, as_of, schema)}", markup=False)
    return EXIT_BAD_ROWS if batch.errors else 0
