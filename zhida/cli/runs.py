"""`zhida runs list|watch|resume|start`, `zhida worker`, `zhida beat`."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.console import Console

from zhida.cli.support import (
    AsOfOpt,
    err_console,
    out_console,
    parse_date,
    print_errors,
    user_errors,
)
from zhida.errors import ZhidaError

runs_app = typer.Typer(help="Re-evaluation runs (Celery). Without a command: the list.")


@runs_app.callback(invoke_without_command=True)
@user_errors
def runs_default(ctx: typer.Context) -> None:
    """Re-evaluation runs; `zhida runs` alone lists them, as `zhida runs list` does."""
    if ctx.invoked_subcommand is None:
        raise typer.Exit(run_list(out_console, 20, False))


@runs_app.command("list")
@user_errors
def runs_list(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per run.")] = False,
) -> None:
    """Runs, newest first: trigger, status, chunks done/total, changes, times."""
    raise typer.Exit(run_list(out_console, limit, as_json))


@runs_app.command("watch")
@user_errors
def runs_watch(
    run: Annotated[int, typer.Argument(help="Run id.")],
    interval: Annotated[float, typer.Option("--interval", min=0.1)] = 1.0,
    stall_after: Annotated[
        float,
        typer.Option(
            "--stall-after",
            min=1.0,
            help="Seconds without a finished chunk before hinting that the run stalled.",
        ),
    ] = 120.0,
) -> None:
    """A live progress bar (stderr) until the run is done; its summary as JSON. When no
    chunk finishes for a while, says which chunks are stuck and how to resume them."""
    raise typer.Exit(run_watch(run, out_console, err_console, interval, stall_after))


@runs_app.command("resume")
@user_errors
def runs_resume(run: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Re-queue the chunks of a run that are not done (safe to repeat)."""
    raise typer.Exit(run_resume(run, err_console))


@runs_app.command("start")
@user_errors
def runs_start(
    kind: Annotated[str, typer.Option("--kind", help="enterprise or citizen.")],
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", help="Policy id (repeatable; default: all published)."),
    ] = None,
    as_of: AsOfOpt = None,
) -> None:
    """Re-evaluate all profiles of a kind against published policies."""
    raise typer.Exit(run_start(kind, policy or [], parse_date(as_of), out_console, err_console))


@user_errors
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", "-c", min=1, help="Pool processes (default: CPU count)."),
    ] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
    queues: Annotated[str | None, typer.Option("--queues", "-Q")] = None,
    hostname: Annotated[
        str | None,
        typer.Option(
            "--hostname",
            "-n",
            help="Node name, as Celery takes it (%h: this machine). Default: "
            "zhida-PID@%h, so two workers on one machine never share a name.",
        ),
    ] = None,
) -> None:
    """Start a Celery worker (broker: ZHIDA_REDIS_URL)."""
    raise typer.Exit(run_worker(concurrency, loglevel, queues, hostname))


