"""`zhida notify`: plan the notifications of pending transitions and send what is due.

On the embedded default (no broker) the SMS go out here, in batches, with a progress
bar on stderr and a summary of what each send did; with a broker the send tasks are
queued for the workers (`zhida worker`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Annotated

import typer
from rich.console import Console

from zhida.cli.support import err_console, out_console, progress_bar, user_errors


@user_errors
def notify(
    plan: Annotated[
        bool, typer.Option("--plan/--no-plan", help="Plan pending transitions first.")
    ] = True,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many SMS.")] = (
        100_000
    ),
) -> None:
    """Plan notifications from pending transitions, then send the SMS that are due."""
    raise typer.Exit(run_notify(plan, limit, out_console, err_console))


def run_notify(plan: bool, limit: int, out: Console, err: Console) -> int:
    from zhida.channels.delivery import sender
    from zhida.channels.delivery.batch import iter_chunks
    from zhida.channels.delivery.sweep import due_sms
    from zhida.channels.plan import plan_notifications
    from zhida.clock import utcnow
    from zhida.settings import get_settings
    from zhida.store.db import session_scope
    from zhida.worker import enqueue_sms

    settings = get_settings()
    if plan:
        with session_scope() as session:
            summary = plan_notifications(session, utcnow(), settings)
        skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.skipped.items()))
        out.print(
            f"planned from {summary.transitions:,} transitions: {summary.inapp:,} in-app, "
            f"{summary.sms_queued:,} SMS queued, {summary.sms_deferred:,} SMS deferred, "
            f"{summary.sms_digested:,} SMS in a digest"
            + (f" (no SMS: {skipped})" if skipped else ""),
            markup=False,
        )
    with session_scope() as session:
        ids, quiet_until = due_sms(session, settings, utcnow(), limit)
    if quiet_until is not None:
        local = quiet_until.astimezone(dt.timezone(dt.timedelta(hours=8)))
        out.print(f"quiet hours: SMS wait until {local:%Y-%m-%d %H:%M} (Asia/Shanghai)")
    if not ids:
        out.print("no SMS due", markup=False)
        return 0
    if not settings.eager:
        tasks = enqueue_sms(ids)
        out.print(f"{len(ids):,} SMS due: {tasks:,} send tasks queued for the workers")
        return 0
    actions: Counter[str] = Counter()
    with progress_bar(err, len(ids), "sending SMS") as bar:
        task = bar.add_task("send", total=len(ids)) if bar else None
        for chunk in iter_chunks(ids, sender.BATCH):
            report = sender.send(chunk)
            actions.update(o.action for o in report.outcomes)
            if bar is not None and task is not None:
                bar.advance(task, len(chunk))
    out.print(
        f"{len(ids):,} SMS due: " + ", ".join(f"{k} {v:,}" for k, v in sorted(actions.items())),
        markup=False,
    )
    waiting = actions.get("retry", 0) + actions.get("unsure", 0) + actions.get("released", 0)
    if waiting:
        out.print(f"{waiting:,} to try again later: run zhida notify again", markup=False)
    return 0
