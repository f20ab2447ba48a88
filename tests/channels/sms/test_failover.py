"""Failover between two providers (GOV.UK Notify's priority adjustment): traffic moves
to the second while the first keeps failing and drifts back as it recovers; the state
is in Redis, so every worker sees one decision."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.support.fake_aliyun import FakeAliyun
from tests.support.fake_twilio import FakeTwilio
from tests.support.private_redis import PrivateRedis
from zhida.channels.sms import ProviderError, RecordingProvider
from zhida.channels.sms.failover import (
    FailoverPolicy,
    FailoverProvider,
    MemoryHealth,
    RedisHealth,
    next_share,
)
from zhida.channels.sms.registry import get_provider
from zhida.settings import Settings

POLICY = FailoverPolicy(window=60, error_rate=0.5, min_calls=4, step=0.25, step_seconds=10)
E500 = ProviderError("500", "20500", True)
TIMEOUT = ProviderError("timeout", "timeout", True, unsure=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def redis_server() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


def test_the_share_steps_down_on_errors_and_drifts_back() -> None:
    assert next_share(1.0, ok=1, err=9, policy=POLICY) == 0.75
    assert next_share(0.0, ok=0, err=0, policy=POLICY) == 0.25  # no calls: drift back
    assert next_share(0.5, ok=1, err=2, policy=POLICY) == 0.75  # too few calls to judge
    assert next_share(0.5, ok=6, err=4, policy=POLICY) == 0.75  # 40% is under the rate


def test_a_failing_first_provider_loses_its_traffic_then_gets_it_back() -> None:
    clock = Clock()
    health = MemoryHealth(POLICY, clock)
    first, second = RecordingProvider(name="twilio"), RecordingProvider(name="aliyun")
    first.fail("+8613800000001", E500)  # every call to it fails
    failover = FailoverProvider(first, second, health)
    shares = []
    for _ in range(8):  # 8 step periods
        for _ in range(10):
            result = failover.send_sms("+8613800000001", "x", "1")
            assert result.provider in ("twilio", "aliyun")
        clock.now += POLICY.step_seconds
        failover._tended = 0.0
        shares.append(health.share())
    assert shares[:4] == [1.0, 0.75, 0.5, 0.25]  # one step per period (the first decides)
    assert min(shares) <= 0.25 and len(first.sent) == 0  # the first never took one
    assert len(second.sent) == 80  # a sure failure is offered to the second at once
    first.fail("+8613800000001", E500, times=0)  # it recovers
    for _ in range(12):
        clock.now += POLICY.window / 4
        failover._tended = 0.0
        for _ in range(10):
            failover.send_sms("+8613800000001", "x", "1")
    assert health.share() == 1.0 and len(first.sent) > 0


def test_an_unsure_failure_is_not_offered_to_the_second() -> None:
    first, second = RecordingProvider(name="twilio"), RecordingProvider(name="aliyun")
    first.accept_then_fail("+8613800000001", TIMEOUT)
    failover = FailoverProvider(first, second, MemoryHealth(POLICY))
    with pytest.raises(ProviderError) as caught:
        failover.send_sms("+8613800000001", "x", "1")
    assert caught.value.unsure and caught.value.provider == "twilio"
    assert len(first.sent) == 1 and second.sent == []
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    found = failover.find_sent("+8613800000001", "x", "1", since)  # asks both
    assert found is not None and found.provider == "twilio"
    assert first.lookups == ["1"] and second.lookups == []
    assert failover.find_sent("+8613800000009", "x", "2", since) is None
    assert second.lookups == ["2"]


def test_the_share_is_one_decision_across_workers(redis_server: PrivateRedis) -> None:
    clock = Clock()
    import redis

    workers = [RedisHealth(redis.Redis.from_url(redis_server.url), POLICY, clock) for _ in range(2)]
    for _ in range(10):
        workers[0].record("twilio", False)
    workers[0].flush()
    assert workers[1].counts("twilio") == (0, 10)
    assert workers[1].tend("twilio") == 0.75
    assert workers[0].tend("twilio") is None  # this period's step is taken
    clock.now += 2  # the other worker reads the share again after SHARE_TTL
    assert workers[0].share() == 0.75


def test_the_registry_builds_twilio_with_aliyun_behind_it(redis_server: PrivateRedis) -> None:
    with FakeTwilio(callbacks=False, lifetime=60) as twilio, FakeAliyun(lifetime=60) as aliyun:
        settings = Settings(
            sms_provider="twilio",
            sms_fallback_provider="aliyun",
            redis_url=redis_server.url,
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_from="+15005550006",
            twilio_base_url=twilio.url,
            aliyun_access_key_id=aliyun.access_key_id,
            aliyun_access_key_secret=aliyun.access_key_secret,
            aliyun_template_code="SMS_1",
            aliyun_endpoint=aliyun.endpoint,
        )
        provider = get_provider(settings)
        assert isinstance(provider, FailoverProvider) and provider.name == "twilio+aliyun"
        twilio.fail("+8613800000001", 503, times=1)
        result = provider.send_sms("+8613800000001", "【浙里办】你好 回TD退订", "5")
        assert result.provider == "aliyun" and len(aliyun.messages) == 1
        assert provider.send_sms("+8613800000001", "【浙里办】你好 回TD退订", "6").provider == (
            "twilio"
        )
