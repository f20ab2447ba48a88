"""SMS delivery on real PostgreSQL (and SQLite for the claim): the claim, at most one
provider call per row, retries with backoff, permanent failures, opt-outs, quiet
hours, the rate limiter giving a claim back, receipts, dispatch_due and sweep."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from tests.conftest import migrated_database
from tests.support.factories import notification, true_notifications
from tests.support.scratch import clear_sms_tables
from zhida.channels import optout
from zhida.channels.delivery import batch, receipts, schedule
from zhida.channels.delivery.receipts import apply_receipt
from zhida.channels.delivery.steps import Outcome
from zhida.channels.delivery.sweep import dispatch_due, sweep
from zhida.channels.ratelimit import LocalTokenBucket, RateLimited
from zhida.channels.sms import FileSink, ProviderError, RecordingProvider, SendResult
from zhida.settings import Settings
from zhida.store.db import session_scope
from zhida.store.models import FeedbackEvent, Notification, OptOut

TO = "+8613800000001"
UTC = dt.UTC
_profiles = itertools.count(1)


@pytest.fixture(scope="module")
def module_pg(pg_admin_url: str) -> Iterator[str]:
    with migrated_database(pg_admin_url, "zhida_sms") as url:
        yield url


@pytest.fixture()
def url(module_pg: str) -> str:
    clear_sms_tables(module_pg)
    return module_pg


def make_settings(**kw: Any) -> Settings:
    values: dict[str, Any] = {
        "quiet_start_hour": 0,
        "quiet_end_hour": 0,  # no quiet hours
        "send_backoff_seconds": 0.05,
        "send_max_retries": 3,
        "sms_rate_per_second": 10_000,
        "sweep_after_seconds": 300,
    }
    values.update(kw)
    return Settings(**values)


def add_sms(
    url: str,
    n: int = 1,
    *,
    to: str | None = TO,
    status: str = "queued",
    due: dt.datetime | None = None,
    channel: str = "sms",
    **kw: Any,
) -> list[int]:
    now = dt.datetime.now(UTC)
    with session_scope(url) as s:
        rows = [
            notification(
                profile_id=f"E{next(_profiles)}",
                channel=channel,
                status=status,
                to=to,
                due_at=due or now,
                **kw,
            )
            for i in range(n)
        ]
        true_notifications(s, rows)
        return [r.id for r in rows]


def get(url: str, nid: int) -> Notification:
    with session_scope(url) as s:
        row = s.get(Notification, nid)
        assert row is not None
        return row


def events(url: str, kind: str | None = None) -> list[FeedbackEvent]:
    with session_scope(url) as s:
        stmt = select(FeedbackEvent).order_by(FeedbackEvent.id)
        if kind:
            stmt = stmt.where(FeedbackEvent.kind == kind)
        return list(s.scalars(stmt))


def send(
    url: str,
    nid: int,
    provider: Any,
    settings: Settings | None = None,
    *,
    bucket: Any = None,
    stash: Any = None,
) -> Outcome:
    return batch.send_sms_notification(
        nid,
        sessions=functools.partial(session_scope, url),
        provider=provider,
        bucket=bucket or LocalTokenBucket(1e6),
        settings=settings or make_settings(),
        stash=stash,
    )


def as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- the claim: at most one provider call per row ---------------------------------------------


def test_send_records_sent_and_a_second_run_does_nothing(url: str) -> None:
    [nid] = add_sms(url)
    provider = RecordingProvider()
    first = send(url, nid, provider)
    assert first.action == "sent" and first.provider_ref == provider.sent[0].provider_ref
    row = get(url, nid)
    assert (row.status, row.provider_ref, row.attempts) == ("sent", first.provider_ref, 1)
    assert row.sent_at is not None
    assert send(url, nid, provider).action == "not_claimed"
    assert len(provider.calls) == 1
    sent = provider.sent[0]
    assert (sent.to, sent.reference) == (TO, str(nid))
    link = sent.meta["link"]
    assert sent.meta == {
        "profile": row.profile_id,
        "policy": "zj-little-giant",
        "segments": row.segments,
        "link": link,
        "notification": nid,
    }
    assert link.startswith("http://127.0.0.1:8000/a/") and link in sent.body
    [event] = events(url)
    assert (event.kind, event.profile_id, event.policy_id) == (
        "sent",
        row.profile_id,
        "zj-little-giant",
    )
    assert event.detail["provider_ref"] == first.provider_ref


def test_concurrent_tasks_for_one_row_call_the_provider_once(url: str) -> None:
    ids = add_sms(url, 3)
    provider = RecordingProvider(delay=0.05)
    barrier = threading.Barrier(12)
    outcomes: list[str] = []

    def task(nid: int) -> None:
        barrier.wait()
        outcomes.append(send(url, nid, provider).action)

    threads = [threading.Thread(target=task, args=(ids[i % 3],)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(provider.calls) == sorted(str(i) for i in ids)
    assert outcomes.count("sent") == 3 and outcomes.count("not_claimed") == 9


def test_claim_works_on_sqlite_too(sqlite_url: str) -> None:
    [nid] = add_sms(sqlite_url)
    provider = RecordingProvider()
    assert send(sqlite_url, nid, provider).action == "sent"
    assert send(sqlite_url, nid, provider).action == "not_claimed"
    assert get(sqlite_url, nid).status == "sent" and len(provider.calls) == 1


@pytest.mark.parametrize(
    "status", ["deferred", "sending", "sent", "delivered", "failed", "skipped"]
)
def test_only_queued_rows_are_sent(url: str, status: str) -> None:
    [nid] = add_sms(url, status=status)
    provider = RecordingProvider()
    assert send(url, nid, provider).action == "not_claimed"
    assert provider.calls == [] and get(url, nid).status == status


def test_rows_not_yet_due_and_inapp_rows_are_not_sent(url: str) -> None:
    [later] = add_sms(url, due=dt.datetime.now(UTC) + dt.timedelta(minutes=5))
    [inapp] = add_sms(url, channel="inapp")
    provider = RecordingProvider()
    assert send(url, later, provider).action == "not_claimed"
    assert send(url, inapp, provider).action == "not_claimed"
    assert send(url, 999_999, provider).action == "not_claimed"
    assert provider.calls == []


def test_opted_out_and_missing_numbers_are_skipped(url: str) -> None:
    [opted, nophone, fine] = add_sms(url, 3)
    with session_scope(url) as s:
        s.execute(update(Notification).where(Notification.id == nophone).values(to=None))
        optout.record(s, TO + "9", True, "TD")
        s.execute(update(Notification).where(Notification.id == opted).values(to=TO + "9"))
    provider = RecordingProvider()
    assert send(url, opted, provider).detail == "opted_out"
    assert send(url, nophone, provider).detail == "no_phone"
    assert send(url, fine, provider).action == "sent"
    assert [(get(url, i).status, get(url, i).last_error) for i in (opted, nophone)] == [
        ("skipped", "opted_out"),
        ("skipped", "no_phone"),
    ]
    assert provider.calls == [str(fine)]


# --- errors ------------------------------------------------------------------------------------


def test_a_retryable_error_requeues_with_backoff_then_sends(url: str) -> None:
    [nid] = add_sms(url)
    provider = RecordingProvider()
    provider.fail(TO, ProviderError("Too Many Requests", 20429, True), times=2)
    settings = make_settings(send_backoff_seconds=0.2)
    before = dt.datetime.now(UTC)
    first = send(url, nid, provider, settings)
    assert first.action == "retry" and first.retry_in is not None
    assert 0.16 <= first.retry_in <= 0.24  # backoff x 2^0, +-20%
    row = get(url, nid)
    assert (row.status, row.attempts) == ("queued", 1) and "20429" in (row.last_error or "")
    assert as_utc(row.due_at) >= before + dt.timedelta(seconds=0.16)
    assert send(url, nid, provider, settings).action == "not_claimed"  # not due yet
    time.sleep(first.retry_in + 0.02)
    second = send(url, nid, provider, settings)
    assert second.action == "retry" and second.retry_in is not None
    assert 0.32 <= second.retry_in <= 0.48  # x 2^1
    time.sleep(second.retry_in + 0.02)
    assert send(url, nid, provider, settings).action == "sent"
    row = get(url, nid)
    assert (row.status, row.attempts) == ("sent", 3) and len(provider.calls) == 3


def test_retries_are_bounded_then_the_row_fails(url: str) -> None:
    [nid] = add_sms(url)
    provider = RecordingProvider()
    provider.fail(TO, ProviderError("Internal Server Error", 20500, True))
    settings = make_settings(send_max_retries=2, send_backoff_seconds=0.01)
    actions = []
    for _ in range(10):
        outcome = send(url, nid, provider, settings)
        actions.append(outcome.action)
        if outcome.action == "failed":
            break
        time.sleep((outcome.retry_in or 0) + 0.01)
    assert actions == ["retry", "retry", "failed"]
    row = get(url, nid)
    assert (row.status, row.attempts) == ("failed", 3)
    assert (row.last_error or "").startswith("gave up after 3 attempts")
    assert send(url, nid, provider, settings).action == "not_claimed"
    assert len(provider.calls) == 3 and events(url) == []


@pytest.mark.parametrize(
    ("code", "opted_out"), [("21211", False), ("21610", True), ("20003", False)]
)
def test_a_permanent_error_fails_at_once(url: str, code: str, opted_out: bool) -> None:
    [nid] = add_sms(url)
    provider = RecordingProvider()
    provider.fail(TO, ProviderError("no", code, False))
    outcome = send(url, nid, provider)
    assert outcome.action == "failed"
    row = get(url, nid)
    assert (row.status, row.attempts) == ("failed", 1) and code in (row.last_error or "")
    assert send(url, nid, provider).action == "not_claimed" and len(provider.calls) == 1
    with session_scope(url) as s:
        assert optout.is_opted_out(s, TO) is opted_out


def test_an_unexpected_provider_exception_counts_as_transient(url: str) -> None:
    class Broken(RecordingProvider):
        def send_sms(
            self, to: str, body: str, reference: str, *, meta: Mapping[str, Any] | None = None
        ) -> SendResult:
            raise RuntimeError("bug")

    [nid] = add_sms(url)
    assert send(url, nid, Broken()).action == "retry"
    assert get(url, nid).status == "queued"


# --- rate limiter, quiet hours -------------------------------------------------------------------


class FullBucket:
    rate = 1.0

    def __init__(self, error: Exception):
        self.error = error

    def acquire(self, n: int = 1, *, max_wait: float | None = None) -> float:
        raise self.error


@pytest.mark.parametrize("error", [RateLimited(42.0), ConnectionError("redis down")])
def test_a_claim_is_given_back_when_the_rate_limiter_says_no(url: str, error: Exception) -> None:
    [nid] = add_sms(url)
    provider = RecordingProvider()
    before = dt.datetime.now(UTC)
    outcome = send(url, nid, provider, bucket=FullBucket(error))
    assert outcome.action == "released" and provider.calls == []
    row = get(url, nid)
    assert (row.status, row.attempts) == ("queued", 0)  # no attempt counted
    wait = 42.0 if isinstance(error, RateLimited) else 5.0
    assert as_utc(row.due_at) >= before + dt.timedelta(seconds=wait - 1)


def test_the_sender_waits_for_the_bucket(url: str) -> None:
    ids = add_sms(url, 4)
    provider = RecordingProvider()
    bucket = LocalTokenBucket(20.0)
    start = time.monotonic()
    for nid in ids:
        assert send(url, nid, provider, bucket=bucket).action == "sent"
    assert time.monotonic() - start >= 0.14  # 3 waits of 1/20 s


def test_quiet_hours_defer_to_the_morning(url: str) -> None:
    sh = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    if sh.minute == 59 and sh.second > 50:
        time.sleep(11)  # do not straddle the hour
        sh = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    settings = make_settings(quiet_start_hour=sh.hour, quiet_end_hour=(sh.hour + 1) % 24)
    [nid] = add_sms(url)
    provider = RecordingProvider()
    outcome = send(url, nid, provider, settings)
    assert outcome.action == "deferred" and provider.calls == []
    row = get(url, nid)
    morning = sh.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    assert row.status == "deferred" and as_utc(row.due_at) == morning.astimezone(UTC)
    [overdue] = add_sms(url, status="deferred", due=dt.datetime.now(UTC) - dt.timedelta(hours=1))
    with session_scope(url) as s:  # nothing is dispatched in quiet hours either
        assert dispatch_due(s, settings) == []
    with session_scope(url) as s:
        assert dispatch_due(s, make_settings()) == [overdue]


def test_quiet_until() -> None:
    settings = make_settings(quiet_start_hour=20, quiet_end_hour=8)
    sh = ZoneInfo("Asia/Shanghai")
    at = functools.partial(dt.datetime, 2026, 3, 2, tzinfo=sh)
    assert schedule.quiet_until(at(12), settings) is None
    assert schedule.quiet_until(at(21), settings) == dt.datetime(2026, 3, 3, 8, tzinfo=sh)
    assert schedule.quiet_until(at(3), settings) == dt.datetime(2026, 3, 2, 8, tzinfo=sh)
    assert schedule.quiet_until(at(8), settings) is None
    assert schedule.quiet_until(at(3), make_settings()) is None  # start == end: none


# --- the file sink ends at "delivered" ------------------------------------------------------------


def test_the_file_sink_delivers_at_once(url: str, tmp_path: Path) -> None:
    [nid] = add_sms(url)
    out = tmp_path / "sms.jsonl"
    assert send(url, nid, FileSink(out, echo=False)).action == "delivered"
    row = get(url, nid)
    assert (row.status, row.provider_ref) == ("delivered", f"file-{nid}")
    assert [e.kind for e in events(url)] == ["sent", "delivered"]
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1


# --- receipts ----------------------------------------------------------------------------------


def test_receipts_move_forward_only(url: str) -> None:
    a, b = add_sms(url, 2)
    provider = RecordingProvider()
    ref_a = send(url, a, provider).provider_ref
    ref_b = send(url, b, provider).provider_ref
    assert ref_a and ref_b
    with session_scope(url) as s:
        assert apply_receipt(s, ref_a, "queued") == "ignored"
        assert apply_receipt(s, ref_a, "sent") == "ignored"  # already sent
        assert apply_receipt(s, ref_a, "delivered") == "delivered"
        assert apply_receipt(s, ref_a, "delivered") == "ignored"  # duplicate
        assert apply_receipt(s, ref_a, "undelivered", "30003") == "ignored"  # final
        assert apply_receipt(s, ref_a, "sent") == "ignored"
        assert apply_receipt(s, ref_b, "undelivered", "30005") == "failed"
        assert apply_receipt(s, ref_b, "delivered") == "ignored"  # failed is final
        assert apply_receipt(s, "SMnope", "delivered") == "unknown"
    assert (get(url, a).status, get(url, b).status) == ("delivered", "failed")
    assert "30005" in (get(url, b).last_error or "")
    assert [e.kind for e in events(url)] == ["sent", "sent", "delivered"]


def test_a_21610_receipt_records_an_opt_out(url: str) -> None:
    [nid] = add_sms(url)
    ref = send(url, nid, RecordingProvider()).provider_ref
    assert ref
    with session_scope(url) as s:
        assert apply_receipt(s, ref, "failed", "21610") == "failed"
        assert optout.is_opted_out(s, TO)


def test_a_receipt_arriving_before_the_sender_records_is_applied(url: str) -> None:
    stash = receipts.MemoryReceiptStash()
    sessions = functools.partial(session_scope, url)

    class Quick(RecordingProvider):
        """Twilio may call back before create() has even returned."""

        def send_sms(
            self, to: str, body: str, reference: str, *, meta: Mapping[str, Any] | None = None
        ) -> SendResult:
            result = super().send_sms(to, body, reference, meta=meta)
            assert (
                receipts.receive_receipt(sessions, stash, result.provider_ref, "delivered")
                == "unknown"
            )
            return result

    [nid] = add_sms(url)
    outcome = send(url, nid, Quick(), stash=stash)
    assert outcome.action == "sent"
    assert get(url, nid).status == "delivered"
    assert [e.kind for e in events(url)] == ["sent", "delivered"]
    assert outcome.provider_ref and stash.pop(outcome.provider_ref) == []


def test_redis_receipt_stash(redis_url: str) -> None:
    import uuid

    stash = receipts.RedisReceiptStash.from_url(redis_url)
    ref = "SM" + uuid.uuid4().hex
    stash.put(ref, "sent", "")
    stash.put(ref, "undelivered", "30003")
    assert stash.pop(ref) == [("sent", ""), ("undelivered", "30003")]
    assert stash.pop(ref) == []


# --- dispatch_due and sweep ---------------------------------------------------------------------


def test_dispatch_due_queues_deferred_and_retry_rows_once(url: str) -> None:
    now = dt.datetime.now(UTC)
    settings = make_settings()
    [deferred_due] = add_sms(url, status="deferred", due=now - dt.timedelta(minutes=1))
    [deferred_later] = add_sms(url, status="deferred", due=now + dt.timedelta(hours=1))
    [fresh] = add_sms(url)  # queued with its task: not the dispatcher's
    [retry] = add_sms(
        url,
        due=now - dt.timedelta(seconds=1),
        updated_at=now - dt.timedelta(seconds=10),
        attempts=1,
    )
    [sending] = add_sms(url, status="sending", due=now - dt.timedelta(minutes=1))
    with session_scope(url) as s:
        assert sorted(dispatch_due(s, settings, now=now)) == sorted([deferred_due, retry])
    assert get(url, deferred_due).status == "queued"
    assert get(url, deferred_later).status == "deferred"
    assert (get(url, fresh).status, get(url, sending).status) == ("queued", "sending")
    with session_scope(url) as s:  # the next pass does not queue them again
        assert dispatch_due(s, settings, now=now + dt.timedelta(seconds=30)) == []
    with session_scope(url) as s:  # the later one, when its time comes
        assert dispatch_due(s, settings, now=now + dt.timedelta(hours=2)) == [deferred_later]


def test_a_retry_left_to_the_dispatcher_is_sent_when_due(url: str) -> None:
    [nid] = add_sms(url)
    provider = RecordingProvider()
    provider.fail(TO, ProviderError("busy", 429, True), times=1)
    settings = make_settings(send_backoff_seconds=100)
    assert send(url, nid, provider, settings).action == "retry"
    due = as_utc(get(url, nid).due_at)
    with session_scope(url) as s:
        assert dispatch_due(s, settings) == []
    with session_scope(url) as s:
        assert dispatch_due(s, settings, now=due + dt.timedelta(seconds=1)) == [nid]
    with session_scope(url) as s:  # as if now were past due_at
        s.execute(update(Notification).values(due_at=dt.datetime.now(UTC)))
    assert send(url, nid, provider, settings).action == "sent"


def test_sweep_requeues_lost_rows_and_fails_stuck_sending_ones(url: str) -> None:
    now = dt.datetime.now(UTC)
    old = now - dt.timedelta(minutes=10)
    settings = make_settings(sweep_after_seconds=300)
    [lost] = add_sms(url, due=old, updated_at=old)
    [recent] = add_sms(url, due=now - dt.timedelta(minutes=1))
    [stuck] = add_sms(url, status="sending", due=old, updated_at=old)
    [busy] = add_sms(url, status="sending", due=now, updated_at=now)
    [sent] = add_sms(url, status="sent", due=old, updated_at=old)
    with session_scope(url) as s:
        result = sweep(s, settings, now=now)
    assert (result.requeued, result.failed) == ([lost], [stuck])
    row = get(url, stuck)
    assert row.status == "failed" and "not resent" in (row.last_error or "")
    assert [get(url, i).status for i in (lost, recent, busy, sent)] == [
        "queued",
        "queued",
        "sending",
        "sent",
    ]
    with session_scope(url) as s:  # re-queued at most once per period
        again = sweep(s, settings, now=now + dt.timedelta(seconds=60))
    assert (again.requeued, again.failed) == ([], [])
    provider = RecordingProvider()
    assert send(url, lost, provider).action == "sent"
    assert send(url, stuck, provider).action == "not_claimed"  # never resent


def test_a_provider_answer_after_the_sweep_keeps_the_final_state(url: str) -> None:
    [nid] = add_sms(url)

    class SweptMeanwhile(RecordingProvider):
        def send_sms(
            self, to: str, body: str, reference: str, *, meta: Mapping[str, Any] | None = None
        ) -> SendResult:
            with session_scope(url) as s:
                sweep(
                    s,
                    make_settings(sweep_after_seconds=0),
                    now=dt.datetime.now(UTC) + dt.timedelta(seconds=1),
                )
            return super().send_sms(to, body, reference, meta=meta)

    outcome = send(url, nid, SweptMeanwhile())
    assert outcome.action == "late"
    row = get(url, nid)
    assert row.status == "failed" and row.provider_ref == outcome.provider_ref
    with session_scope(url) as s:
        assert s.scalar(select(func.count()).select_from(FeedbackEvent)) == 0
        assert s.scalar(select(func.count()).select_from(OptOut)) == 0


# --- batches and the Celery tasks (eager) ---------------------------------------------------------


def send_batch(
    url: str,
    ids: list[int],
    provider: Any,
    settings: Settings | None = None,
    *,
    bucket: Any = None,
    flush_every: float = batch.FLUSH_EVERY,
) -> list[Outcome]:
    return batch.send_sms_batch(
        ids,
        sessions=functools.partial(session_scope, url),
        provider=provider,
        bucket=bucket or LocalTokenBucket(1e6),
        settings=settings or make_settings(),
        flush_every=flush_every,
    )


def test_a_batch_reports_each_row_in_order(url: str) -> None:
    [ok] = add_sms(url)
    [later] = add_sms(url, due=dt.datetime.now(UTC) + dt.timedelta(minutes=5))
    [opted] = add_sms(url, to="+8613900000009")
    [bad] = add_sms(url, to="+15005550001")
    [busy] = add_sms(url, to="+8613900000008")
    with session_scope(url) as s:
        optout.record(s, "+8613900000009", True, "退订")
    provider = RecordingProvider()
    provider.fail("+15005550001", ProviderError("invalid", "21211", False))
    provider.fail("+8613900000008", ProviderError("busy", "20429", True))
    outcomes = send_batch(url, [ok, later, opted, bad, busy, ok], provider)
    assert [(o.id, o.action) for o in outcomes] == [
        (ok, "sent"),
        (later, "not_claimed"),
        (opted, "skipped"),
        (bad, "failed"),
        (busy, "retry"),
    ]  # a repeated id counts once
    assert sorted(provider.calls) == sorted([str(ok), str(bad), str(busy)])
    assert [get(url, i).status for i in (ok, later, opted, bad, busy)] == [
        "sent",
        "queued",
        "skipped",
        "failed",
        "queued",
    ]
    assert [e.kind for e in events(url)] == ["sent"]


def test_a_batch_records_as_it_goes(url: str) -> None:
    ids = add_sms(url, 3)
    seen: list[str] = []

    class Watching(RecordingProvider):
        def send_sms(
            self, to: str, body: str, reference: str, *, meta: Mapping[str, Any] | None = None
        ) -> SendResult:
            seen.append(",".join(get(url, i).status for i in ids))
            return super().send_sms(to, body, reference, meta=meta)

    outcomes = send_batch(url, ids, Watching(), flush_every=0.0)
    assert [o.action for o in outcomes] == ["sent"] * 3
    assert seen == ["sending,sending,sending", "sent,sending,sending", "sent,sent,sending"]


def test_the_rest_of_a_batch_is_given_back_when_the_rate_says_wait(url: str) -> None:
    class TwoTokens:
        rate = 1.0
        left = 2

        def acquire(self, n: int = 1, *, max_wait: float | None = None) -> float:
            if self.left <= 0:
                raise RateLimited(90.0)
            self.left -= 1
            return 0.0

    ids = add_sms(url, 4)
    provider = RecordingProvider()
    outcomes = send_batch(url, ids, provider, bucket=TwoTokens())
    assert [o.action for o in outcomes] == ["sent", "sent", "released", "released"]
    assert [(get(url, i).status, get(url, i).attempts) for i in ids[2:]] == [("queued", 0)] * 2
    assert len(provider.calls) == 2


def test_tasks_in_eager_mode(url: str) -> None:
    import zhida.worker as worker
    from zhida.channels.delivery import sender

    worker.configure(Settings(redis_url=""))
    provider = RecordingProvider()
    settings = make_settings()
    sender.set_runtime(
        sender.Runtime(
            settings=settings,
            provider=provider,
            bucket=LocalTokenBucket(1e6),
            stash=receipts.MemoryReceiptStash(),
            sessions=functools.partial(session_scope, url),
        )
    )
    try:
        assert worker.send_sms.app.conf.task_always_eager
        ids = add_sms(url, 5)
        assert worker.enqueue_sms(ids, batch=2) == 3  # tasks of 2, 2 and 1 ids
        assert sorted(provider.calls) == sorted(str(i) for i in ids)
        assert worker.send_sms.delay(ids[0]).get() == "not_claimed"
        assert worker.enqueue_sms([]) == 0
    finally:
        sender.set_runtime(None)
        worker.configure()
    assert {get(url, i).status for i in ids} == {"sent"}


def test_beat_schedule_entries_name_registered_tasks() -> None:
    import zhida.worker as worker

    names = worker.TaskNames
    assert {e["task"] for e in worker.BEAT_SCHEDULE.values()} == {
        names.DISPATCH,
        names.SWEEP,
        names.PLAN,
        names.DAILY_RUN,
        names.SWEEP_STALLED_RUNS,
    }
    assert {names.SEND, names.SEND_BATCH, names.DISPATCH, names.SWEEP} <= set(worker.app.tasks)
    assert set(worker.app.conf.beat_schedule) == set(worker.BEAT_SCHEDULE)


def test_sms_tasks_are_routed_apart_from_run_chunks() -> None:
    import zhida.worker as worker

    router = worker.app.amqp.router
    queue_of = {
        name: router.route({}, name)["queue"].name
        for name in (
            worker.TaskNames.SEND_BATCH,
            worker.TaskNames.EVALUATE_CHUNK,
            worker.TaskNames.PLAN,
        )
    }
    assert queue_of == {
        worker.TaskNames.SEND_BATCH: "sms",
        worker.TaskNames.EVALUATE_CHUNK: "runs",
        worker.TaskNames.PLAN: "plan",
    }


def test_the_embedded_default_writes_the_outbox(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Redis, SQLite, the file sink: tasks run in-process and end at delivered."""
    import json

    import zhida.worker as worker
    from zhida.channels.delivery import sender
    from zhida.settings import get_settings

    outbox = tmp_path / "outbox" / "sms.jsonl"
    for name, value in {
        "DATABASE_URL": sqlite_url,
        "REDIS_URL": "",
        "SMS_PROVIDER": "file",
        "SMS_OUTBOX": str(outbox),
        "QUIET_START_HOUR": "0",
        "QUIET_END_HOUR": "0",
    }.items():
        monkeypatch.setenv("ZHIDA_" + name, value)
    get_settings.cache_clear()
    worker.configure()
    try:
        ids = add_sms(sqlite_url, 3)
        assert worker.enqueue_sms(ids) == 1
        lines = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
        assert [sorted(line) for line in lines] == [
            sorted(["to", "profile", "policy", "body", "segments", "link"])
        ] * 3
        assert {get(sqlite_url, i).status for i in ids} == {"delivered"}
        assert worker.enqueue_sms(ids) == 1  # again: nothing more is written
        assert len(outbox.read_text(encoding="utf-8").splitlines()) == 3
    finally:
        sender.set_runtime(None)
        monkeypatch.undo()
        get_settings.cache_clear()
        worker.configure()


def test_a_slow_batch_gives_the_rest_back_before_the_sweeper_could_see_it(url: str) -> None:
    ids = add_sms(url, 3)
    provider = RecordingProvider(delay=0.6)
    settings = make_settings(sweep_after_seconds=2)  # max_rate_wait: 1 s
    outcomes = send_batch(url, ids, provider, settings)
    assert [o.action for o in outcomes] == ["sent", "sent", "released"]
    assert get(url, ids[2]).status == "queued" and len(provider.calls) == 2