@user_errors
def beat(loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO") -> None:
    """Start Celery beat: the daily re-evaluation (01:00 Asia/Shanghai) and the sweeper."""
    raise typer.Exit(run_beat(loglevel))


FINAL = ("done", "failed")


def _when(t: dt.datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _counts_text(counts: dict[str, int]) -> str:
    if not counts:
        return "-"
    return (
        f"+{counts.get('newly_eligible', 0)} eligible, "
        f"-{counts.get('no_longer_eligible', 0)} eligible, "
        f"+{counts.get('newly_unknown', 0)} unknown, "
        f"{counts.get('unchanged', 0)} unchanged"
    )


def run_list(out: Console, limit: int, as_json: bool) -> int:
    from rich.table import Table

    from zhida.runs.listing import list_runs, summary_line
    from zhida.store.db import session_scope

    with session_scope() as session:
        runs = list_runs(session, limit)
        lines = [summary_line(r) for r in runs]
        raw = {r.id: (r.created_at, r.finished_at) for r in runs}
    if as_json:
        for line in lines:
            out.print(json.dumps(line, ensure_ascii=False), markup=False, highlight=False)
        return 0
    table = Table(
        "run", "trigger", "kind", "status", "chunks", "as of", "changes", "created", "finished"
    )
    for line in lines:
        created, finished = raw[line["id"]]
        table.add_row(
            str(line["id"]),
            line["trigger"],
            line["kind"],
            line["status"],
            f"{line['chunks_done']}/{line['chunks_total']}",
            line["as_of"],
            _counts_text(line["counts"]),
            _when(created),
            _when(finished),
        )
    out.print(table)
    return 0


def run_watch(
    run_id: int, out: Console, err: Console, interval: float = 1.0, stall_after: float = 120.0
) -> int:
    """Poll the run until it is done or failed, with a progress bar on stderr; print its
    summary as JSON on stdout. Exit 0 when done, 1 when failed. A run that stops moving
    gets one hint on stderr (again after it moved and stopped again)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from zhida.runs.listing import stall_hint, summary_line
    from zhida.runs.reevaluate import get_run
    from zhida.store.db import session_scope

    with Progress(
        TextColumn(f"run {run_id}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = None
        hinted_at: int | None = None  # chunks_done when the last hint was given
        while True:
            with session_scope() as session:
                run = get_run(session, run_id)
                line = summary_line(run)
                hint = stall_hint(session, run_id, dt.timedelta(seconds=stall_after))
            if hint is not None and hinted_at != line["chunks_done"]:
                hinted_at = line["chunks_done"]
                bar.console.print(f"hint: {hint}", markup=False, highlight=False)
            if task is None:
                task = bar.add_task(
                    "chunks", total=max(1, line["chunks_total"]), status=line["status"]
                )
            bar.update(
                task,
                completed=line["chunks_done"]
                if line["chunks_total"]
                else (1 if line["status"] == "done" else 0),
                status=line["status"],
            )
            if line["status"] in FINAL:
                break
            time.sleep(interval)
    out.print(json.dumps(line, ensure_ascii=False), markup=False, highlight=False)
    if line["status"] == "failed":
        print_errors([ZhidaError(f"run {run_id} failed: {line['error']}")], err)
        return 1
    return 0


def run_resume(run_id: int, err: Console) -> int:
    from zhida.runs.reevaluate import get_run
    from zhida.store.db import session_scope
    from zhida.worker import resume_run

    with session_scope() as session:
        status = get_run(session, run_id).status
    if status == "done":
        err.print(f"run {run_id} is already done", markup=False)
        return 0
    queued = resume_run(run_id)
    err.print(f"run {run_id}: {queued} chunks queued", markup=False)
    return 0


def run_start(
    kind: str,
    policy_ids: Sequence[str],
    as_of: dt.date,
    out: Console,
    err: Console,
    trigger: str = "manual",
) -> int:
    """Create a run over the published versions of the given policies (all published
    policies of the kind when none are given) and queue it; prints the run id."""
    from zhida.runs.listing import summary_line
    from zhida.runs.reevaluate import (
        RunError,
        create_run,
        get_run,
        latest_published,
        partial_counts,
    )
    from zhida.store.db import session_scope
    from zhida.worker import start_run

    with session_scope() as session:
        versions = latest_published(session, kind, list(policy_ids) or None)
        found = {v.policy_id for v in versions}
        missing = [p for p in policy_ids if p not in found]
        if missing:
            raise RunError(f"no published {kind} policy '{missing[0]}'")
        if not versions:
            raise RunError(f"no published {kind} policies")
        run = create_run(session, trigger, kind, [v.id for v in versions], as_of)
        run_id, total = run.id, run.chunks_total
    err.print(
        f"run {run_id}: {len(versions)} policies, {total} chunks, as of {as_of}", markup=False
    )
    start_run(run_id)
    with session_scope() as session:
        line = summary_line(get_run(session, run_id))
        if line["status"] != "done":
            line["counts"] = partial_counts(session, run_id)
    out.print(json.dumps(line, ensure_ascii=False), markup=False, highlight=False)
    return 0


def _need_broker() -> None:
    from zhida.settings import get_settings

    if not get_settings().redis_url:
        raise ZhidaError(
            "ZHIDA_REDIS_URL is not set; without a broker tasks run "
            "in-process and no worker is needed"
        )


def default_hostname() -> str:
    """A node name unique to this process: Celery's default (celery@HOST) is the same for
    every worker of a machine, and two nodes of one name confuse inspect, control and
    the logs."""
    return f"zhida-{os.getpid()}@%h"


def run_worker(
    concurrency: int | None, loglevel: str, queues: str | None, hostname: str | None = None
) -> int:
    from zhida.worker import app

    _need_broker()
    argv = ["worker", f"--loglevel={loglevel}", f"--hostname={hostname or default_hostname()}"]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    if queues:
        argv.append(f"--queues={queues}")
    app.worker_main(argv)
    return 0


def run_beat(loglevel: str) -> int:
    from zhida.settings import get_settings
    from zhida.worker import app

    _need_broker()
    var = get_settings().var_dir
    var.mkdir(parents=True, exist_ok=True)
    app.start(["beat", f"--loglevel={loglevel}", f"--schedule={var / 'celerybeat-schedule'}"])
    return 0
