"""On the embedded default (SQLite, eager Celery, the file sink), `zhida approve` plans
and sends after its run as a queued run does, and `zhida notify` plans and sends what
is pending."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support.cli import run_cli
from tests.support.factories import make_frame, store_profiles
from tests.support.runs import reset_env
from zhida.profiles.schema import builtin_schema
from zhida.store.db import session_scope
from zhida.store.models import Notification

POLICY = """id: big
title: 营收过亿企业奖励
audience: enterprise
benefit: {amount: 10万}
criteria:
  - {id: rev, label: 营收不低于1亿元, when: revenue >= 1亿}
"""
ROWS = [
    {
        "id": f"E{i}",
        "name": f"企业{i}",
        "phone": f"+86138000000{i:02d}",
        "revenue": 2e8 if i % 2 else 5e7,
    }
    for i in range(20)
]


@pytest.fixture()
def embedded(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    with session_scope(sqlite_url) as s:
        store_profiles(s, make_frame(ROWS, builtin_schema("enterprise")))
    (tmp_path / "big.yaml").write_text(POLICY, encoding="utf-8")
    env = {
        "POLICY_FILE": str(tmp_path / "big.yaml"),
        "ZHIDA_DATABASE_URL": sqlite_url,
        "ZHIDA_REDIS_URL": "",
        "ZHIDA_SMS_PROVIDER": "file",
        "ZHIDA_SMS_OUTBOX": str(tmp_path / "outbox" / "sms.jsonl"),
        "ZHIDA_SMS_ECHO": "false",
        "ZHIDA_QUIET_START_HOUR": "0",
        "ZHIDA_QUIET_END_HOUR": "0",
        "ZHIDA_DIGEST_MINUTES": "0",  # sent as planned (digests: tests/channels/test_digest.py)
        "ZHIDA_PLAN_AFTER_RUN": "1",
    }
    yield env
    reset_env()


def outbox(env: dict[str, str]) -> list[dict[str, object]]:
    path = Path(env["ZHIDA_SMS_OUTBOX"])
    return (
        [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
        if path.exists()
        else []
    )


def sms_by_status(url: str) -> dict[str, int]:
    with session_scope(url) as s:
        rows = s.execute(
            select(Notification.status, func.count())
            .where(Notification.channel == "sms")
            .group_by(Notification.status)
        ).all()
    return {status: int(n) for status, n in rows}


def publish_and_approve(env: dict[str, str]) -> str:
    tokens = []
    for name, role in (("alice", "author"), ("bob", "approver")):
        result = run_cli("officers", "add", name, "--role", role, env=env)
        assert result.returncode == 0, result.stderr
        tokens.append(result.stdout.strip().splitlines()[-1])
    result = run_cli("publish", env["POLICY_FILE"], "--token", tokens[0], env=env)
    assert result.returncode == 0, result.stderr
    result = run_cli("approve", "big", "--token", tokens[1], "--as-of", "2026-04-01", env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def test_approve_on_the_embedded_default_plans_and_sends(
    sqlite_url: str, embedded: dict[str, str]
) -> None:
    out = publish_and_approve(embedded)
    counts = sms_by_status(sqlite_url)
    sent = outbox(embedded)
    assert sent and counts.get("delivered") == len(sent), (counts, out)
    assert counts.get("queued", 0) == 0 and {x["policy"] for x in sent} == {"big"}
    assert len(sent) == 10
    result = run_cli("notify", env=embedded)  # nothing left
    assert result.returncode == 0 and "no SMS due" in result.stdout
    assert len(outbox(embedded)) == len(sent)


def test_notify_plans_and_sends_what_is_pending(sqlite_url: str, embedded: dict[str, str]) -> None:
    env = {**embedded, "ZHIDA_PLAN_AFTER_RUN": "0"}
    publish_and_approve(env)
    assert sms_by_status(sqlite_url) == {} and outbox(env) == []  # the run alone
    result = run_cli("notify", env=env)
    assert result.returncode == 0, result.stderr
    assert "planned from" in result.stdout and "SMS due:" in result.stdout
    sent = outbox(env)
    assert len(sent) == 10 and sms_by_status(sqlite_url) == {"delivered": 10}
    with session_scope(sqlite_url) as s:  # as if its sender had died before recording it
        row = s.scalars(select(Notification).where(Notification.channel == "sms")).first()
        assert row is not None
        row.status, row.provider_ref = "unsure", None
        row.unsure_since = row.due_at = dt.datetime.now(dt.UTC)
        unsure_id = row.id
    result = run_cli(
        "notify",
        env=env,
    )
    assert result.returncode == 0 and "found 1" in result.stdout, result.stdout
    assert len(outbox(env)) == 10 and sms_by_status(sqlite_url) == {"delivered": 10}
    with session_scope(sqlite_url) as s:  # the outbox held it: recorded, not sent again
        found = s.get(Notification, unsure_id)
        assert found is not None and "holds" in (found.last_error or "")
    result = run_cli("notify", env=env)
    assert result.returncode == 0 and "no SMS due" in result.stdout
    assert len(outbox(env)) == 10
