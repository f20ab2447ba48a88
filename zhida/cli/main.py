"""The `zhida` command line (Typer). Thin: parse options, call the packages, print.

Exit codes: 0 success; 1 an error (printed as FILE:LINE:COL: error: ...); 2 a usage
error; 3 finished, but some profile rows were bad and skipped, or some columns were
ignored (each reported).
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from zhida.clock import today
from zhida.errors import ErrorList, ZhidaError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="zhida (政策直达): proactive policy matching and notification.")
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)
EXIT_BAD_ROWS = 3
F = TypeVar("F", bound=Callable[..., Any])


def parse_date(text: str | None) -> dt.date:
    if text is None:
        return today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected a date YYYY-MM-DD, got '{text}'") from None


def print_error(err: ZhidaError) -> None:
    errors = err.errors if isinstance(err, ErrorList) else [err]
    for e in errors:
        err_console.print(str(e), markup=False)


def user_errors(fn: F) -> F:
    """Print a ZhidaError as its message and exit 1: never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ZhidaError as err:
            print_error(err)
            raise typer.Exit(1) from None
        except BrokenPipeError:
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


PoliciesOpt = Annotated[list[Path], typer.Option("--policies", "-p",
                        help="Policy file or pack folder (repeatable).")]
ProfilesOpt = Annotated[Path, typer.Option("--profiles", help="CSV, JSON Lines or Parquet.")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="Evaluation date (default: "
                    "today in Asia/Shanghai).")]
KindOpt = Annotated[str | None, typer.Option("--kind", help="enterprise or citizen, when the "
                    "file has no kind column.")]


@app.command()
@user_errors
def check(paths: Annotated[list[Path], typer.Argument(help="Policy files or packs.")]) -> None:
    """Validate policies and run the tests written inside them."""
    from zhida.cli.check import run_check

    raise typer.Exit(run_check(paths, out_console, err_console))


@app.command()
@user_errors
def evaluate(policies: PoliciesOpt, profiles: ProfilesOpt, as_of: AsOfOpt = None,
             all_: Annotated[bool, typer.Option("--all", help="Also print ineligible "
                                                "results.")] = False,
             explain: Annotated[bool, typer.Option("--explain", help="Add the Chinese "
                                                   "explanation to each line.")] = False,
             kind: KindOpt = None) -> None:
    """Evaluate profiles against policies; JSON Lines on stdout."""
    from zhida.cli.evaluate import run_evaluate

    code = run_evaluate(policies, profiles, parse_date(as_of), all_, explain, kind, err_console)
    raise typer.Exit(code)


@app.command("explain")
@user_errors
def explain_cmd(policies: PoliciesOpt, profiles: ProfilesOpt,
                profile: Annotated[str, typer.Option("--profile", help="Profile id.")],
                policy: Annotated[str, typer.Option("--policy", help="Policy id.")],
                as_of: AsOfOpt = None, kind: KindOpt = None) -> None:
    """Why one profile is or is not eligible for one policy, criterion by criterion."""
    from zhida.cli.evaluate import run_explain

    raise typer.Exit(run_explain(policies, profiles, profile, policy, parse_date(as_of), kind,
                                 out_console, err_console))


@app.command()
@user_errors
def synth(out: Annotated[Path, typer.Option("--out", "-o", help="Output file (.parquet, "
                                            ".csv, .jsonl).")],
          count: Annotated[int, typer.Option("--count", "-n", min=1)] = 10000,
          kind: Annotated[str, typer.Option("--kind")] = "enterprise",
          seed: Annotated[int, typer.Option("--seed")] = 0,
          policies: Annotated[list[Path] | None, typer.Option(
              "--policies", "-p", help="A pack whose schema.yaml adds fields to fill.")] = None,
          ) -> None:
    """Write a seeded synthetic population with plausible Zhejiang distributions."""
    from zhida.cli.synth import run_synth

    run_synth(out, count, kind, seed, policies or [], err_console)


@app.command()
@user_errors
def demo(workdir: Annotated[Path, typer.Option("--workdir", help="Where to write.")] = Path(
             "var"),
         count: Annotated[int, typer.Option("--count", "-n", min=1)] = 20000,
         as_of: AsOfOpt = None) -> None:
    """The whole flow on the embedded default, from a fresh clone."""
    from zhida.cli.demo import run_demo

    raise typer.Exit(run_demo(workdir, count, parse_date(as_of), out_console, err_console))


