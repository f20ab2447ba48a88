"""`zhida import FILE` and `zhida import review`."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from zhida.cli.support import (
    EXIT_BAD_ROWS,
    AsOfOpt,
    KindOpt,
    err_console,
    out_console,
    parse_date,
    print_errors,
    progress_bar,
    user_errors,
)
from zhida.errors import ZhidaError

if TYPE_CHECKING:
    from zhida.profiles.schema import SchemaSet


class _ImportGroup(typer.core.TyperGroup):
    """`zhida import FILE ...` runs the hidden `file` command; `zhida import review` reviews."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["file", *args]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [
            "FILE [--source NAME] [--kind K] [-p PACK]  |  review [--accept ITEM | "
            "--reject ITEM | --all]"
        ]


import_app = typer.Typer(
    cls=_ImportGroup,
    no_args_is_help=True,
    help="Import profiles: zhida import FILE [--source NAME] [--kind K]; "
    "zhida import review lists, accepts or rejects uncertain matches.",
)


@import_app.command("file", hidden=True)
@user_errors
def import_file(
    file: Annotated[Path, typer.Argument(help="CSV, JSON Lines or Parquet.")],
    source: Annotated[
        str | None,
        typer.Option("--source", help="Name of the data source (default: the file name)."),
    ] = None,
    kind: KindOpt = None,
    policies: Annotated[
        list[Path] | None,
        typer.Option("--policies", "-p", help="A pack whose schema.yaml adds fields."),
    ] = None,
    rerun: Annotated[
        bool,
        typer.Option(
            "--run/--no-run",
            help="Re-evaluate the profiles the import changed against the published "
            "policies (a run), and notify the newly eligible.",
        ),
    ] = True,
    as_of: AsOfOpt = None,
) -> None:
    """Load profiles into the store (upsert by id, entity resolution, one transaction);
    then re-evaluate the changed ones (a run, queued on the workers or done in-process)."""
    raise typer.Exit(
        run_import(
            file,
            source,
            kind,
            policies or [],
            out_console,
            err_console,
            rerun=rerun,
            as_of=parse_date(as_of),
        )
    )


