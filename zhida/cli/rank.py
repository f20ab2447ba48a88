"""`zhida feedback import`, `zhida rank train|lift` and `zhida synth feedback`.

Feedback lives in the store. Training and lift read profiles and policies from the
store (published versions) unless `--policies`/`--profiles` name files, and feedback
from the store unless `--feedback FILE` names a feedback file.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from zhida.cli.support import err_console, out_console, print_errors, user_errors
from zhida.errors import ZhidaError

if TYPE_CHECKING:
    import polars as pl

    from zhida.ranking.train import Population

feedback_app = typer.Typer(no_args_is_help=True, help="Feedback: what happened after notices.")
rank_app = typer.Typer(no_args_is_help=True, help="The take-up model and holdout lift.")


PolicyFilesOpt = Annotated[
    list[Path] | None,
    typer.Option("--policies", "-p", help="Policy files or packs (default: the published)."),
]
ProfileFileOpt = Annotated[
    Path | None, typer.Option("--profiles", help="Profiles file (default: the stored).")
]
FeedbackFileOpt = Annotated[
    Path | None, typer.Option("--feedback", help="A feedback file (default: the stored).")
]


@feedback_app.command("import")
@user_errors
def feedback_import(
    file: Annotated[Path, typer.Argument(help="JSON Lines of events.")],
    simulated: Annotated[
        bool,
        typer.Option(
            "--simulated",
            help="Made-up history (zhida synth feedback): trains the model, counts in no "
            "policy's results.",
        ),
    ] = False,
) -> None:
    """Import history: {"profile", "policy", "event", "at", "channel"} per line."""
    raise typer.Exit(run_feedback_import(file, err_console, simulated))


def run_feedback_import(file: Path, err: Console, simulated: bool = False) -> int:
    """`simulated`: the history was made up (`zhida synth feedback`), and stored marked so."""
    from zhida.ranking.feedback import SIMULATED, import_feedback, read_feedback_path
    from zhida.store.db import session_scope

    parsed = read_feedback_path(file)
    print_errors(parsed.errors, err)
    if simulated:
        for row in parsed.rows:
            row["detail"]["source"] = SIMULATED
    with session_scope() as session:
        added = import_feedback(session, parsed.rows)
    err.print(
        f"{file}: {added} events added, {len(parsed.rows) - added} already stored, "
        f"{len(parsed.errors)} bad lines skipped",
        markup=False,
    )
    return 1 if parsed.errors else 0


def population(policies: list[Path] | None, profiles: Path | None, err: Console) -> Population:
    from zhida.ranking.train import Population

    if policies:
        from zhida.cli.evaluate import load_policies

        pack = load_policies(policies)
        found, schemas = pack.policies, pack.schemas
    else:
        found, schemas = _published()
    if profiles is not None:
        from zhida.cli.evaluate import read_checked
        from zhida.rules.loader import Pack

        frames = read_checked(profiles, Pack(found, [], schemas), None, err).frames
    else:
        frames = _stored_profiles(schemas)
    return Population(frames, schemas, found)


def _published() -> tuple[list[Any], Any]:
    from sqlalchemy import select

    from zhida.profiles.schema import SchemaSet
    from zhida.publishing.catalogue import compiled
    from zhida.store.db import session_scope
    from zhida.store.models import PolicyVersion

    with session_scope() as session:
        versions = session.scalars(select(PolicyVersion).where(PolicyVersion.status == "published"))
        built = [compiled(v) for v in versions]
    if not built:
        raise ZhidaError("no published policies: pass --policies PATH")
    return [c.policy for c in built], built[0].schemas if built else SchemaSet.builtin()


def _stored_profiles(schemas: Any) -> dict[Any, pl.DataFrame]:
    from zhida.profiles.schema import Audience
    from zhida.store.db import session_scope
    from zhida.store.profiles import load_frame

    with session_scope() as session:
        return {a: load_frame(session, a.value, schemas[a]) for a in Audience}


def events(feedback: Path | None, err: Console) -> pl.DataFrame:
    from zhida.ranking.feedback import events_frame, load_feedback, read_feedback_path

    if feedback is not None:
        parsed = read_feedback_path(feedback)
        print_errors(parsed.errors, err)
        return events_frame(parsed.rows)
    from zhida.store.db import session_scope

    with session_scope() as session:
        return load_feedback(session)


@rank_app.command("train")
@user_errors
def rank_train(
    until: Annotated[
        str | None, typer.Option("--until", help="Train before, evaluate from (YYYY-MM-DD).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where to store the model.")] = None,
    policies: PolicyFilesOpt = None,
    profiles: ProfileFileOpt = None,
    feedback: FeedbackFileOpt = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Train the take-up model; report it beside the heuristic; activate it if better."""
    day = dt.date.fromisoformat(until) if until else None
    report = run_train(day, out, policies, profiles, feedback, seed, err_console)
    if as_json:
        out_console.print_json(json.dumps(report, ensure_ascii=False))
    else:
        print_report(report, out_console)


