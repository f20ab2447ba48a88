"""`zhida demo`: the whole flow on the embedded default, from a fresh clone.

SQLite under the work folder, Celery tasks in-process, SMS to a file:
check the example pack, synthesise a population and import it, publish every
policy (an author submits, an approver approves), which runs the re-evaluation;
plan notifications from the transitions into eligibility and send them (SMS to
`var/outbox/sms.jsonl`, in-app to the inbox); print a summary with a link that
opens a prefilled application when `zhida serve` runs. The demo resets its own
database (`var/zhida.db`) and outbox each time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from zhida.cli.check import run_check
from zhida.cli.support import AsOfOpt, err_console, out_console, parse_date, user_errors
from zhida.errors import ZhidaError


@user_errors
def demo(
    workdir: Annotated[Path, typer.Option("--workdir", help="Where to write.")] = Path("var"),
    count: Annotated[int, typer.Option("--count", "-n", min=1)] = 20000,
    as_of: AsOfOpt = None,
) -> None:
    """The whole flow on the embedded default, from a fresh clone."""
    raise typer.Exit(run_demo(workdir, count, parse_date(as_of), out_console, err_console))


def example_pack() -> Path:
    """The example pack shipped in the repository (also when run from elsewhere)."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base / "examples" / "policies"
        if candidate.is_dir():
            return candidate
    raise ZhidaError("cannot find examples/policies; run the demo from the repository")