@import_app.command("review")
@user_errors
def import_review(
    accept: Annotated[
        int | None,
        typer.Option("--accept", help="Merge review item ITEM into its candidate.", metavar="ITEM"),
    ] = None,
    reject: Annotated[
        int | None,
        typer.Option("--reject", help="Store review item ITEM as a new profile.", metavar="ITEM"),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Also list closed items.")] = False,
) -> None:
    """List open entity-resolution review items, or accept / reject one."""
    raise typer.Exit(run_review(accept, reject, all_, out_console, err_console))


def _schemas(policies: list[Path]) -> SchemaSet:
    """Built-in fields plus the schema.yaml of each given pack (folder or the file itself)."""
    from zhida.profiles.schema import SchemaSet
    from zhida.profiles.schema_file import load_schema_extension

    schemas = SchemaSet.builtin()
    for p in policies:
        path = p / "schema.yaml" if p.is_dir() else p
        if path.name == "schema.yaml" and path.is_file():
            schemas = schemas.extended(load_schema_extension(path))
    return schemas


def _database_url() -> str:
    from zhida.settings import get_settings

    url = get_settings().database_url
    if url.startswith("sqlite:"):  # the embedded default creates itself
        from zhida.store.db import upgrade

        upgrade(url)
    return url


def _db_error(err: Exception) -> ZhidaError:
    first = str(getattr(err, "orig", None) or err).strip().splitlines() or [type(err).__name__]
    return ZhidaError(
        f"database: {first[0][:300]} (nothing was written; is the "
        "database migrated? run `zhida db upgrade`)"
    )


def run_import(
    path: Path,
    source: str | None,
    kind: str | None,
    policies: list[Path],
    out: Console,
    err: Console,
    rerun: bool = True,
    as_of: dt.date | None = None,
) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from zhida.ingest.importer import import_batch
    from zhida.profiles.readers import read_profiles
    from zhida.runs.reevaluate import create_import_runs
    from zhida.store.db import session_scope

    start = time.perf_counter()
    batch = read_profiles(path, _schemas(policies), kind)
    read_s = time.perf_counter() - start
    for warning in batch.warnings:
        err.print(f"{path}: warning: {warning}", markup=False)
    print_errors(list(batch.errors), err)
    total = batch.rows_ok
    try:
        url = _database_url()
        with progress_bar(err, total, "导入中") as bar, session_scope(url) as session:
            task = bar.add_task("import", total=total) if bar else None

            def advance(rows: int) -> None:
                if bar is not None and task is not None:
                    bar.advance(task, rows)

            report = import_batch(
                session, batch, source or path.name, file=str(path), progress=advance
            )
            # the runs commit with the import: a crash between them loses no re-evaluation
            day = as_of or parse_date(None)
            runs = create_import_runs(session, report.changed, day) if rerun else []
            started = [(r.id, r.kind, len(report.changed[r.kind])) for r in runs]
    except SQLAlchemyError as e:
        raise _db_error(e) from None
    for line in report.conflicts:
        err.print(line, markup=False)
    c = report.counts
    elapsed = time.perf_counter() - start
    out.print(
        f"{path}: {report.rows_read} 行，新建 {c['new']}，更新 {c['update']}，合并 {c['merge']}，"
        f"待审核 {c['review']}，错误 {report.bad_rows}（来源 {report.source}，"
        f"{elapsed:.1f}s: 读取 {read_s:.1f}s，识别 {report.timings['resolve']:.1f}s，"
        f"写入 {report.timings['write']:.1f}s）",
        markup=False,
    )
    if c["review"]:
        out.print(f"{c['review']} 行待人工审核：zhida import review", markup=False)
    _start_import_runs(started, out)
    return EXIT_BAD_ROWS if report.bad_rows or report.warnings else 0


def _start_import_runs(started: list[tuple[int, str, int]], out: Console) -> None:
    """Queue the import's runs (committed with it) and say which run does what; in-process
    (no broker) they are done here, and their newly eligible are notified here too (a
    worker plans after a queued run's last chunk)."""
    if not started:
        return
    from zhida.runs.reevaluate import get_run
    from zhida.store.db import session_scope
    from zhida.worker import app, plan_and_queue, start_run

    transitions = 0
    for run_id, kind, n in started:
        start_run(run_id)
        with session_scope() as session:
            run = get_run(session, run_id)
            status, counts = run.status, dict(run.counts or {})
        what = f"run {run_id}: {n} changed {kind} profiles re-evaluated"
        if status == "done":
            transitions += counts.get("transitions", 0)
            out.print(
                f"{what}: +{counts.get('newly_eligible', 0)} eligible, "
                f"-{counts.get('no_longer_eligible', 0)} eligible (done)",
                markup=False,
            )
        else:
            out.print(f"{what} on the workers; follow it: zhida runs watch {run_id}", markup=False)
    if transitions and app.conf.task_always_eager:
        summary = plan_and_queue()
        out.print(
            f"notifications: {summary.inapp} in-app, {summary.sms_queued} SMS queued, "
            f"{summary.sms_deferred} deferred",
            markup=False,
        )


def _short(value: Any, width: int = 40) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def run_review(
    accept: int | None, reject: int | None, show_all: bool, out: Console, err: Console
) -> int:
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from zhida.ingest.review import accept_review, list_reviews, reject_review
    from zhida.store.db import session_scope
    from zhida.store.models import Profile

    if accept is not None and reject is not None:
        raise ZhidaError("give --accept or --reject, not both")
    try:
        url = _database_url()
        with session_scope(url) as session:
            if accept is not None:
                target = accept_review(session, accept)
                out.print(f"审核项 {accept}：已合并到档案 {target}", markup=False)
                return 0
            if reject is not None:
                new_id = reject_review(session, reject)
                out.print(f"审核项 {reject}：已新建档案 {new_id}", markup=False)
                return 0
            items = list_reviews(session, None if show_all else "open")
            wanted = {i.candidate_id for i in items if i.candidate_id}
            names: dict[str, tuple[str, str]] = {}
            if wanted:
                for pid, data in session.execute(
                    select(Profile.id, Profile.data).where(Profile.id.in_(wanted))
                ):
                    names[pid] = (str(data.get("name") or ""), str(data.get("region") or ""))
    except SQLAlchemyError as e:
        raise _db_error(e) from None
    if not items:
        out.print("没有待审核的档案" if not show_all else "没有审核记录", markup=False)
        return 0
    status_zh = {"open": "待审核", "merged": "已合并", "created": "已新建"}
    rows = []
    for item in items:
        inc = item.incoming
        cand_name, cand_region = names.get(item.candidate_id or "", ("", ""))
        inc_region = inc.get("region") or "地区缺失"
        rows.append(
            (
                str(item.id),
                f"{inc.get('id', '')} {_short(inc.get('name'))} ({inc_region})",
                f"{item.candidate_id or ''} {_short(cand_name)} ({cand_region or '地区缺失'})",
                f"{item.score:.1f}",
                item.reason,
                item.source,
                status_zh.get(item.status, item.status),
            )
        )
    title = "实体识别待审核" if not show_all else "实体识别审核记录"
    if out.is_terminal:
        from rich.table import Table

        table = Table(title=title)
        for label in (
            "编号",
            "导入档案",
            "候选档案",
            "相似度",
            "原因",
            "来源",
            *(("状态",) if show_all else ()),
        ):
            table.add_column(label, overflow="fold")
        for r in rows:
            table.add_row(*r[:6], *((r[6],) if show_all else ()))
        out.print(table)
    else:  # piped: one record per item, nothing folded
        out.print(title, markup=False)
        for num, incoming, candidate, score, reason, source, status in rows:
            state = f"  [{status}]" if show_all else ""
            out.print(
                f"#{num}  导入 {incoming}  →  候选 {candidate}  相似度 {score}  "
                f"来源 {source}{state}\n    原因：{reason}",
                markup=False,
            )
    if not show_all:
        out.print(
            "合并：zhida import review --accept 编号；新建：zhida import review --reject 编号",
            markup=False,
        )
    return 0
