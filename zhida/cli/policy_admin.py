"""`zhida preview`, `zhida publish`, `zhida approve`, `zhida policies`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from zhida.cli.support import AsOfOpt, out_console, parse_date, user_errors

if TYPE_CHECKING:
    from zhida.runs.preview import Impact

TokenOpt = Annotated[
    str | None,
    typer.Option("--token", envvar="ZHIDA_TOKEN", help="Officer API token (or ZHIDA_TOKEN)."),
]


@user_errors
def preview(
    path: Annotated[Path, typer.Argument(help="A policy file (its folder's schema.yaml applies).")],
    as_of: AsOfOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    chart: Annotated[Path | None, typer.Option("--chart", help="Write a PNG chart.")] = None,
) -> None:
    """Impact of a draft on the stored population; writes nothing."""
    raise typer.Exit(run_preview(path, parse_date(as_of), as_json, chart, out_console))


@user_errors
def publish(
    path: Annotated[Path, typer.Argument(help="A policy file.")],
    token: TokenOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Submit a policy file as a new draft version (an approver then publishes it)."""
    raise typer.Exit(run_submit(path, token, parse_date(as_of), out_console))


@user_errors
def approve(
    policy_id: Annotated[str, typer.Argument(help="Policy id.")],
    version: Annotated[
        int | None, typer.Option("--version", help="Default: the latest draft.")
    ] = None,
    token: TokenOpt = None,
    as_of: AsOfOpt = None,
    run: Annotated[
        bool, typer.Option("--run/--no-run", help="Start the re-evaluation run.")
    ] = True,
) -> None:
    """Publish a draft version (approver other than the author); starts a run."""
    raise typer.Exit(run_approve(policy_id, version, token, parse_date(as_of), run, out_console))


@user_errors
def policies() -> None:
    """Stored policy versions and their status."""
    raise typer.Exit(run_policies(out_console))


def read_policy_file(path: Path) -> tuple[str, str]:
    """(policy text, its pack's schema.yaml text or '')."""
    from zhida.publishing.errors import PublishError
    from zhida.rules.loader import SCHEMA_FILE

    if not path.is_file():
        raise PublishError(f"{path}: no such policy file")
    schema_path = path.parent / SCHEMA_FILE
    schema = schema_path.read_text(encoding="utf-8") if schema_path.exists() else ""
    return path.read_text(encoding="utf-8"), schema


def run_preview(path: Path, as_of: dt.date, as_json: bool, chart: Path | None, out: Console) -> int:
    from zhida.publishing.versions import check_policy
    from zhida.runs.preview import impact_of
    from zhida.store.db import session_scope

    text, schema_yaml = read_policy_file(path)
    policy = check_policy(text, str(path), schema_yaml)
    with session_scope() as session:
        impact = impact_of(session, policy, schema_yaml, as_of)
        session.rollback()  # a preview writes nothing
    if as_json:
        print(json.dumps(impact.to_json(), ensure_ascii=False, indent=2))
    else:
        print_impact(impact, policy.title, out)
    if chart is not None:
        write_chart(impact, policy.title, chart)
        out.print(f"图表：{chart}", markup=False)
    return 0


def print_impact(impact: Impact, title: str, out: Console) -> None:
    from rich.table import Table

    from zhida.runs.preview import CHANGE_LABELS, CHANGES

    out.print(
        f"预览：{title}（{impact.policy_id}），评估日期 {impact.as_of}，"
        f"{impact.profiles:,} 个主体，用时 {impact.seconds}s",
        markup=False,
    )
    summary = Table(*[CHANGE_LABELS[c] for c in CHANGES])
    summary.add_row(*[f"{impact.counts[c]:,}" for c in CHANGES])
    out.print(summary)
    for heading, groups in (("按地市", impact.by_city), ("按行业门类", impact.by_industry)):
        if not groups:
            continue
        table = Table(heading, *[CHANGE_LABELS[c] for c in CHANGES[:3]], title=heading)
        for key, row in groups.items():
            table.add_row(key, *[f"{row[c]:,}" for c in CHANGES[:3]])
        out.print(table)
    for sample in impact.samples:
        out.rule(f"样例：{sample['profile']}（{sample['change']}）")
        out.print(sample["explanation"], markup=False)


