"""From a publish to SMS in the outbox, on the embedded default; a re-run sends nothing twice."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support.factories import make_frame, store_profiles
from zhida.profiles.schema import builtin_schema
from zhida.publishing.officers import add_officer
from zhida.publishing.versions import approve, submit
from zhida.settings import get_settings
from zhida.store.db import session_scope
from zhida.store.models import InboxMessage, Notification

POLICY = """id: big
title: 营收过亿企业奖励
audience: enterprise
benefit: {amount: 10万}
criteria:
  - {id: rev, label: 营收不低于1亿元, when: revenue >= 1亿}
"""


@pytest.fixture()
def embedded(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    outbox = tmp_path / "outbox" / "sms.jsonl"
    for name, value in {
        "ZHIDA_DATABASE_URL": sqlite_url,
        "ZHIDA_REDIS_URL": "",
        "ZHIDA_SMS_PROVIDER": "file",
        "ZHIDA_SMS_OUTBOX": str(outbox),
        "ZHIDA_SMS_ECHO": "false",
        "ZHIDA_QUIET_START_HOUR": "0",
        "ZHIDA_QUIET_END_HOUR": "0",
        "ZHIDA_DIGEST_MINUTES": "0",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    from zhida.channels.delivery.sender import set_runtime
    from zhida.worker import configure

    configure(get_settings())
    set_runtime(None)
    yield outbox
    set_runtime(None)
    get_settings.cache_clear()


def publish_and_notify(url: str) -> int:
    from zhida.worker import plan_and_queue, start_new_run

    with session_scope(url) as s:
        author, _ = add_officer(s, "a", "author")
        approver, _ = add_officer(s, "b", "approver")
        draft = submit(s, author, POLICY, "big.yaml")
        approve(s, approver, draft, None)
        version_id = draft.id
    start_new_run("enterprise", [version_id], dt.date(2026, 4, 1))
    plan_and_queue()
    return version_id


def test_publish_sends_each_sms_once_and_a_rerun_sends_nothing(
    sqlite_url: str, embedded: Path
) -> None:
    from zhida.worker import plan_and_queue, start_new_run

    rows = [
        {
            "id": f"E{i}",
            "name": f"企业{i}",
            "phone": f"+86138000000{i:02d}",
            "revenue": 2e8 if i % 2 else 5e7,
        }
        for i in range(10)
    ]
    with session_scope(sqlite_url) as s:
        store_profiles(s, make_frame(rows, builtin_schema("enterprise")))
    version_id = publish_and_notify(sqlite_url)
    lines = [json.loads(x) for x in embedded.read_text(encoding="utf-8").splitlines()]
    assert sorted(x["profile"] for x in lines) == ["E1", "E3", "E5", "E7", "E9"]
    assert all(
        x["policy"] == "big" and x["link"] in x["body"] and x["segments"] == 2 for x in lines
    )
    # the same publish runs again (a re-delivered run, a restarted operator): nothing new
    start_new_run("enterprise", [version_id], dt.date(2026, 4, 1))
    plan_and_queue()
    assert len(embedded.read_text(encoding="utf-8").splitlines()) == 5
    with session_scope(sqlite_url) as s:
        assert s.scalar(select(func.count()).select_from(Notification)) == 10
        assert s.scalar(select(func.count()).select_from(InboxMessage)) == 5
