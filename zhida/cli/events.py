"""`zhida events post FILE`: profile updates and life events, evaluated at once."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from zhida.cli.support import (
    EXIT_BAD_ROWS,
    AsOfOpt,
    err_console,
    out_console,
    parse_date,
    print_errors,
    user_errors,
)

events_app = typer.Typer(no_args_is_help=True, help="Real-time profile events.")


@events_app.command("post")
@user_errors
def events_post(
    path: Annotated[Path, typer.Argument(help="JSON Lines of events.")],
    as_of: AsOfOpt = None,
    plan: Annotated[
        bool, typer.Option("--plan/--no-plan", help="Plan notifications afterwards.")
    ] = True,
) -> None:
    """Apply profile updates and life events; judge each profile at once (durable_rules)."""
    raise typer.Exit(run_post(path, parse_date(as_of), plan, out_console, err_console))


def run_post(path: Path, as_of: dt.date, plan: bool, out: Console, err: Console) -> int:
    from zhida.profiles.events import parse_events
    from zhida.runs.live import load_live_matcher, process_event
    from zhida.store.db import session_scope
    from zhida.worker import plan_and_queue

    with session_scope() as session:
        matcher = load_live_matcher(session)
    try:
        events, errors = parse_events(path, matcher.schemas)
        print_errors(list(errors), err)
        latencies, transitions, eligible = [], 0, 0
        for event in events:
            start = time.perf_counter()
            with session_scope() as session:
                made = process_event(session, matcher, event, as_of)
            latencies.append(time.perf_counter() - start)
            transitions += len(made)
            eligible += sum(t.to_outcome == 2 for t in made)
    finally:
        matcher.close()
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else 0.0
    out.print(
        f"{len(events)} events applied ({len(errors)} bad lines skipped); "
        f"{transitions} transitions, {eligible} newly eligible; "
        f"judged by durable_rules {matcher.counts['durable_rules']}, by the compiled "
        f"criteria {matcher.counts['compiled']}, by the reference "
        f"{matcher.counts['reference']}; p99 {p99 * 1000:.1f} ms per event",
        markup=False,
    )
    if plan and transitions:
        summary = plan_and_queue()
        out.print(
            f"notifications: {summary.inapp} in-app, {summary.sms_queued} SMS queued, "
            f"{summary.sms_deferred} deferred, {summary.sms_digested} in a digest",
            markup=False,
        )
    return EXIT_BAD_ROWS if errors else 0
