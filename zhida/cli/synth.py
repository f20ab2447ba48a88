"""`zhida synth`: a seeded synthetic population."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from zhida.cli.support import err_console, user_errors
from zhida.errors import ZhidaError


@user_errors
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (.parquet, .csv, .jsonl).")],
    count: Annotated[int, typer.Option("--count", "-n", min=1)] = 10000,
    kind: Annotated[str, typer.Option("--kind")] = "enterprise",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    policies: Annotated[
        list[Path] | None,
        typer.Option("--policies", "-p", help="A pack whose schema.yaml adds fields to fill."),
    ] = None,
) -> None:
    """Write a seeded synthetic population with plausible Zhejiang distributions."""
    run_synth(out, count, kind, seed, policies or [], err_console)


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