def embedded_default(workdir: Path) -> None:
    """Point every setting at the embedded default under `workdir`, before anything reads
    them, with a random secret for signing sessions in `workdir/secret_key`. Quiet hours
    are off in the demo so SMS go out whatever the time of day (their
    deferral to 08:00 is covered by the tests)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("zhida.db", "zhida.db-wal", "zhida.db-shm", "outbox/sms.jsonl"):
        (workdir / name).unlink(missing_ok=True)
    os.environ.update(
        {
            "ZHIDA_DATABASE_URL": f"sqlite:///{workdir}/zhida.db",
            "ZHIDA_REDIS_URL": "",
            "ZHIDA_SMS_PROVIDER": "file",
            "ZHIDA_SMS_OUTBOX": str(workdir / "outbox" / "sms.jsonl"),
            "ZHIDA_QUIET_START_HOUR": "0",
            "ZHIDA_QUIET_END_HOUR": "0",
            "ZHIDA_SMS_ECHO": "false",
            "ZHIDA_VAR_DIR": str(workdir),
            # the demo plans once after all its runs (step 4), so one recipient's SMS
            # about several policies go out as one digest, at once: no digest window
            # to wait (in production the first SMS waits up to ZHIDA_DIGEST_MINUTES so
            # that what is planned meanwhile joins it)
            "ZHIDA_PLAN_AFTER_RUN": "false",
            "ZHIDA_DIGEST_MINUTES": "0",
        }
    )
    from zhida.settings import get_settings, write_demo_secret

    write_demo_secret(workdir)  # `zhida serve` reads it from var/ afterwards
    from zhida.store.db import dispose_engines, upgrade

    get_settings.cache_clear()
    dispose_engines()
    from zhida.worker import configure

    configure(get_settings())
    upgrade()


def run_demo(workdir: Path, count: int, as_of: dt.date, out: Console, err: Console) -> int:
    pack_dir = example_pack()
    embedded_default(workdir)
    from sqlalchemy import func, select

    from zhida.ingest.importer import import_file
    from zhida.profiles.readers import write_profiles
    from zhida.profiles.schema import Audience
    from zhida.profiles.synth import synthesize_citizens, synthesize_enterprises
    from zhida.publishing.officers import add_officer
    from zhida.publishing.versions import approve, submit
    from zhida.rules.loader import load_pack
    from zhida.settings import get_settings
    from zhida.store.db import session_scope
    from zhida.store.models import Notification, Run
    from zhida.worker import plan_and_queue, start_new_run

    settings = get_settings()
    out.rule("1. 检查政策包 (zhida check)")
    if run_check([pack_dir], out, err) != 0:
        return 1
    pack = load_pack([pack_dir])

    out.rule("2. 模拟主体并导入 (zhida synth, zhida import)")
    start = time.perf_counter()
    profiles_path = workdir / "profiles.parquet"
    write_profiles(
        {
            Audience.ENTERPRISE: synthesize_enterprises(count, 1, pack.schemas),
            Audience.CITIZEN: synthesize_citizens(count, 1, pack.schemas),
        },
        profiles_path,
    )
    with session_scope() as session:
        report = import_file(session, profiles_path, pack.schemas, source="demo")
    out.print(
        f"{count:,} 家企业、{count:,} 名个人 -> {settings.database_url} "
        f"(写入 {report.written:,} 条，{time.perf_counter() - start:.1f}s)",
        markup=False,
    )

    out.rule("3. 发布政策：起草人提交，审批人批准，触发重新评估")
    schema_yaml = (
        (pack_dir / "schema.yaml").read_text(encoding="utf-8")
        if (pack_dir / "schema.yaml").exists()
        else ""
    )
    start = time.perf_counter()
    with session_scope() as session:
        author, _ = add_officer(session, "demo-author", "author")
        approver, _ = add_officer(session, "demo-approver", "approver")
    runs = []
    for policy in pack.policies:
        with session_scope() as session:
            version = submit(
                session,
                session.merge(author),
                Path(policy.path).read_text(encoding="utf-8"),
                policy.path,
                schema_yaml,
            )
            approve(session, session.merge(approver), version, None)
            version_id = version.id
        runs.append(start_new_run(policy.audience.value, [version_id], as_of))
    with session_scope() as session:
        done = session.scalars(select(Run).where(Run.id.in_(runs))).all()
        counts: Counter[str] = Counter()
        for run in done:
            counts.update(
                {k: int(v) for k, v in (run.counts or {}).items() if isinstance(v, int | float)}
            )
        statuses = Counter(r.status for r in done)
    out.print(
        f"{len(runs)} 项政策已发布，{len(runs)} 次评估运行（{dict(statuses)}），"
        f"新增符合 {counts.get('newly_eligible', 0):,}，"
        f"新增待补充信息 {counts.get('newly_unknown', 0):,}，"
        f"{time.perf_counter() - start:.1f}s",
        markup=False,
    )

    out.rule("4. 计划并发送通知（站内信 + 短信）")
    out.print(
        "演示模式：不设夜间免打扰（生产默认 20:00–08:00 的短信推迟到早上 8 点发送）", markup=False
    )
    summary = plan_and_queue()
    with session_scope() as session:
        rows = session.execute(
            select(Notification.channel, Notification.status, func.count()).group_by(
                Notification.channel, Notification.status
            )
        ).all()
        by_status = {(c, s): int(n) for c, s, n in rows}
    _notification_table(by_status, summary.skipped, out)
    outbox = Path(settings.sms_outbox)
    sent = [json.loads(line) for line in outbox.open(encoding="utf-8")] if outbox.exists() else []
    out.print(f"短信写入 {outbox}：{len(sent)} 条；例如：", markup=False)
    for sms in sent[:3]:
        out.print(f"  {sms['to']} ({sms['segments']} 条计费) {sms['body']}", markup=False)
    _digest_line(sent, out)

    out.rule("5. 打开预填的申请表")
    if sent:
        first = next((s for s in sent if not isinstance(s["policy"], list)), sent[0])
        digest = next((s for s in sent if isinstance(s["policy"], list)), None)
        from zhida.api.security import login_url

        out.print("先运行：zhida serve   （另一个终端）", markup=False)
        out.print(
            f"申请链接（{first['profile']} / {first['policy']}）：{first['link']}", markup=False
        )
        if digest is not None:
            out.print(
                f"汇总短信的政策页链接（{digest['profile']}，{len(digest['policy'])} 项）："
                f"{digest['link']}",
                markup=False,
            )
        out.print(
            f"站内信：{login_url(settings, first['profile'])}  （10 分钟内有效，仅可使用一次）",
            markup=False,
        )

    out.rule("6. 从反馈学习 (zhida synth feedback, feedback import, rank train)")
    learn_from_feedback(workdir, pack_dir, profiles_path, as_of, out, err)
    return 0


def learn_from_feedback(
    workdir: Path, pack_dir: Path, profiles: Path, as_of: dt.date, out: Console, err: Console
) -> None:
    """Simulated history (notices over 120 days ending 30 days before as_of, the hidden
    take-up function of zhida/ranking/simulate.py) imported into the store, marked
    simulated (the console's results leave it out); the take-up
    model trained from the store and reported beside the heuristic on later notices."""
    from zhida.cli.rank import print_report, run_feedback_import, run_synth_feedback, run_train

    start = time.perf_counter()
    history = workdir / "feedback.jsonl"
    begin = as_of - dt.timedelta(days=150)
    run_synth_feedback(history, [pack_dir], profiles, begin, 120, 0, 0.1, None, err)
    run_feedback_import(history, err, simulated=True)  # trains the model, no result of any policy
    report = run_train(None, None, None, None, None, 0, err)
    print_report(report, out)
    out.print(f"（{time.perf_counter() - start:.1f}s）", markup=False)


def _digest_line(sent: list[dict[str, object]], out: Console) -> None:
    """How many SMS were digests, and how many numbers got more than one."""
    digests = [s["policy"] for s in sent if isinstance(s["policy"], list)]
    per_number = Counter(str(s["to"]) for s in sent)
    out.print(
        f"其中汇总短信 {len(digests):,} 条（涵盖 {sum(len(d) for d in digests):,} 项政策通知）；"
        f"收到多于一条短信的号码：{sum(1 for n in per_number.values() if n > 1):,} 个",
        markup=False,
    )


def _notification_table(
    by_status: dict[tuple[str, str], int], skipped: Counter[str], out: Console
) -> None:
    from rich.table import Table

    from zhida.store.models import Channel
    from zhida.store.models import NotificationStatus as Status

    labels = {
        Status.SENT: "已发送",
        Status.DELIVERED: "已送达",
        Status.QUEUED: "排队中",
        Status.DEFERRED: "已推迟",
        Status.SENDING: "发送中",
        Status.FAILED: "失败",
        Status.SKIPPED: "未发短信",
    }
    if any(s == Status.CANCELLED for _, s in by_status):  # no longer true when due
        labels[Status.CANCELLED] = "已取消"
    table = Table("渠道", *labels.values())
    for channel, name in ((Channel.INAPP, "站内信"), (Channel.SMS, "短信")):
        table.add_row(name, *[f"{by_status.get((channel, s), 0):,}" for s in labels])
    out.print(table)
    if skipped:
        reasons = {
            "frequency_cap": "频次上限（7天2条）",
            "no_phone": "无手机号",
            "opted_out": "已退订",
            "window_closed": "申报已截止",
            "profile_gone": "主体已删除",
        }
        out.print(
            "未发短信原因：" + "，".join(f"{reasons.get(k, k)} {v:,}" for k, v in skipped.items()),
            markup=False,
        )