TokenOpt = Annotated[str | None, typer.Option("--token", envvar="ZHIDA_TOKEN",
                    help="Officer API token (or ZHIDA_TOKEN).")]


@app.command()
@user_errors
def preview(path: Annotated[Path, typer.Argument(help="A policy file (its folder's schema.yaml "
                                                 "applies).")],
            as_of: AsOfOpt = None,
            as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
            chart: Annotated[Path | None, typer.Option("--chart", help="Write a PNG chart.")]
            = None) -> None:
    """Impact of a draft on the stored population; writes nothing."""
    from zhida.cli.policy_admin import run_preview

    raise typer.Exit(run_preview(path, parse_date(as_of), as_json, chart, out_console))


@app.command()
@user_errors
def publish(path: Annotated[Path, typer.Argument(help="A policy file.")], token: TokenOpt = None,
            as_of: AsOfOpt = None) -> None:
    """Submit a policy file as a new draft version (an approver then publishes it)."""
    from zhida.cli.policy_admin import run_submit

    raise typer.Exit(run_submit(path, token, parse_date(as_of), out_console))


@app.command()
@user_errors
def approve(policy_id: Annotated[str, typer.Argument(help="Policy id.")],
            version: Annotated[int | None, typer.Option("--version", help="Default: the latest "
                                                        "draft.")] = None,
            token: TokenOpt = None, as_of: AsOfOpt = None,
            run: Annotated[bool, typer.Option("--run/--no-run", help="Start the re-evaluation "
                                              "run.")] = True) -> None:
    """Publish a draft version (approver other than the author); starts a run."""
    from zhida.cli.policy_admin import run_approve

    raise typer.Exit(run_approve(policy_id, version, token, parse_date(as_of), run, out_console))


@app.command()
@user_errors
def policies() -> None:
    """Stored policy versions and their status."""
    from zhida.cli.policy_admin import run_policies

    raise typer.Exit(run_policies(out_console))


officers_app = typer.Typer(no_args_is_help=True, help="Officers and their API tokens.")
app.add_typer(officers_app, name="officers")


@officers_app.command("add")
@user_errors
def officers_add(name: Annotated[str, typer.Argument()],
                 role: Annotated[str, typer.Option("--role", help="author, approver or admin")]
                 = "author") -> None:
    """Create an officer; prints the token once (stored hashed)."""
    from zhida.cli.policy_admin import run_officer_add

    raise typer.Exit(run_officer_add(name, role, out_console))


