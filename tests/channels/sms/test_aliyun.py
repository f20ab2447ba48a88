"""Alibaba Cloud SMS through the official SDK (`alibabacloud_dysmsapi20170525`) pointed at
the local fake of its API: the template call, signing, error mapping, timeouts that
leave the outcome unsure, and the lookup (QuerySendDetails)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from tests.support.fake_aliyun import INVALID_PHONE, FakeAliyun
from tests.support.ports import free_port
from tests.support.waiting import wait_until
from zhida.channels.sms import ProviderError
from zhida.channels.sms.aliyun_provider import AliyunProvider, national
from zhida.channels.sms.registry import get_provider
from zhida.errors import ConfigError
from zhida.settings import Settings

TO = "+8613800000001"
PHONE = "13800000001"
BODY = "【浙里办】杭州测试科技有限公司：贵企业符合申报条件，详见 https://x/a/T1 回TD退订"


@pytest.fixture()
def fake() -> Iterator[FakeAliyun]:
    with FakeAliyun(lifetime=60) as server:
        yield server


def aliyun_settings(fake: FakeAliyun, **kw: object) -> Settings:
    values: dict[str, object] = {
        "sms_provider": "aliyun",
        "aliyun_access_key_id": fake.access_key_id,
        "aliyun_access_key_secret": fake.access_key_secret,
        "aliyun_template_code": "SMS_123456789",
        "aliyun_endpoint": fake.endpoint,
    }
    values.update(kw)
    return Settings(**values)  # type: ignore[arg-type]


def test_sends_the_text_in_its_template_with_the_signature(fake: FakeAliyun) -> None:
    provider = get_provider(aliyun_settings(fake))
    assert isinstance(provider, AliyunProvider)
    result = provider.send_sms(TO, BODY, "42")
    [message] = fake.messages
    assert (result.provider_ref, result.status, result.provider) == (
        message.biz_id,
        "queued",
        "aliyun",
    )
    assert (message.phone, message.sign_name, message.template_code, message.out_id) == (
        PHONE,
        "浙里办",
        "SMS_123456789",
        "42",
    )
    assert message.params == {"content": BODY.removeprefix("【浙里办】")}
    assert message.content == BODY  # Aliyun adds the signature itself, once


def test_a_wrong_secret_is_refused_by_the_signature_check(fake: FakeAliyun) -> None:
    provider = AliyunProvider(aliyun_settings(fake, aliyun_access_key_secret="wrong"))
    with pytest.raises(ProviderError) as caught:
        provider.send_sms(TO, BODY, "1")
    assert caught.value.code == "SignatureDoesNotMatch" and not caught.value.retryable
    assert fake.messages == []


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", True),
        ("isp.SYSTEM_ERROR", True),
        ("isv.AMOUNT_NOT_ENOUGH", True),
        ("isv.SMS_TEMPLATE_ILLEGAL", False),
        ("isv.BLACK_KEY_CONTROL_LIMIT", False),
    ],
)
def test_answer_codes_map_to_retryable_or_permanent(
    fake: FakeAliyun, code: str, retryable: bool
) -> None:
    fake.fail(PHONE, code, times=1)
    provider = AliyunProvider(aliyun_settings(fake))
    with pytest.raises(ProviderError) as caught:
        provider.send_sms(TO, BODY, "1")
    assert caught.value.code == code and caught.value.retryable is retryable
    assert not caught.value.unsure
    assert provider.send_sms(TO, BODY, "1").provider_ref  # then it works


def test_an_invalid_number_is_permanent_like_twilios(fake: FakeAliyun) -> None:
    provider = AliyunProvider(aliyun_settings(fake))
    with pytest.raises(ProviderError) as caught:
        provider.send_sms("+86" + INVALID_PHONE, BODY, "1")
    assert caught.value.code == "21211" and not caught.value.retryable


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True)])
def test_http_errors_are_retryable(fake: FakeAliyun, status: int, retryable: bool) -> None:
    fake.fail_http(PHONE, status, times=1)
    provider = AliyunProvider(aliyun_settings(fake))
    with pytest.raises(ProviderError) as caught:
        provider.send_sms(TO, BODY, "1")
    assert caught.value.retryable is retryable and not caught.value.unsure
    assert provider.send_sms(TO, BODY, "1").provider_ref


def test_a_hang_then_accept_is_unsure_and_found_by_out_id(fake: FakeAliyun) -> None:
    since = dt.datetime.now(dt.UTC)
    fake.slow(PHONE, 1.5, times=1)
    provider = AliyunProvider(aliyun_settings(fake), timeout=0.5)
    with pytest.raises(ProviderError) as caught:
        provider.send_sms(TO, BODY, "77")
    assert caught.value.unsure and caught.value.code == "timeout"
    wait_until(lambda: fake.messages_to(PHONE))
    provider.send_sms(TO, "【浙里办】另一条 回TD退订", "78")
    found = provider.find_sent(TO, BODY.replace("T1", "T2"), "77", since)
    assert found is not None and (found.provider_ref, found.status) == ("OUT77", "sent")
    assert len(fake.attempts_to(PHONE, "QuerySendDetails")) == 1
    assert provider.find_sent(TO, BODY, "79", since) is None  # another row, another OutId
    assert provider.find_sent("+8613800000002", BODY, "77", since) is None


def test_the_lookup_pages_through_a_busy_day(fake: FakeAliyun) -> None:
    provider = AliyunProvider(aliyun_settings(fake))
    provider.send_sms(TO, BODY, "first")
    for k in range(60):
        provider.send_sms(TO, f"【浙里办】第{k}条 回TD退订", f"n{k}")
    found = provider.find_sent(TO, "x", "n59", dt.datetime.now(dt.UTC))
    assert found is not None and found.provider_ref == "OUTn59"
    assert len(fake.attempts_to(PHONE, "QuerySendDetails")) == 2  # pages of 50


def test_refused_connections_are_sure_and_credentials_are_required(fake: FakeAliyun) -> None:
    nobody = AliyunProvider(
        aliyun_settings(fake, aliyun_endpoint=f"http://127.0.0.1:{free_port()}")
    )
    with pytest.raises(ProviderError) as caught:
        nobody.send_sms(TO, BODY, "1")
    assert caught.value.retryable and not caught.value.unsure
    with pytest.raises(ConfigError, match="ZHIDA_ALIYUN_TEMPLATE_CODE"):
        AliyunProvider(aliyun_settings(fake, aliyun_template_code=""))


def test_national_numbers() -> None:
    assert national("+8613800000001") == national("008613800000001") == "13800000001"
    assert json.loads(json.dumps({"k": national("13800000001")})) == {"k": "13800000001"}


def test_receipts_are_pulled_when_no_push_came(fake: FakeAliyun, sqlite_url: str) -> None:
    import functools

    from tests.support.factories import notification
    from zhida.channels.delivery.receipts import pull_receipts
    from zhida.store.db import session_scope
    from zhida.store.models import Notification

    provider = AliyunProvider(aliyun_settings(fake))
    fake.outcome("13800000002", success=False, err_code="MK:0001")
    refs = {
        "a": provider.send_sms(TO, BODY, "a").provider_ref,
        "b": provider.send_sms("+8613800000002", BODY, "b").provider_ref,
        "c": "OUTc",  # a row a lookup found: the reference is its OutId
    }
    provider.send_sms("+8613800000003", BODY, "c")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    with session_scope(sqlite_url) as s:
        for k, (key, to) in enumerate(
            (("a", TO), ("b", "+8613800000002"), ("c", "+8613800000003"))
        ):
            s.add(
                notification(
                    profile_id=f"E{k}",
                    status="sent",
                    to=to,
                    provider="aliyun",
                    provider_ref=refs[key],
                    sent_at=long_ago,
                )
            )
        s.add(
            notification(
                profile_id="E9",
                status="sent",
                to=TO,
                provider="twilio",
                provider_ref="SM1",
                sent_at=long_ago,
            )
        )
    sessions = functools.partial(session_scope, sqlite_url)
    assert pull_receipts(sessions, provider) == {"waiting": 3}  # no report yet
    for phone in ("13800000001", "13800000002", "13800000003"):
        fake.settle(phone)
    assert pull_receipts(sessions, provider) == {"delivered": 2, "failed": 1}
    with session_scope(sqlite_url) as s:
        rows = {r.profile_id: r for r in s.query(Notification)}
    assert [rows[p].status for p in ("E0", "E1", "E2", "E9")] == [
        "delivered",
        "failed",
        "delivered",
        "sent",  # another provider's row: not Aliyun's to answer
    ]
    assert "MK:0001" in (rows["E1"].last_error or "")
    assert pull_receipts(sessions, provider) == {}
