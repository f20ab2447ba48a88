"""Unsure sends on real PostgreSQL: a call whose outcome is unknown is never resent
blindly. The provider is asked first, what it holds is recorded, a late word from the
provider (its acceptance, a receipt) corrects a row given up on, and a sender that
outlived its claim cannot write over the next one."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator

import pytest

from tests.channels.delivery.test_steps import add_sms, as_utc, events, get, make_settings, send
from tests.conftest import migrated_database
from tests.support.scratch import clear_sms_tables
from zhida.channels.delivery import receipts, steps
from zhida.channels.delivery.receipts import MemoryReceiptStash
from zhida.channels.sms import ProviderError, RecordingProvider
from zhida.channels.sms.base import same_text
from zhida.store.db import session_scope

TO = "+8613800000001"
UTC = dt.UTC
TIMEOUT = ProviderError("timeout: read timed out", "timeout", True, unsure=True)


@pytest.fixture(scope="module")
def module_pg(pg_admin_url: str) -> Iterator[str]:
    with migrated_database(pg_admin_url, "zhida_unsure") as url:
        yield url


@pytest.fixture()
def url(module_pg: str) -> str:
    clear_sms_tables(module_pg)
    return module_pg


def make_due(url: str, nid: int) -> None:
    """The check time of an unsure row has come (instead of waiting for it)."""
    from sqlalchemy import update

    from zhida.store.models import Notification

    with session_scope(url) as s:
        s.execute(
            update(Notification)
            .where(Notification.id == nid)
            .values(due_at=dt.datetime.now(UTC) - dt.timedelta(seconds=1))
        )


def test_a_timeout_after_the_provider_accepted_sends_nothing_twice(url: str) -> None:
    settings = make_settings(unsure_check_seconds=30)
    [nid] = add_sms(url)
    provider = RecordingProvider()
    provider.accept_then_fail(TO, TIMEOUT)
    before = dt.datetime.now(UTC)
    outcome = send(url, nid, provider, settings)
    assert outcome.action == "unsure" and outcome.retry_in is not None
    assert outcome.retry_in >= 30
    row = get(url, nid)
    assert row.status == "unsure" and row.attempts == 1 and row.provider_ref is None
    assert as_utc(row.unsure_since or before) >= before - dt.timedelta(seconds=1)
    assert send(url, nid, provider, settings).action == "not_claimed"  # not due yet
    make_due(url, nid)
    outcome = send(url, nid, provider, settings)
    assert outcome.action == "found"
    [accepted] = provider.sent
    assert provider.lookups == [str(nid)] and provider.calls == [str(nid)]
    row = get(url, nid)
    assert row.status == "sent" and row.provider_ref == accepted.provider_ref
    assert row.attempts == 1 and row.unsure_since is None
    assert "holds" in (row.last_error or "")
    assert [e.kind for e in events(url)] == ["sent"]


def test_a_timeout_before_the_provider_accepted_is_sent_once_more(url: str) -> None:
    settings = make_settings(unsure_check_seconds=0)
    [nid] = add_sms(url)
    provider = RecordingProvider()
    provider.fail(TO, TIMEOUT, times=1)
    assert send(url, nid, provider, settings).action == "unsure"
    make_due(url, nid)
    assert send(url, nid, provider, settings).action == "sent"
    assert provider.lookups == [str(nid)] and len(provider.sent) == 1
    row = get(url, nid)
    assert row.status == "sent" and row.attempts == 2
    assert "held none" in (row.last_error or "")


def test_a_failed_lookup_keeps_the_row_unsure_and_sends_nothing(url: str) -> None:
    settings = make_settings(unsure_check_seconds=0, send_max_retries=2)

    class LookupDown(RecordingProvider):
        def find_sent(self, to: str, body: str, reference: str, since: dt.datetime) -> None:
            self.lookups.append(reference)
            raise ProviderError("503 from the list call", "20503", True)

    provider = LookupDown()
    provider.accept_then_fail(TO, TIMEOUT)
    [nid] = add_sms(url)
    assert send(url, nid, provider, settings).action == "unsure"
    make_due(url, nid)
    outcome = send(url, nid, provider, settings)
    assert outcome.action == "unsure" and "lookup failed" in outcome.detail
    assert len(provider.sent) == 1 and get(url, nid).status == "unsure"
    make_due(url, nid)
    outcome = send(url, nid, provider, settings)  # retries spent, still unknown
    assert outcome.action == "failed" and "lookup failed" in outcome.detail
    assert len(provider.sent) == 1 and len(provider.calls) == 1
    row = get(url, nid)
    assert row.status == "failed" and row.provider_ref is None
    # the provider's own word, later: the receipt names the row and corrects it
    ref = provider.sent[0].provider_ref
    sessions = functools.partial(session_scope, url)
    stash = MemoryReceiptStash()
    assert receipts.receive_receipt(sessions, stash, ref, "delivered", "", nid, "recording") == (
        "corrected"
    )
    row = get(url, nid)
    assert row.status == "delivered" and row.provider_ref == ref and row.provider == "recording"
    assert [e.kind for e in events(url)] == ["sent", "delivered"]
    # duplicates change nothing
    assert receipts.receive_receipt(sessions, stash, ref, "delivered", "", nid) == "ignored"
    assert [e.kind for e in events(url)] == ["sent", "delivered"]


def test_a_receipt_names_a_row_only_it_was_left_without_a_reference(url: str) -> None:
    [done] = add_sms(url, status="delivered", provider_ref="RC1")
    [queued] = add_sms(url)
    sessions = functools.partial(session_scope, url)
    stash = MemoryReceiptStash()
    for nid in (done, queued):
        assert receipts.receive_receipt(sessions, stash, "RC9", "delivered", "", nid) == "unknown"
    assert get(url, done).provider_ref == "RC1" and get(url, queued).status == "queued"
    assert stash.pop("RC9") == [("delivered", "")] * 2  # kept for a sender that records it


def test_a_sender_that_outlived_its_claim_cannot_write_over_the_next(url: str) -> None:
    settings = make_settings()
    [nid] = add_sms(url)
    now = dt.datetime.now(UTC)
    with session_scope(url) as s:
        stale = steps.claim(s, nid, now)
    assert stale is not None and stale.claims == 1
    with session_scope(url) as s:  # the sweeper, then a second sender's claim
        from zhida.channels.delivery.sweep import sweep

        sweep(s, make_settings(sweep_after_seconds=0), now=now + dt.timedelta(seconds=1))
    make_due(url, nid)
    with session_scope(url) as s:
        fresh = steps.claim(s, nid, dt.datetime.now(UTC))
    assert fresh is not None and fresh.claims == 2 and fresh.unsure_since is not None
    with session_scope(url) as s:  # the first sender's error lands on nothing
        steps.record_error(s, stale, ProviderError("500", "20500", True), settings, now)
    assert get(url, nid).status == "sending"
    with session_scope(url) as s:
        steps.release(s, fresh, now, "test", now)
    assert get(url, nid).status == "unsure"  # an unsure row given back stays unsure


def test_the_text_matches_whatever_link_token_it_carries() -> None:
    ours = "【浙里办】贵企业符合条件，详见 https://x.gov.cn/a/AbC_d-1 回TD退订"
    assert same_text("【浙里办】贵企业符合条件，详见 https://x.gov.cn/a/ZZZ 回TD退订 ", ours)
    assert not same_text(
        "【浙里办】贵企业不符合条件，详见 https://x.gov.cn/a/AbC_d-1 回TD退订", ours
    )


def test_an_unsure_row_waits_for_the_morning_too(url: str) -> None:
    from zoneinfo import ZoneInfo

    sh = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    quiet = make_settings(quiet_start_hour=sh.hour, quiet_end_hour=(sh.hour + 1) % 24)
    [nid] = add_sms(url, status="unsure", unsure_since=dt.datetime.now(UTC))
    provider = RecordingProvider()
    assert send(url, nid, provider, quiet).action == "deferred"
    assert provider.calls == provider.lookups == []
    row = get(url, nid)
    assert row.status == "deferred" and row.unsure_since is not None
    make_due(url, nid)
    from zhida.channels.delivery.sweep import dispatch_due

    with session_scope(url) as s:
        assert dispatch_due(s, make_settings()) == [nid]
    assert send(url, nid, provider).action == "sent"
    assert provider.lookups == [str(nid)]  # still asked first