@app.command()
@user_errors
def serve(host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port")] = 8000) -> None:
    """The web application: webhooks, inbox, application forms (uvicorn)."""
    import uvicorn

    from zhida.api.app import create_app
    from zhida.api.logs import log_config
    from zhida.settings import get_settings, require_real_secret

    require_real_secret(get_settings())
    uvicorn.run(create_app(), host=host, port=port, log_level="info", log_config=log_config())


events_app = typer.Typer(no_args_is_help=True, help="Real-time profile events.")
app.add_typer(events_app, name="events")


@events_app.command("post")
@user_errors
def events_post(path: Annotated[Path, typer.Argument(help="JSON Lines of events.")],
                as_of: AsOfOpt = None,
                plan: Annotated[bool, typer.Option("--plan/--no-plan", help="Plan "
                                                   "notifications afterwards.")] = True) -> None:
    """Apply profile updates and life events; judge each profile at once (durable_rules)."""
    from zhida.cli.events import run_post

    raise typer.Exit(run_post(path, parse_date(as_of), plan, out_console, err_console))


db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@user_errors
def db_upgrade() -> None:
    """Create or migrate the database (ZHIDA_DATABASE_URL; default ./var/zhida.db)."""
    from zhida.settings import get_settings
    from zhida.store.db import upgrade

    url = get_settings().database_url
    upgrade(url)
    err_console.print(f"database is up to date: {url.split('@')[-1]}", markup=False)


# --- store, runs, events, import: each command's body lives in zhida/commands/<name>.py ---


class _ImportGroup(typer.core.TyperGroup):
    """`zhida import FILE ...` runs the hidden `file` command; `zhida import review` reviews."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["file", *args]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return ["FILE [--source NAME] [--kind K] [-p PACK]  |  review [--accept ITEM | "
                "--reject ITEM | --all]"]


import_app = typer.Typer(
    cls=_ImportGroup, no_args_is_help=True,
    help="Import profiles: zhida import FILE [--source NAME] [--kind K]; "
         "zhida import review lists, accepts or rejects uncertain matches.")
app.add_typer(import_app, name="import")


@import_app.command("file", hidden=True)
@user_errors
def import_file_cmd(
        file: Annotated[Path, typer.Argument(help="CSV, JSON Lines or Parquet.")],
        source: Annotated[str | None, typer.Option("--source", help="Name of the data source "
                                                  "(default: the file name).")] = None,
        kind: KindOpt = None,
        policies: Annotated[list[Path] | None, typer.Option(
            "--policies", "-p", help="A pack whose schema.yaml adds fields.")] = None) -> None:
    """Load profiles into the store (upsert by id, entity resolution, one transaction)."""
    from zhida.cli.importing import run_import

    raise typer.Exit(run_import(file, source, kind, policies or [], out_console, err_console))


@import_app.command("review")
@user_errors
def import_review(
        accept: Annotated[int | None, typer.Option("--accept", help="Merge review item ITEM "
                                                   "into its candidate.", metavar="ITEM")] = None,
        reject: Annotated[int | None, typer.Option("--reject", help="Store review item ITEM as "
                                                   "a new profile.", metavar="ITEM")] = None,
        all_: Annotated[bool, typer.Option("--all", help="Also list closed items.")] = False,
) -> None:
    """List open entity-resolution review items, or accept / reject one."""
    from zhida.cli.importing import run_review

    raise typer.Exit(run_review(accept, reject, all_, out_console, err_console))


runs_app = typer.Typer(no_args_is_help=True, help="Re-evaluation runs (Celery).")
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
@user_errors
def runs_list(limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
              as_json: Annotated[bool, typer.Option("--json", help="One JSON object per "
                                                    "run.")] = False) -> None:
    """Runs, newest first: trigger, status, chunks done/total, changes, times."""
    from zhida.cli.runs import run_list

    raise typer.Exit(run_list(out_console, limit, as_json))


@runs_app.command("watch")
@user_errors
def runs_watch(run: Annotated[int, typer.Argument(help="Run id.")],
               interval: Annotated[float, typer.Option("--interval", min=0.1)] = 1.0) -> None:
    """A live progress bar (stderr) until the run is done; its summary as JSON."""
    from zhida.cli.runs import run_watch

    raise typer.Exit(run_watch(run, out_console, err_console, interval))


@runs_app.command("resume")
@user_errors
def runs_resume(run: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Re-queue the chunks of a run that are not done (safe to repeat)."""
    from zhida.cli.runs import run_resume

    raise typer.Exit(run_resume(run, err_console))


@runs_app.command("start")
@user_errors
def runs_start(kind: Annotated[str, typer.Option("--kind", help="enterprise or citizen.")],
               policy: Annotated[list[str] | None, typer.Option(
                   "--policy", help="Policy id (repeatable; default: all published).")] = None,
               as_of: AsOfOpt = None) -> None:
    """Re-evaluate all profiles of a kind against published policies."""
    from zhida.cli.runs import run_start

    raise typer.Exit(run_start(kind, policy or [], parse_date(as_of), out_console,
                               err_console))


@app.command()
@user_errors
def worker(concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", min=1,
                                                           help="Pool processes (default: "
                                                           "CPU count).")] = None,
           loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
           queues: Annotated[str | None, typer.Option("--queues", "-Q")] = None) -> None:
    """Start a Celery worker (broker: ZHIDA_REDIS_URL)."""
    from zhida.cli.runs import run_worker

    raise typer.Exit(run_worker(concurrency, loglevel, queues))


@app.command()
@user_errors
def beat(loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO") -> None:
    """Start Celery beat: the daily re-evaluation (01:00 Asia/Shanghai) and the sweeper."""
    from zhida.cli.runs import run_beat

    raise typer.Exit(run_beat(loglevel))


@app.command("login-link")
@user_errors
def login_link(profile_id: Annotated[str, typer.Argument(help="Profile id.")]) -> None:
    """Print a short-lived signed login URL for one profile (stands in for single sign-on)."""
    from zhida.api.security import LOGIN_MAX_AGE, login_url
    from zhida.settings import get_settings
    from zhida.store.db import session_scope
    from zhida.store.profiles import get_profile

    settings = get_settings()
    with session_scope(settings.database_url) as session:
        if get_profile(session, profile_id) is None:
            err_console.print(f"error: no profile '{profile_id}'", markup=False)
            raise typer.Exit(1)
    out_console.print(login_url(settings, profile_id), markup=False)
    err_console.print(f"valid for {LOGIN_MAX_AGE // 60} minutes", markup=False)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
