"""`zhida synth`: a seeded synthetic population; `zhida synth feedback`: simulated feedback."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from zhida.cli.support import err_console, user_errors
from zhida.errors import ZhidaError

synth_app = typer.Typer(
    invoke_without_command=True, help="Seeded synthetic profiles, or feedback (synth feedback)."
)


@synth_app.callback()
@user_errors
def synth(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output file (.parquet, .csv, .jsonl).")
    ] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1)] = 10000,
    kind: Annotated[str, typer.Option("--kind")] = "enterprise",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    policies: Annotated[
        list[Path] | None,
        typer.Option("--policies", "-p", help="A pack whose schema.yaml adds fields to fill."),
    ] = None,
) -> None:
    """Write a seeded synthetic population with plausible Zhejiang distributions."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise typer.BadParameter("--out is required", param_hint="--out")
    run_synth(out, count, kind, seed, policies or [], err_console)


@synth_app.command("feedback")
@user_errors
def synth_feedback(
    out: Annotated[Path, typer.Option("--out", "-o", help="Feedback file (.jsonl).")],
    policies: Annotated[list[Path], typer.Option("--policies", "-p", help="Policies.")],
    profiles: Annotated[Path, typer.Option("--profiles", help="Profiles file.")],
    start: Annotated[str, typer.Option("--start", help="First notice day.")] = "2026-03-01",
    days: Annotated[int, typer.Option("--days", min=1, help="Days of notices.")] = 120,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    holdout: Annotated[
        float | None,
        typer.Option("--holdout", min=0.0, max=0.99, help="Held-out share (default: holdout:)."),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option("--truth", help="Also write the hidden take-up chances.")
    ] = None,
) -> None:
    """Simulated notices, opens and applications from a documented hidden take-up function
    (zhida/ranking/simulate.py), deterministic for a seed."""
    from zhida.cli.rank import run_synth_feedback

    run_synth_feedback(
        out,
        policies,
        profiles,
        dt.date.fromisoformat(start),
        days,
        seed,
        holdout,
        truth,
        err_console,
    )


def run_synth(
    out: Path, count: int, kind: str, seed: int, policies: list[Path], err: Console
) -> None:
    if kind not in ("enterprise", "citizen"):
        raise ZhidaError(f"--kind must be enterprise or citizen, got '{kind}'")
    if out.suffix.lower() not in (".parquet", ".csv", ".jsonl", ".ndjson", ".json"):
        raise ZhidaError(f"{out}: write .parquet, .csv or .jsonl")
    from zhida.profiles.schema import Audience
    from zhida.profiles.synth import synth_to_file
    from zhida.rules.loader import load_pack

    schemas = load_pack(list(policies)).schemas if policies else None
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = synth_to_file(count, out, Audience(kind), seed, schemas)
    err.print(
        f"wrote {rows} {kind} profiles to {out} in {time.perf_counter() - start:.1f}s", markup=False
    )
