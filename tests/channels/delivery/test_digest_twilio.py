"""A digest through the real Twilio SDK (against tests/support/fake_twilio.py): one
message for its members, one receipt moves them all, and a timeout after Twilio
accepted it is looked up (the policy-page token aside) instead of sent again."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from tests.channels.sms.test_providers import twilio_settings
from tests.channels.test_digest import (
    HOUR,
    PHONE,
    THREE,
    add_policies,
    eligible,
    plan,
    profiles,
    send_due,
    sms_rows,
)
from tests.channels.test_plan import company
from tests.support.fake_twilio import FakeTwilio
from tests.support.waiting import wait_until
from zhida.channels.delivery.receipts import MemoryReceiptStash, receive_receipt
from zhida.channels.sms.twilio_provider import TwilioProvider
from zhida.store.db import session_scope
from zhida.store.models import FeedbackEvent, Notification


@pytest.fixture()
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(callbacks=False, lifetime=60) as server:
        yield server


def three_planned(url: str) -> None:
    profiles(url, company("E1"))
    versions = add_policies(url, THREE)
    eligible(url, versions, [("E1", p, 100_000.0) for p in THREE])
    plan(url, dt.datetime.now(dt.UTC) - HOUR)


def test_a_digest_goes_out_once_and_one_receipt_delivers_every_member(
    db_url: str, fake: FakeTwilio
) -> None:
    three_planned(db_url)
    provider = TwilioProvider(twilio_settings(fake))
    assert [o.action for o in send_due(db_url, provider)] == ["sent"]  # type: ignore[arg-type]
    [message] = fake.messages_to(PHONE)
    assert "您有3项政策可申报，合计最高30万元" in message.body and "/m/" in message.body
    sessions = functools.partial(session_scope, db_url)
    assert receive_receipt(sessions, MemoryReceiptStash(), message.sid, "delivered") == "delivered"
    rows = sms_rows(db_url)
    assert {r.status for r in rows} == {"delivered"} and {r.provider_ref for r in rows} == {
        message.sid
    }
    with session_scope(db_url) as s:
        delivered = s.scalars(
            select(FeedbackEvent.policy_id).where(FeedbackEvent.kind == "delivered")
        )
        assert sorted(delivered) == ["p1", "p2", "p3"]
    # a duplicate receipt, and a late "sent" one, change nothing
    assert receive_receipt(sessions, MemoryReceiptStash(), message.sid, "delivered") == "ignored"
    assert receive_receipt(sessions, MemoryReceiptStash(), message.sid, "sent") == "ignored"
    assert {r.status for r in sms_rows(db_url)} == {"delivered"}


def test_a_timeout_after_twilio_accepted_the_digest_is_found_not_resent(
    db_url: str, fake: FakeTwilio
) -> None:
    three_planned(db_url)
    fake.slow(PHONE, 0.6, times=1)
    provider = TwilioProvider(twilio_settings(fake), timeout=0.2)
    assert [o.action for o in send_due(db_url, provider)] == ["unsure"]  # type: ignore[arg-type]
    wait_until(lambda: fake.messages_to(PHONE))
    rows = sms_rows(db_url)
    assert sorted(r.status for r in rows) == ["digest", "digest", "unsure"]
    with session_scope(db_url) as s:  # its check time has come
        s.execute(
            update(Notification)
            .where(Notification.status == "unsure")
            .values(due_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert [o.action for o in send_due(db_url, provider)] == ["found"]  # type: ignore[arg-type]
    [message] = fake.messages_to(PHONE)  # composed again with a fresh token: not resent
    rows = sms_rows(db_url)
    assert {r.status for r in rows} == {"sent"} and {r.provider_ref for r in rows} == {message.sid}
