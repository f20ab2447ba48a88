"""Issue 14, end to end on PostgreSQL with real Celery workers and Redis: v1 is
published and planned during quiet hours (SMS deferred to 08:00), a stricter v2 is
published before the morning, and at 08:00 (an injected clock, shared by the workers)
every SMS that goes out is true under v2, and none goes twice."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import func, select

from tests.conftest import migrated_database
from tests.support.celery_worker import CeleryWorker
from tests.support.private_redis import PrivateRedis
from tests.support.runs import PACK_DIR, population, reset_env, seed_profiles, use_env
from tests.support.waiting import wait_until
from zhida.clock import CLOCK_FILE_ENV, SHANGHAI, set_clock_file
from zhida.matcher.reference import evaluate_policy
from zhida.publishing.catalogue import compiled
from zhida.publishing.officers import add_officer
from zhida.publishing.versions import approve, submit
from zhida.store.db import session_scope
from zhida.store.models import ApplicationToken, Notification, PolicyVersion, Run, Transition
from zhida.worker import TASK_ROUTES, TaskNames, start_new_run

POLICY = "zj-tech-sme"
V1 = (PACK_DIR / f"{POLICY}.yaml").read_text(encoding="utf-8")
# stricter: tax credit C is excluded too
V2 = V1.replace(
    'label: 未发生严重失信行为（纳税信用等级非D级）\n    when: tax_credit not in ["D"]',
    'label: 纳税信用等级非C级、D级\n    when: tax_credit not in ["C", "D"]',
)
EVENING = dt.datetime(2026, 5, 6, 21, 0, tzinfo=SHANGHAI)  # quiet hours
DAWN = dt.datetime(2026, 5, 7, 6, 11, tzinfo=SHANGHAI)  # still quiet
MORNING = dt.datetime(2026, 5, 7, 8, 0, 5, tzinfo=SHANGHAI)


def publish(url: str, text: str) -> int:
    schema = (PACK_DIR / "schema.yaml").read_text(encoding="utf-8")
    with session_scope(url) as s:
        officer, _ = add_officer(s, f"admin{len(text)}", "admin")
        version = submit(s, officer, text, f"{POLICY}.yaml", schema)
        approve(s, officer, version, None, allow_self_approval=True)
        return version.id


def settled(url: str, run_id: int) -> bool:
    """The run is done and its transitions into eligibility are planned."""
    with session_scope(url) as s:
        run = s.get(Run, run_id)
        pending = s.scalar(
            select(func.count())
            .select_from(Transition)
            .where(Transition.notified.is_(False), Transition.to_outcome > 0)
        )
        return run is not None and run.status == "done" and pending == 0


def sms_states(url: str) -> Counter[str]:
    with session_scope(url) as s:
        rows = s.execute(
            select(Notification.status, func.count())
            .where(Notification.channel == "sms")
            .group_by(Notification.status)
        ).all()
        return Counter({status: int(n) for status, n in rows})


def test_a_stricter_version_before_the_morning_sends_only_what_is_true(
    pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert V2 != V1
    clock = tmp_path / "clock"
    set_clock_file(clock, EVENING)
    monkeypatch.setenv(CLOCK_FILE_ENV, str(clock))
    outbox = tmp_path / "outbox" / "sms.jsonl"
    frame = population(1500, seed=7)
    with migrated_database(pg_admin_url, "zhida_e2e") as url, PrivateRedis() as redis_server:
        use_env(monkeypatch, url, redis_server.url, chunk_size=400)
        seed_profiles(url, frame)
        env = {
            "ZHIDA_DATABASE_URL": url,
            "ZHIDA_REDIS_URL": redis_server.url,
            "ZHIDA_SMS_PROVIDER": "file",
            "ZHIDA_SMS_OUTBOX": str(outbox),
            "ZHIDA_SMS_ECHO": "false",
            "ZHIDA_CHUNK_SIZE": "400",
            CLOCK_FILE_ENV: str(clock),
        }
        broker = Celery("zhida-e2e-client", broker=redis_server.url, set_as_current=False)
        broker.conf.task_routes = TASK_ROUTES
        workers = [
            CeleryWorker(env, concurrency=4, name=f"e2e{k}", log_path=tmp_path / f"w{k}.log")
            for k in range(2)
        ]
        try:
            for w in workers:
                w.start()
            v1 = publish(url, V1)
            run1 = start_new_run("enterprise", [v1], EVENING.date())
            wait_until(lambda: settled(url, run1), timeout=120, interval=0.2)
            planned = sms_states(url)
            assert planned["deferred"] > 50 and not planned["queued"]  # quiet hours

            set_clock_file(clock, DAWN)
            v2 = publish(url, V2)
            run2 = start_new_run("enterprise", [v2], DAWN.date())
            wait_until(lambda: settled(url, run2), timeout=120, interval=0.2)
            assert not outbox.exists()  # nothing sent at night

            set_clock_file(clock, MORNING)
            broker.send_task(TaskNames.DISPATCH)
            wait_until(
                lambda: not (set(sms_states(url)) & {"queued", "deferred", "sending"}),
                timeout=120,
                interval=0.2,
            )
        finally:
            for w in workers:
                w.stop()
            broker.close()
            reset_env()
        lines = [json.loads(x) for x in outbox.read_text(encoding="utf-8").splitlines()]
        with session_scope(url) as s:
            policy_v2 = compiled(s.get(PolicyVersion, v2)).policy  # type: ignore[arg-type]
            cancelled = s.execute(
                select(Notification.profile_id, Notification.last_error).where(
                    Notification.channel == "sms", Notification.status == "cancelled"
                )
            ).all()
            bound = {
                h: v
                for h, v in s.execute(
                    select(ApplicationToken.token_hash, ApplicationToken.policy_version_id)
                )
            }
            final = sms_states(url)
    rows = {r["id"]: r for r in frame.iter_rows(named=True)}

    def eligible_v2(pid: str) -> bool:
        return evaluate_policy(policy_v2, rows[pid], MORNING.date()).outcome == "eligible"

    sent = Counter(line["profile"] for line in lines)
    assert sent and max(sent.values()) == 1  # none twice
    assert all(eligible_v2(pid) for pid in sent)  # every one true under v2
    # the others planned under v1 were cancelled, with the reason, and were indeed
    # ineligible under v2 (tax credit C)
    assert cancelled and {e for _, e in cancelled} == {
        "no longer eligible under the current version v2"
    }
    assert all(not eligible_v2(pid) and rows[pid]["tax_credit"] == "C" for pid, _ in cancelled)
    assert final["delivered"] == len(lines) == planned["deferred"] - len(cancelled)  # none lost
    for line in lines:  # the text names v2's link, minted at send time
        token = re.search(r"/a/([A-Za-z0-9_-]+)", line["body"])
        assert token is not None and line["link"].endswith(token.group(1))
        assert bound[hashlib.sha256(token.group(1).encode()).hexdigest()] == v2
        assert "纳税信用" not in line["body"] and line["segments"] >= 1
