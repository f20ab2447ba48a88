"""SMS providers: the file sink's line format, and Twilio through the official SDK
pointed at the local fake Twilio server (success, error mapping, transport failures)."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from twilio.http.http_client import TwilioHttpClient

from tests.support.fake_twilio import INVALID_NUMBER, UNSUBSCRIBED_NUMBER, FakeTwilio
from tests.support.ports import free_port
from tests.support.waiting import wait_until
from zhida.channels.sms import OUTBOX_KEYS, FileSink, ProviderError, RecordingProvider
from zhida.channels.sms.registry import get_provider
from zhida.channels.sms.twilio_provider import BaseUrlHttpClient, TwilioProvider, map_error
from zhida.errors import ConfigError
from zhida.settings import Settings

FROM = "+15005550006"
TO = "+8613800000001"


@pytest.fixture()
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(callbacks=False, lifetime=60) as server:
        yield server


def twilio_settings(fake: FakeTwilio, **kw: object) -> Settings:
    values: dict[str, object] = {
        "sms_provider": "twilio",
        "twilio_account_sid": fake.account_sid,
        "twilio_auth_token": fake.auth_token,
        "twilio_from": FROM,
        "twilio_base_url": fake.url,
        "base_url": "https://zhida.example.gov.cn",
    }
    values.update(kw)
    return Settings(**values)  # type: ignore[arg-type]


# --- file sink ------------------------------------------------------------------------------


def test_file_sink_appends_one_json_line_per_sms_exactly(tmp_path: Path) -> None:
    out = tmp_path / "outbox" / "sms.jsonl"
    console = io.StringIO()
    sink = FileSink(out, stream=console)
    body = "【浙里办】杭州测试科技有限公司：贵企业符合申报条件，详见 https://x/a/T 回TD退订"
    meta = {
        "profile": "E1",
        "policy": "zj-little-giant",
        "segments": 2,
        "link": "https://x/a/T",
        "notification": 7,
    }
    result = sink.send_sms(TO, body, "7", meta=meta)
    sink.send_sms(
        "+8613800000002",
        "第二条",
        "8",
        meta={"profile": "E2", "policy": "p", "segments": 1, "link": None},
    )
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert (
        list(first) == list(OUTBOX_KEYS) == ["to", "profile", "policy", "body", "segments", "link"]
    )
    assert first == {
        "to": TO,
        "profile": "E1",
        "policy": "zj-little-giant",
        "body": body,
        "segments": 2,
        "link": "https://x/a/T",
    }
    assert "浙里办" in lines[0]  # UTF-8, not \\u escapes
    assert json.loads(lines[1])["link"] is None
    assert result.provider_ref == "file-7" and result.status == "delivered"
    echoed = console.getvalue().splitlines()
    assert len(echoed) == 2 and "+86138****0001" in echoed[0] and "zj-little-giant" in echoed[0]
    assert TO not in console.getvalue()  # the console shows a masked number


def test_file_sink_lines_stay_whole_under_concurrency(tmp_path: Path) -> None:
    out = tmp_path / "sms.jsonl"
    sink = FileSink(out, echo=False)
    body = "长" * 500

    def burst(k: int) -> None:
        for i in range(50):
            sink.send_sms(
                TO,
                body,
                f"{k}-{i}",
                meta={"profile": f"E{k}", "policy": "p", "segments": 8, "link": None},
            )

    threads = [threading.Thread(target=burst, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 200 and all(r["body"] == body for r in rows)


def test_file_sink_write_failure_is_a_retryable_provider_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    sink = FileSink(blocker / "sms.jsonl", echo=False)  # a file where a directory should be
    with pytest.raises(ProviderError) as caught:
        sink.send_sms(TO, "x", "1")
    assert caught.value.retryable and caught.value.code == "io"


def test_get_provider_picks_by_setting(tmp_path: Path, fake: FakeTwilio) -> None:
    sink = get_provider(Settings(sms_provider="file", sms_outbox=tmp_path / "o.jsonl"))
    assert isinstance(sink, FileSink) and sink.path == tmp_path / "o.jsonl"
    assert isinstance(get_provider(twilio_settings(fake)), TwilioProvider)
    with pytest.raises(ValidationError, match="sms_provider"):
        Settings(sms_provider="carrier-pigeon")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="ZHIDA_TWILIO_AUTH_TOKEN"):
        TwilioProvider(twilio_settings(fake, twilio_auth_token=""))


def test_recording_provider_records_and_can_be_scripted() -> None:
    provider = RecordingProvider()
    provider.fail("+1", ProviderError("busy", 429, True), times=1)
    with pytest.raises(ProviderError):
        provider.send_sms("+1", "a", "1")
    assert provider.send_sms("+1", "a", "1").provider_ref.startswith("RC")
    assert [s.to for s in provider.sent] == ["+1"] and provider.calls == ["1", "1"]


# --- Twilio via the official SDK --------------------------------------------------------------


def test_twilio_sends_through_the_sdk_with_status_callback(fake: FakeTwilio) -> None:
    provider = TwilioProvider(twilio_settings(fake))
    result = provider.send_sms(TO, "【浙里办】你好 回TD退订", "42")
    assert result.status == "queued"
    assert result.provider_ref.startswith("SM") and len(result.provider_ref) == 34
    int(result.provider_ref[2:], 16)
    [message] = fake.messages
    assert (message.sid, message.to, message.from_, message.body) == (
        result.provider_ref,
        TO,
        FROM,
        "【浙里办】你好 回TD退订",
    )
    assert message.status_callback == "https://zhida.example.gov.cn/webhooks/twilio/status?n=42"


def test_twilio_http_client_is_the_sdks_with_the_base_url_rewritten(fake: FakeTwilio) -> None:
    client = BaseUrlHttpClient(fake.url + "/")
    assert isinstance(client, TwilioHttpClient)
    assert (
        client.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json")
        == fake.url + "/2010-04-01/Accounts/AC1/Messages.json"
    )
    assert (
        client.rewrite("https://messaging.twilio.com/v1/Services")
        == "https://messaging.twilio.com/v1/Services"
    )
    assert BaseUrlHttpClient("").rewrite("https://api.twilio.com/x") == "https://api.twilio.com/x"


def test_credentials_are_read_when_the_provider_is_built(
    fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = twilio_settings(fake)
    provider = TwilioProvider(settings)
    settings.twilio_auth_token = "changed-later"  # later changes do not leak in
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "from-the-environment")
    provider.send_sms(TO, "hi", "1")  # the fake checks Basic auth: the token built with
    assert len(fake.messages) == 1 and fake.requests[0].http_status == 201


@pytest.mark.parametrize(
    ("to", "code"), [(INVALID_NUMBER, "21211"), (UNSUBSCRIBED_NUMBER, "21610")]
)
def test_invalid_and_unsubscribed_numbers_are_permanent(
    fake: FakeTwilio, to: str, code: str
) -> None:
    provider = TwilioProvider(twilio_settings(fake))
    with pytest.raises(ProviderError) as caught:
        provider.send_sms(to, "hi", "1")
    assert caught.value.code == code and caught.value.retryable is False
    assert fake.messages == []


@pytest.mark.parametrize(
    ("status", "retryable"), [(429, True), (500, True), (503, True), (400, False), (404, False)]
)
def test_http_errors_map_to_retryable_or_permanent(
    fake: FakeTwilio, status: int, retryable: bool
) -> None:
    fake.fail(TO, status, times=1)
    provider = TwilioProvider(twilio_settings(fake))
    with pytest.raises(ProviderError) as caught:
        provider.send_sms(TO, "hi", "1")
    assert caught.value.retryable is retryable
    assert provider.send_sms(TO, "hi", "1").provider_ref.startswith("SM")  # then it works


def test_wrong_credentials_are_permanent(fake: FakeTwilio) -> None:
    provider = TwilioProvider(twilio_settings(fake, twilio_auth_token="wrong"))
    with pytest.raises(ProviderError) as caught:
        provider.send_sms(TO, "hi", "1")
    assert caught.value.code == "20003" and not caught.value.retryable


def test_timeouts_and_connection_errors_are_retryable(fake: FakeTwilio) -> None:
    fake.slow(TO, 1.0, times=1)
    slow = TwilioProvider(twilio_settings(fake), timeout=0.2)
    with pytest.raises(ProviderError) as caught:
        slow.send_sms(TO, "hi", "1")
    assert caught.value.code == "timeout" and caught.value.retryable
    assert caught.value.unsure  # the request left: Twilio may have accepted it
    nobody = TwilioProvider(
        twilio_settings(fake, twilio_base_url=f"http://127.0.0.1:{free_port()}")
    )
    with pytest.raises(ProviderError) as caught:
        nobody.send_sms(TO, "hi", "1")
    assert caught.value.code == "connection" and caught.value.retryable
    assert not caught.value.unsure  # refused: nothing was sent


def test_a_hang_then_accept_is_found_by_the_list_call(fake: FakeTwilio) -> None:
    """The fake hangs past the client's timeout, then accepts; the SDK's Messages list,
    filtered by To and DateSent since the claim, finds it by its text."""
    since = dt.datetime.now(dt.UTC)
    fake.slow(TO, 0.6, times=1)
    provider = TwilioProvider(twilio_settings(fake), timeout=0.2)
    body = "【浙里办】贵企业符合条件，详见 https://x/a/TOKEN1 回TD退订"
    with pytest.raises(ProviderError) as caught:
        provider.send_sms(TO, body, "7")
    assert caught.value.unsure
    wait_until(lambda: fake.messages_to(TO))
    [accepted] = fake.messages_to(TO)
    provider.send_sms(TO, "【浙里办】另一条 回TD退订", "8")
    found = provider.find_sent(TO, body.replace("TOKEN1", "TOKEN2"), "7", since)
    assert found is not None and found.provider_ref == accepted.sid
    assert found.provider == "twilio"
    [query] = fake.lookups
    assert query["To"] == TO and query["DateSent>"] == since.strftime("%Y-%m-%dT%H:%M:%SZ")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    assert provider.find_sent(TO, body, "7", later) is None  # DateSent> filters
    assert provider.find_sent("+8613800000002", body, "7", since) is None  # To filters


def test_the_list_call_follows_twilio_pages(fake: FakeTwilio) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    provider = TwilioProvider(twilio_settings(fake))
    provider.send_sms(TO, "【浙里办】最早的一条 回TD退订", "1")
    for k in range(120):
        provider.send_sms(TO, f"【浙里办】第{k}条 回TD退订", str(k + 2))
    found = provider.find_sent(TO, "【浙里办】最早的一条 回TD退订", "1", since)
    assert found is not None and found.provider_ref == fake.messages[0].sid
    pages = [q.get("Page", "0") for q in fake.lookups]
    assert pages == ["0", "1", "2"] and all(q["PageSize"] == "50" for q in fake.lookups)
    assert all(q["To"] == TO for q in fake.lookups) and "PageToken" in fake.lookups[1]


def test_a_failing_list_call_is_a_provider_error(fake: FakeTwilio) -> None:
    fake.fail_lookups(500, times=1)
    provider = TwilioProvider(twilio_settings(fake))
    with pytest.raises(ProviderError) as caught:
        provider.find_sent(TO, "x", "1", dt.datetime.now(dt.UTC))
    assert (
        caught.value.retryable and "500" in caught.value.message
    )  # the SDK: "Unable to fetch page"
    assert provider.find_sent(TO, "x", "1", dt.datetime.now(dt.UTC)) is None


def test_map_error_of_unexpected_exceptions() -> None:
    err = map_error(RuntimeError("boom"))
    assert err.retryable and err.code == "unexpected"
    same = ProviderError("x", 21211, False)
    assert map_error(same) is same
