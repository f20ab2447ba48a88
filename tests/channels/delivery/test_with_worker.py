"""End to end with the real pieces: a Celery worker subprocess on a private Redis,
PostgreSQL, the official twilio SDK talking to the local fake Twilio server, and the
web app under uvicorn receiving the fake's signed status callbacks."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import select

from tests.conftest import migrated_database
from tests.support.app_factories import app_for
from tests.support.celery_worker import CeleryWorker
from tests.support.factories import notification, true_notifications
from tests.support.fake_twilio import INVALID_NUMBER, UNSUBSCRIBED_NUMBER, FakeTwilio
from tests.support.private_redis import PrivateRedis
from tests.support.scratch import clear_sms_tables
from tests.support.waiting import wait_until
from tests.support.web_app import WebApp
from zhida.channels import optout
from zhida.settings import Settings
from zhida.store.db import session_scope
from zhida.store.models import FeedbackEvent, Notification
from zhida.worker import TASK_ROUTES, TaskNames

DISPATCH, SEND, SEND_BATCH, SWEEP = (
    TaskNames.DISPATCH,
    TaskNames.SEND,
    TaskNames.SEND_BATCH,
    TaskNames.SWEEP,
)

FROM = "+15005550006"
_numbers = itertools.count(1)


def number() -> str:
    return f"+86139{next(_numbers):08d}"


@dataclass
class Stack:
    url: str
    fake: FakeTwilio
    web: WebApp
    broker: Celery
    worker: CeleryWorker

    def send(self, nid: int) -> None:
        self.broker.send_task(SEND, args=[nid])


@pytest.fixture(scope="module")
def stack(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log = Path(tmp_path_factory.mktemp("worker")) / "worker.log"
    with (
        migrated_database(pg_admin_url, "zhida_sms") as url,
        PrivateRedis() as redis_server,
        FakeTwilio(callback_delay=0.05, lifetime=300) as fake,
    ):
        settings_box: list[Settings] = []
        app = app_for(url, lambda: settings_box[0])
        with WebApp(app) as web:
            env = {
                "ZHIDA_DATABASE_URL": url,
                "ZHIDA_REDIS_URL": redis_server.url,
                "ZHIDA_SMS_PROVIDER": "twilio",
                "ZHIDA_TWILIO_ACCOUNT_SID": fake.account_sid,
                "ZHIDA_TWILIO_AUTH_TOKEN": fake.auth_token,
                "ZHIDA_TWILIO_FROM": FROM,
                "ZHIDA_TWILIO_BASE_URL": fake.url,
                "ZHIDA_BASE_URL": web.url,
                "ZHIDA_QUIET_START_HOUR": "0",
                "ZHIDA_QUIET_END_HOUR": "0",
                "ZHIDA_SEND_BACKOFF_SECONDS": "0.2",
                "ZHIDA_SEND_MAX_RETRIES": "4",
                "ZHIDA_SMS_RATE_PER_SECOND": "500",
                "ZHIDA_SWEEP_AFTER_SECONDS": "300",
            }
            settings_box.append(
                Settings(
                    database_url=url,
                    redis_url=redis_server.url,
                    base_url=web.url,
                    twilio_auth_token=fake.auth_token,
                )
            )
            broker = Celery("zhida-test-client", broker=redis_server.url, set_as_current=False)
            broker.conf.task_routes = TASK_ROUTES  # as zhida.worker routes them
            with CeleryWorker(env, pool="threads", concurrency=8, log_path=log) as worker:
                yield Stack(url, fake, web, broker, worker)
            broker.close()
    if log.exists() and "Traceback" in log.read_text(errors="replace"):
        print(log.read_text(errors="replace")[-5000:])


@pytest.fixture()
def s(stack: Stack) -> Stack:
    clear_sms_tables(stack.url)
    return stack


def add_sms(
    url: str, to: str, *, status: str = "queued", due: dt.datetime | None = None, **kw: Any
) -> int:
    with session_scope(url) as session:
        row = notification(
            profile_id=f"E{to[-6:]}",
            status=status,
            to=to,
            due_at=due or dt.datetime.now(dt.UTC),
            **kw,
        )
        true_notifications(session, [row])
        return row.id


def row_of(url: str, nid: int) -> Notification:
    with session_scope(url) as session:
        row = session.get(Notification, nid)
        assert row is not None
        return row


def wait_status(url: str, nid: int, status: str, timeout: float = 15.0) -> Notification:
    wait_until(lambda: row_of(url, nid).status == status, timeout=timeout, interval=0.05)
    return row_of(url, nid)


def kinds(url: str, profile_id: str) -> list[str]:
    with session_scope(url) as session:
        return list(
            session.scalars(
                select(FeedbackEvent.kind)
                .where(FeedbackEvent.profile_id == profile_id)
                .order_by(FeedbackEvent.id)
            )
        )


def test_twilio_end_to_end_created_sent_delivered(s: Stack) -> None:
    to = number()
    nid = add_sms(s.url, to)
    s.send(nid)
    row = wait_status(s.url, nid, "delivered")
    [message] = s.fake.messages_to(to)
    assert row.provider_ref == message.sid and row.attempts == 1
    assert message.from_ == FROM and message.body.startswith("【浙里办】")
    assert message.status_callback == s.web.url + "/webhooks/twilio/status"
    callbacks = s.fake.callbacks_for(message.sid)
    assert [c.params["MessageStatus"] for c in callbacks] == ["sent", "delivered"]
    assert all(c.http_status == 200 for c in callbacks)
    assert kinds(s.url, row.profile_id) == ["sent", "delivered"]


def test_a_task_run_several_times_calls_the_provider_once(s: Stack) -> None:
    to = number()
    nid = add_sms(s.url, to)
    for _ in range(5):
        s.send(nid)
    wait_status(s.url, nid, "delivered")
    wait_until(lambda: len(s.fake.callbacks) >= 2)
    assert len(s.fake.requests_to(to)) == 1
    s.send(nid)  # long after: still nothing
    other = add_sms(s.url, number())
    s.send(other)
    wait_status(s.url, other, "delivered")  # the worker has got past the late duplicate
    assert len(s.fake.requests_to(to)) == 1


@pytest.mark.parametrize("http_status", [429, 500])
def test_transient_errors_are_retried_then_delivered(s: Stack, http_status: int) -> None:
    to = number()
    s.fake.fail(to, http_status, times=2)
    nid = add_sms(s.url, to)
    s.send(nid)
    row = wait_status(s.url, nid, "delivered")
    attempts = s.fake.requests_to(to)
    assert [a.http_status for a in attempts] == [http_status, http_status, 201]
    assert attempts[1].at - attempts[0].at >= 0.15  # backoff 0.2 s x 2^0, -20%
    assert attempts[2].at - attempts[1].at >= 0.3  # 0.2 x 2^1, -20%
    assert row.attempts == 3 and str(http_status) in (row.last_error or "2")


@pytest.mark.parametrize(
    ("to", "code"), [(INVALID_NUMBER, "21211"), (UNSUBSCRIBED_NUMBER, "21610")]
)
def test_permanent_errors_are_not_retried(s: Stack, to: str, code: str) -> None:
    nid = add_sms(s.url, to)
    s.send(nid)
    row = wait_status(s.url, nid, "failed")
    assert code in (row.last_error or "") and row.attempts == 1
    s.send(nid)
    other = add_sms(s.url, number())
    s.send(other)
    wait_status(s.url, other, "delivered")
    assert len(s.fake.requests_to(to)) == 1
    with session_scope(s.url) as session:
        assert optout.is_opted_out(session, to) is (code == "21610")


def test_undelivered_receipts_fail_the_row(s: Stack) -> None:
    to = number()
    s.fake.outcome(to, "undelivered", error_code="30005")
    nid = add_sms(s.url, to)
    s.send(nid)
    row = wait_status(s.url, nid, "failed")
    assert "30005" in (row.last_error or "") and kinds(s.url, row.profile_id) == ["sent"]


def test_duplicated_out_of_order_receipts_from_twilio(s: Stack) -> None:
    to = number()
    s.fake.outcome(to, "delivered", duplicate=True, out_of_order=True)
    nid = add_sms(s.url, to)
    s.send(nid)
    row = wait_status(s.url, nid, "delivered")
    sid = row.provider_ref or ""
    callbacks = wait_until(
        lambda: (lambda c: c if len(c) == 3 else None)(s.fake.callbacks_for(sid))
    )
    assert [c.params["MessageStatus"] for c in callbacks] == ["delivered", "sent", "delivered"]
    assert all(c.http_status == 200 for c in callbacks)
    assert row_of(s.url, nid).status == "delivered"
    assert kinds(s.url, row.profile_id) == ["sent", "delivered"]


def test_dispatch_due_and_sweep_through_the_worker(s: Stack) -> None:
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(minutes=30)
    deferred = add_sms(s.url, number(), status="deferred", due=now - dt.timedelta(seconds=1))
    lost = add_sms(s.url, number(), due=old, updated_at=old)
    stuck_to = number()
    stuck = add_sms(s.url, stuck_to, status="sending", due=old, updated_at=old)
    s.broker.send_task(DISPATCH)
    wait_status(s.url, deferred, "delivered")
    assert row_of(s.url, lost).status == "queued"  # the dispatcher leaves lost rows alone
    s.broker.send_task(SWEEP)
    wait_status(s.url, lost, "delivered")
    row = wait_status(s.url, stuck, "failed")
    assert "not resent" in (row.last_error or "")
    assert s.fake.requests_to(stuck_to) == []


def test_batches_overlapping_with_singles_send_each_row_once(s: Stack) -> None:
    numbers = [number() for _ in range(12)]
    ids = [add_sms(s.url, to) for to in numbers]
    s.broker.send_task(SEND_BATCH, args=[ids[:8]])
    s.broker.send_task(SEND_BATCH, args=[ids[4:]])
    for nid in ids[::3]:
        s.send(nid)
    for nid in ids:
        wait_status(s.url, nid, "delivered")
    assert [len(s.fake.requests_to(to)) for to in numbers] == [1] * 12