def write_chart(impact: Impact, title: str, path: Path) -> None:
    """A bar chart by city an officer can look at (PNG)."""
    import logging

    import matplotlib

    matplotlib.use("Agg")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    from zhida.runs.preview import CHANGE_LABELS, CHANGES

    font = _cjk_font(font_manager)
    if font:
        plt.rcParams["font.family"] = font
    cities = list(impact.by_city) or ["（无变化）"]
    fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    width = 0.27
    for k, change in enumerate(CHANGES[:3]):
        values = [impact.by_city.get(c, {}).get(change, 0) for c in cities]
        ax.bar(
            [i + (k - 1) * width for i in range(len(cities))],
            values,
            width,
            label=CHANGE_LABELS[change],
        )
    ax.set_xticks(range(len(cities)), cities, rotation=30, ha="right")
    ax.set_title(f"{title}：影响预览（{impact.as_of}）")
    ax.set_ylabel("主体数")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


_CJK_FILES = ("wqy", "notosanscjk", "notoserifcjk", "sourcehan", "droidsansfallback", "simhei")


def _cjk_font(font_manager: Any) -> str | None:
    """A font with Chinese glyphs, registered with matplotlib (Debian: fonts-wqy-zenhei)."""
    for path in font_manager.findSystemFonts():
        if any(k in Path(path).name.lower().replace("-", "") for k in _CJK_FILES):
            font_manager.fontManager.addfont(path)
            return str(font_manager.FontProperties(fname=path).get_name())
    return None


def run_submit(path: Path, token: str | None, as_of: dt.date, out: Console) -> int:
    from zhida.publishing.officers import officer_by_token
    from zhida.publishing.versions import submit
    from zhida.store.db import session_scope

    text, schema_yaml = read_policy_file(path)
    with session_scope() as session:
        officer = officer_by_token(session, token)
        version = submit(session, officer, text, str(path), schema_yaml)
        out.print(
            f"submitted {version.policy_id} version {version.version} (draft); "
            f"an approver publishes it with: zhida approve {version.policy_id}",
            markup=False,
        )
    return 0


def run_approve(
    policy_id: str,
    version_no: int | None,
    token: str | None,
    as_of: dt.date,
    start_run: bool,
    out: Console,
) -> int:
    from zhida.publishing.officers import officer_by_token
    from zhida.publishing.versions import find_version
    from zhida.runs.preview import approve_with_impact
    from zhida.settings import get_settings
    from zhida.store.db import session_scope

    settings = get_settings()
    with session_scope() as session:
        officer = officer_by_token(session, token)
        version = find_version(session, policy_id, version_no)
        impact = approve_with_impact(session, officer, version, as_of, settings.allow_self_approval)
        version_id, audience = version.id, version.audience
    out.print(
        f"published {policy_id} version {version.version}: "
        f"{impact.counts['newly_eligible']:,} newly eligible, "
        f"{impact.counts['no_longer_eligible']:,} no longer eligible",
        markup=False,
    )
    if start_run:
        from zhida.worker import start_new_run

        run_id = start_new_run(audience, [version_id], as_of)
        out.print(f"run {run_id} started; follow it with: zhida runs watch {run_id}", markup=False)
    return 0


def run_policies(out: Console) -> int:
    from rich.table import Table
    from sqlalchemy import select

    from zhida.store.db import session_scope
    from zhida.store.models import Officer, PolicyVersion

    with session_scope() as session:
        rows = session.scalars(
            select(PolicyVersion).order_by(PolicyVersion.policy_id, PolicyVersion.version)
        ).all()
        names = {oid: name for oid, name in session.execute(select(Officer.id, Officer.name))}
        table = Table("政策", "版本", "状态", "标题", "起草", "审批", "发布时间")
        for v in rows:
            table.add_row(
                v.policy_id,
                str(v.version),
                v.status,
                v.title,
                names.get(v.author_id, ""),
                names.get(v.approver_id or -1, ""),
                v.published_at.strftime("%Y-%m-%d %H:%M") if v.published_at else "",
            )
    out.print(table)
    return 0