def run_train(
    until: dt.date | None,
    out: Path | None,
    policies: list[Path] | None,
    profiles: Path | None,
    feedback: Path | None,
    seed: int,
    err: Console,
    activate_to: Path | None = None,
) -> dict[str, Any]:
    from zhida.ranking.feedback import notices
    from zhida.ranking.model import active_model_path, save
    from zhida.ranking.train import default_until, prepare, train
    from zhida.settings import get_settings

    start = time.perf_counter()
    pop = population(policies, profiles, err)
    ev = events(feedback, err)
    if ev.height == 0:
        raise ZhidaError("no feedback to train on (zhida feedback import FILE)")
    rows = notices(ev)
    until = until or default_until(rows)
    trained = train(prepare(rows, pop, until), until, ev.get_column("at").max(), seed)  # type: ignore[arg-type]
    active = activate_to or active_model_path(get_settings().var_dir)
    out = out or active.parent / f"takeup-{time.strftime('%Y%m%dT%H%M%S')}.skops"
    trained.report["seconds"] = round(time.perf_counter() - start, 1)
    trained.report["path"] = str(out)
    trained.report["activated"] = trained.better
    save(trained.model, out)
    out.with_suffix(".json").write_text(
        json.dumps(trained.report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    if trained.better:
        active.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, active)
    return trained.report


def print_report(report: dict[str, Any], out: Console) -> None:
    from rich.table import Table

    table = Table(title=f"take-up model vs heuristic, evaluated from {report['until']}")
    table.add_column("metric")
    table.add_column("model", justify="right")
    table.add_column("heuristic", justify="right")
    for name in ("roc_auc", "pr_auc", "brier", "precision_at_cap"):
        table.add_row(name, str(report["model"][name]), str(report["heuristic"][name]))
    out.print(table)
    cal = Table(title="calibration (model)")
    for c in ("bin", "rows", "predicted", "observed"):
        cal.add_column(c, justify="right")
    for b in report["model"]["calibration"]:
        cal.add_row(b["bin"], str(b["rows"]), str(b["predicted"]), str(b["observed"]))
    out.print(cal)
    out.print(
        f"trained on {report['train_rows']} notices, evaluated on {report['eval_rows']}; "
        f"stored {report['path']} (report beside it, .json)",
        markup=False,
    )
    if report["activated"]:
        out.print("activated: it beats the heuristic", markup=False)
    else:
        out.print("not activated: " + "; ".join(report["reasons"]), markup=False)


@rank_app.command("uplift")
@user_errors
def rank_uplift(
    until: Annotated[
        str | None, typer.Option("--until", help="Train before, evaluate from (YYYY-MM-DD).")
    ] = None,
    policies: PolicyFilesOpt = None,
    profiles: ProfileFileOpt = None,
    feedback: FeedbackFileOpt = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    store: Annotated[
        bool,
        typer.Option(
            "--store", help="Store the model; activate it if its uplift@20% beats take-up's."
        ),
    ] = False,
) -> None:
    """The SMS's uplift over in-app (two-model learner): Qini and uplift@k, held out."""
    from zhida.ranking.feedback import notices
    from zhida.ranking.train import default_until, prepare
    from zhida.ranking.uplift import train_uplift

    pop = population(policies, profiles, err_console)
    ev = events(feedback, err_console)
    if ev.height == 0:
        raise ZhidaError("no feedback to train on (zhida feedback import FILE)")
    rows = notices(ev)
    day = dt.date.fromisoformat(until) if until else default_until(rows)
    last = ev.get_column("at").max()
    sms, inapp, result = train_uplift(prepare(rows, pop, day), day, last, seed)  # type: ignore[arg-type]
    if store:
        result.update(store_uplift(sms, inapp, result))
    out_console.print_json(json.dumps({"until": day.isoformat(), **result}, ensure_ascii=False))


def store_uplift(sms: Any, inapp: Any, result: dict[str, Any]) -> dict[str, Any]:
    """Stored under var_dir/models/uplift-TIME/, copied to the active directory (what
    the planner reads where the SMS cap binds) only if it `beats_takeup`."""
    from zhida.ranking.uplift import ACTIVE_UPLIFT, UpliftModel, beats_takeup, save_uplift
    from zhida.settings import get_settings

    var_dir = get_settings().var_dir
    out = var_dir / "models" / f"uplift-{time.strftime('%Y%m%dT%H%M%S')}"
    save_uplift(UpliftModel(sms, inapp), out)
    better, reason = beats_takeup(result)
    if better:
        active = var_dir / ACTIVE_UPLIFT
        new = active.with_name(active.name + ".new")  # complete before it replaces the old
        shutil.rmtree(new, ignore_errors=True)
        shutil.copytree(out, new)
        shutil.rmtree(active, ignore_errors=True)
        new.rename(active)
    return {"path": str(out), "activated": better, "reason": reason}


@rank_app.command("lift")
@user_errors
def rank_lift(
    policy: Annotated[str, typer.Argument(help="Policy id.")],
    feedback: FeedbackFileOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Take-up notified vs held out, with a 95% interval of the difference."""
    from zhida.ranking.feedback import notices
    from zhida.ranking.holdout import lift

    result = lift(notices(events(feedback, err_console)), policy).as_dict()
    if as_json:
        out_console.print_json(json.dumps(result))
        return
    if not result["held_out"]:
        raise ZhidaError(f"no held-out feedback for policy '{policy}' (set holdout: in it)")
    out_console.print(
        f"{policy}: notified {result['notified_took']}/{result['notified']} = "
        f"{result['rate_notified']:.2%}, held out {result['held_out_took']}/{result['held_out']}"
        f" = {result['rate_held_out']:.2%}; lift {result['lift']:+.2%} "
        f"(95% interval {result['low']:+.2%} to {result['high']:+.2%})",
        markup=False,
    )


def run_synth_feedback(
    out: Path,
    policies: list[Path],
    profiles: Path,
    start: dt.date,
    days: int,
    seed: int,
    holdout: float | None,
    truth: Path | None,
    err: Console,
) -> int:
    from zhida.ranking.simulate import feedback_lines, simulate

    pop = population(policies, profiles, err)
    sim = simulate(pop, start, days, seed, holdout)
    out.parent.mkdir(parents=True, exist_ok=True)
    feedback_lines(sim.events).write_ndjson(out)
    if truth is not None:
        sim.truth.write_ndjson(truth)
    err.print(f"wrote {sim.events.height} feedback events to {out}", markup=False)
    return sim.events.height
