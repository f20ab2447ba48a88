"""The `zhida` command line (Typer). Thin: parse options, call the packages, print.

This module only assembles the application from the command modules, in the order
`zhida --help` lists them; each command is defined in the module of its group.
What they share (consoles, options, `user_errors`) is in `zhida.cli.support`.

Exit codes: 0 success; 1 an error (printed as FILE:LINE:COL: error: ...); 2 a usage
error; 3 finished, but some profile rows were bad and skipped, or some columns were
ignored (each reported).
"""

from __future__ import annotations

import sys

import typer

from zhida.cli import (
    check,
    db,
    demo,
    evaluate,
    events,
    grants,
    importing,
    notify,
    officers,
    policy_admin,
    rank,
    runs,
    synth,
    web,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="zhida (政策直达): proactive policy matching and notification.",
)

app.command("check")(check.check)
app.command("evaluate")(evaluate.evaluate)
app.command("explain")(evaluate.explain)
app.add_typer(synth.synth_app, name="synth")
app.command("demo")(demo.demo)
app.command("preview")(policy_admin.preview)
app.command("publish")(policy_admin.publish)
app.command("approve")(policy_admin.approve)
app.command("policies")(policy_admin.policies)
app.command("notify")(notify.notify)
app.add_typer(officers.officers_app, name="officers")
app.command("serve")(web.serve)
app.add_typer(events.events_app, name="events")
app.add_typer(db.db_app, name="db")
app.add_typer(importing.import_app, name="import")
app.add_typer(runs.runs_app, name="runs")
app.add_typer(rank.feedback_app, name="feedback")
app.add_typer(rank.rank_app, name="rank")
app.command("worker")(runs.worker)
app.command("beat")(runs.beat)
app.command("login-link")(web.login_link)
app.add_typer(grants.grants_app, name="grants")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
