"""Twilio webhooks on real PostgreSQL: signatures (the SDK's RequestValidator), status
receipts (duplicates, out of order, final states), inbound opt-out and opt-in."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from tests.conftest import migrated_database
from tests.support.app_factories import app_for
from tests.support.factories import notification, row_counts
from tests.support.scratch import clear_sms_tables
from zhida.channels import optout
from zhida.settings import Settings
from zhida.store.db import session_scope
from zhida.store.models import FeedbackEvent, Notification, OptOut

BASE = "https://zhida.example.gov.cn"
TOKEN = "0123456789abcdef0123456789abcdef"
STATUS = "/webhooks/twilio/status"
INBOUND = "/webhooks/twilio/inbound"
PHONE = "+8613800000001"


@pytest.fixture(scope="module")
def module_pg(pg_admin_url: str) -> Iterator[str]:
    with migrated_database(pg_admin_url, "zhida_sms") as url:
        yield url


@pytest.fixture()
def url(module_pg: str) -> str:
    clear_sms_tables(module_pg)
    return module_pg


def make_app(url: str, **kw: Any) -> FastAPI:
    values: dict[str, Any] = {
        "database_url": url,
        "base_url": BASE,
        "twilio_auth_token": TOKEN,
        "redis_url": "",
        **kw,
    }
    settings = Settings(**values)
    return app_for(url, lambda: settings)


@pytest.fixture()
def outbox(tmp_path: Path) -> Path:
    """Where the file provider writes the confirmations of opt-outs and opt-ins."""
    return tmp_path / "outbox" / "sms.jsonl"


@pytest.fixture()
def client(url: str, outbox: Path) -> TestClient:
    return TestClient(
        make_app(url, sms_outbox=outbox, sms_echo=False), base_url="http://internal:8000"
    )


def replies(outbox: Path) -> list[dict[str, Any]]:
    if not outbox.exists():
        return []
    return [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]


def signed(
    path: str, params: dict[str, str], token: str = TOKEN, base: str = BASE
) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(base + path, params)}


def post(client: TestClient, path: str, params: dict[str, str], **kw: Any) -> Any:
    headers = kw.pop("headers", None)
    if headers is None:
        headers = signed(path, params, **kw)
    return client.post(path, data=params, headers=headers)


def add_sent(url: str, ref: str, status: str = "sent") -> int:
    with session_scope(url) as s:
        row = notification(
            profile_id=f"E-{ref}",
            status=status,
            to=PHONE,
            body="【浙里办】x 回TD退订",
            provider_ref=ref,
            sent_at=dt.datetime.now(dt.UTC),
        )
        s.add(row)
        s.flush()
        return row.id


def receipt(sid: str, state: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+15005550006",
        "To": PHONE,
        "MessageStatus": state,
        "SmsStatus": state,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def snapshot(url: str) -> tuple[dict[str, int], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with session_scope(url) as s:
        notes = [
            tuple(r)
            for r in s.execute(
                select(
                    Notification.id,
                    Notification.status,
                    Notification.updated_at,
                    Notification.delivered_at,
                    Notification.last_error,
                ).order_by(Notification.id)
            )
        ]
        opts = [tuple(r) for r in s.execute(select(OptOut.phone, OptOut.opted_out, OptOut.keyword))]
        return row_counts(s), notes, opts


def status_of(url: str, nid: int) -> str:
    with session_scope(url) as s:
        row = s.get(Notification, nid)
        assert row is not None
        return row.status


def kinds(url: str) -> list[str]:
    with session_scope(url) as s:
        return list(s.scalars(select(FeedbackEvent.kind).order_by(FeedbackEvent.id)))


# --- signatures ------------------------------------------------------------------------------


def bad_requests() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("missing signature", {"headers": {}}),
        ("empty signature", {"headers": {"X-Twilio-Signature": ""}}),
        ("garbage signature", {"headers": {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}}),
        ("wrong token", {"token": "f" * 32}),
        ("signed for another host", {"base": "https://evil.example.com"}),
    ]


@pytest.mark.parametrize(("why", "how"), bad_requests(), ids=[b[0] for b in bad_requests()])
def test_unsigned_or_forged_receipts_get_403_and_change_nothing(
    url: str, client: TestClient, why: str, how: dict[str, Any]
) -> None:
    add_sent(url, "SMaaaa")
    before = snapshot(url)
    response = post(client, STATUS, receipt("SMaaaa", "delivered"), **how)
    assert response.status_code == 403, why
    assert snapshot(url) == before


@pytest.mark.parametrize(("why", "how"), bad_requests(), ids=[b[0] for b in bad_requests()])
def test_forged_inbound_gets_403_and_changes_nothing(
    url: str, client: TestClient, why: str, how: dict[str, Any]
) -> None:
    before = snapshot(url)
    response = post(client, INBOUND, {"From": PHONE, "Body": "TD"}, **how)
    assert response.status_code == 403, why
    assert snapshot(url) == before


def test_a_tampered_parameter_breaks_the_signature(url: str, client: TestClient) -> None:
    nid = add_sent(url, "SMbbbb")
    headers = signed(STATUS, receipt("SMbbbb", "sent"))
    before = snapshot(url)
    response = client.post(STATUS, data=receipt("SMbbbb", "delivered"), headers=headers)
    assert response.status_code == 403 and snapshot(url) == before
    assert status_of(url, nid) == "sent"
    # the same for inbound: signed "hello", sent "TD"
    headers = signed(INBOUND, {"From": PHONE, "Body": "hello"})
    assert (
        client.post(INBOUND, data={"From": PHONE, "Body": "TD"}, headers=headers).status_code == 403
    )
    assert snapshot(url) == before


def test_a_json_body_is_refused(client: TestClient) -> None:
    response = client.post(STATUS, json={"MessageSid": "SM1"}, headers={"X-Twilio-Signature": "x"})
    assert response.status_code == 403


@pytest.mark.parametrize("path", [STATUS, INBOUND])
def test_a_huge_body_is_refused_before_it_is_parsed(
    url: str, client: TestClient, path: str
) -> None:
    from zhida.api.routes.webhooks import MAX_BODY

    before = snapshot(url)
    params = {"From": PHONE, "Body": "TD", "Pad": "x" * (MAX_BODY + 1)}
    response = post(client, path, params)  # even correctly signed
    assert response.status_code == 413
    assert snapshot(url) == before


def test_a_huge_body_without_content_length_is_cut_off() -> None:
    """Chunked, so no Content-Length to refuse it by: the reader stops at the limit
    instead of taking in all 64 MiB."""
    import asyncio

    from fastapi import HTTPException
    from starlette.requests import Request

    from zhida.api.routes.webhooks import MAX_BODY, bounded_body

    received: list[int] = []

    async def receive() -> dict[str, Any]:
        received.append(1)
        return {"type": "http.request", "body": b"x" * 65536, "more_body": len(received) < 1024}

    scope = {
        "type": "http",
        "method": "POST",
        "path": INBOUND,
        "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
    }
    with pytest.raises(HTTPException) as refused:
        asyncio.run(bounded_body(Request(scope, receive)))
    assert refused.value.status_code == 413
    assert len(received) == MAX_BODY // 65536 + 1


def test_a_long_inbound_sms_is_within_the_limit(url: str, client: TestClient) -> None:
    body = "退订" + "。" * 1598  # 1,600 characters, the longest concatenated SMS
    response = post(client, INBOUND, {"From": PHONE, "Body": body, "AccountSid": "AC" + "0" * 32})
    assert response.status_code == 200


def test_without_an_auth_token_everything_is_refused(url: str) -> None:
    client = TestClient(make_app(url, twilio_auth_token=""))
    response = post(client, STATUS, receipt("SMx", "delivered"), token="")
    assert response.status_code == 403


def test_the_query_string_is_part_of_the_signed_url(url: str, client: TestClient) -> None:
    nid = add_sent(url, "SMcccc")
    path = STATUS + "?attempt=2"
    response = client.post(
        path,
        data=receipt("SMcccc", "delivered"),
        headers=signed(path, receipt("SMcccc", "delivered")),
    )
    assert response.status_code == 200 and status_of(url, nid) == "delivered"


# --- status receipts ------------------------------------------------------------------------------


def test_delivered_receipt_marks_the_row_delivered(url: str, client: TestClient) -> None:
    nid = add_sent(url, "SM1")
    assert post(client, STATUS, receipt("SM1", "sent")).status_code == 200
    assert status_of(url, nid) == "sent"
    assert post(client, STATUS, receipt("SM1", "delivered")).status_code == 200
    assert status_of(url, nid) == "delivered" and kinds(url) == ["delivered"]
    with session_scope(url) as s:
        row = s.get(Notification, nid)
        assert row is not None and row.delivered_at is not None


def test_duplicate_receipts_are_accepted_and_ignored(url: str, client: TestClient) -> None:
    nid = add_sent(url, "SM2")
    for _ in range(3):
        assert post(client, STATUS, receipt("SM2", "delivered")).status_code == 200
    assert status_of(url, nid) == "delivered" and kinds(url) == ["delivered"]


@pytest.mark.parametrize(
    ("first", "later", "final"),
    [
        ("delivered", "sent", "delivered"),
        ("delivered", "undelivered", "delivered"),
        ("delivered", "failed", "delivered"),
        ("undelivered", "delivered", "failed"),
        ("failed", "sent", "failed"),
        ("failed", "delivered", "failed"),
    ],
)
def test_out_of_order_receipts_never_undo_a_final_state(
    url: str, client: TestClient, first: str, later: str, final: str
) -> None:
    nid = add_sent(url, "SM3")
    extra = {"ErrorCode": "30003"} if first in ("undelivered", "failed") else {}
    assert post(client, STATUS, receipt("SM3", first, **extra)).status_code == 200
    before = snapshot(url)
    assert post(client, STATUS, receipt("SM3", later)).status_code == 200
    assert status_of(url, nid) == final
    assert snapshot(url) == before


def test_receipts_for_skipped_rows_and_unknown_sids_change_nothing(
    url: str, client: TestClient
) -> None:
    add_sent(url, "SM4", status="skipped")
    before = snapshot(url)
    assert post(client, STATUS, receipt("SM4", "delivered")).status_code == 200
    assert post(client, STATUS, receipt("SMunknown", "delivered")).status_code == 200
    assert post(client, STATUS, {"Foo": "bar"}).status_code == 200
    assert snapshot(url) == before


# --- inbound --------------------------------------------------------------------------------------

# (message, the keyword it is read as)
OPT_OUT = [
    ("TD", "TD"),
    ("td", "TD"),
    (" T ", "T"),
    ("n", "N"),
    ("退订", "退订"),
    (" 退订\n", "退订"),
    ("ＴＤ", "TD"),
    ("ｔｄ", "TD"),
    ("ＳＴＯＰ", "STOP"),
    ("stop", "STOP"),
    ("StopAll", "STOPALL"),
    ("UNSUBSCRIBE", "UNSUBSCRIBE"),
    ("cancel", "CANCEL"),
    ("End", "END"),
    ("quit", "QUIT"),
    # issue 14.7: punctuation, spaces and courtesy words around the keyword
    ("退订。", "退订"),
    ("退订 谢谢", "退订"),
    ("退订，谢谢！", "退订"),
    ("谢谢，退订", "退订"),
    ("请退订", "退订"),
    ("我要退订了", "退订"),
    ("取消", "取消"),
    ("取消。", "取消"),
    ("TD.", "TD"),
    ("ＴＤ！", "TD"),
    ("TD please", "TD"),
    ("“退订”", "退订"),
    ("【退订】", "退订"),
    ("STOP!!!", "STOP"),
    ("\u3000退订\u3000谢谢您", "退订"),
]
OPT_IN = ["START", "start", "UNSTOP", "yes", "订阅", "ＳＴＡＲＴ", "恢复", "订阅。"]


@pytest.mark.parametrize(("word", "keyword"), OPT_OUT)
def test_opt_out_keywords(
    url: str, client: TestClient, outbox: Path, word: str, keyword: str
) -> None:
    response = post(
        client, INBOUND, {"From": PHONE, "To": "+15005550006", "Body": word, "MessageSid": "SMin"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    with session_scope(url) as s:
        assert optout.is_opted_out(s, PHONE)
        row = s.get(OptOut, PHONE)
        assert row is not None and row.keyword == keyword
    # the confirmation, through the configured provider (here the file outbox)
    (reply,) = replies(outbox)
    assert reply["to"] == PHONE
    assert reply["body"].startswith("【浙里办】您已退订") and "回复“订阅”" in reply["body"]


@pytest.mark.parametrize("word", OPT_IN)
def test_opt_in_keywords_undo_an_opt_out(url: str, client: TestClient, word: str) -> None:
    assert post(client, INBOUND, {"From": PHONE, "Body": "退订"}).status_code == 200
    assert post(client, INBOUND, {"From": PHONE, "Body": word}).status_code == 200
    with session_scope(url) as s:
        assert not optout.is_opted_out(s, PHONE)
        row = s.get(OptOut, PHONE)
        assert row is not None and row.opted_out is False


@pytest.mark.parametrize(
    "body", ["hello", "请问怎么申请", "", "TDTD", "S TOP", "TD TD", "不退订", "谢谢", "。"]
)
def test_other_messages_change_nothing(
    url: str, client: TestClient, outbox: Path, body: str
) -> None:
    before = snapshot(url)
    response = post(client, INBOUND, {"From": PHONE, "Body": body})
    assert response.status_code == 200 and "<Response" in response.text
    assert snapshot(url) == before
    assert replies(outbox) == []


def test_an_opt_in_is_confirmed_and_a_replay_is_not(
    url: str, client: TestClient, outbox: Path
) -> None:
    assert post(client, INBOUND, {"From": PHONE, "Body": "退订", "MessageSid": "SMa"}).is_success
    assert post(client, INBOUND, {"From": PHONE, "Body": "订阅", "MessageSid": "SMb"}).is_success
    assert post(client, INBOUND, {"From": PHONE, "Body": "订阅", "MessageSid": "SMb"}).is_success
    bodies = [r["body"] for r in replies(outbox)]
    assert len(bodies) == 2 and bodies[0].startswith("【浙里办】您已退订")
    assert bodies[1] == "【浙里办】您已恢复接收政策直达短信。回TD退订"


def test_opt_out_then_the_sender_skips_the_number(url: str, client: TestClient) -> None:
    from zhida.channels.delivery.batch import send_sms_notification
    from zhida.channels.ratelimit import LocalTokenBucket
    from zhida.channels.sms import RecordingProvider

    assert post(client, INBOUND, {"From": PHONE, "Body": "ＴＤ"}).status_code == 200
    with session_scope(url) as s:
        row = Notification(
            profile_id="E9",
            policy_id="p",
            policy_version_id=1,
            channel="sms",
            status="queued",
            to=PHONE,
            body="x",
            segments=1,
        )
        s.add(row)
        s.flush()
        nid = row.id
    provider = RecordingProvider()
    outcome = send_sms_notification(
        nid,
        sessions=lambda: session_scope(url),
        provider=provider,
        bucket=LocalTokenBucket(1e6),
        settings=Settings(quiet_start_hour=0, quiet_end_hour=0),
    )
    assert outcome.action == "skipped" and provider.calls == []


def test_a_replayed_inbound_message_changes_nothing(url: str, client: TestClient) -> None:
    """A signed START captured and sent again after a later TD must not opt back in."""
    start = {"From": PHONE, "Body": "START", "MessageSid": "SMin1"}
    stop = {"From": PHONE, "Body": "TD", "MessageSid": "SMin2"}
    assert post(client, INBOUND, stop).status_code == 200
    assert post(client, INBOUND, start).status_code == 200
    assert post(client, INBOUND, {**stop, "MessageSid": "SMin3"}).status_code == 200
    with session_scope(url) as s:
        assert optout.is_opted_out(s, PHONE)
    before = snapshot(url)
    assert post(client, INBOUND, start).status_code == 200  # the replay
    assert snapshot(url) == before
    with session_scope(url) as s:
        assert optout.is_opted_out(s, PHONE)


def test_keyword_normalisation() -> None:
    assert optout.keyword_action("ＴＤ") == (True, "TD")
    assert optout.keyword_action("\u3000退订\u3000") == (True, "退订")  # ideographic spaces
    assert optout.keyword_action("Ｓｔａｒｔ") == (False, "START")
    assert optout.keyword_action("TD!") == (True, "TD")
    assert optout.keyword_action("TD TD") is None


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"ZHIDA_TWILIO_AUTH_TOKEN": ""}, "nothing calls them here"),
        ({"ZHIDA_TWILIO_AUTH_TOKEN": "", "ZHIDA_SMS_PROVIDER": "twilio"}, "will be lost"),
        ({"ZHIDA_TWILIO_AUTH_TOKEN": TOKEN}, None),
    ],
)
def test_serve_says_when_the_webhooks_cannot_verify(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], said: str | None
) -> None:
    """Issue 14.7: the webhooks need the auth token even with the file outbox (an
    unsigned opt-out could be forged), and `zhida serve` says so when it starts."""
    import uvicorn

    from tests.support.cli import run_cli

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: None)
    result = run_cli(
        "serve", env={"ZHIDA_VAR_DIR": str(tmp_path), "ZHIDA_TWILIO_ACCOUNT_SID": "AC1", **env}
    )
    assert result.returncode == 0, result.stderr
    if said is None:
        assert "ZHIDA_TWILIO_AUTH_TOKEN" not in result.stderr
    else:
        assert "ZHIDA_TWILIO_AUTH_TOKEN is not set" in result.stderr and said in result.stderr
