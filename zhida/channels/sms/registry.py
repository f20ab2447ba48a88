"""Picks the SMS provider named by the settings; the one module that imports them all."""

from __future__ import annotations

from zhida.channels.sms.base import SmsProvider
from zhida.channels.sms.failover import (
    FailoverPolicy,
    FailoverProvider,
    Health,
    MemoryHealth,
    RedisHealth,
)
from zhida.channels.sms.file_sink import FileSink
from zhida.channels.sms.twilio_provider import TwilioProvider
from zhida.errors import ConfigError
from zhida.settings import Settings


def one_provider(settings: Settings, kind: str) -> SmsProvider:
    """The provider of this name (file | twilio | aliyun)."""
    if kind == "file":
        return FileSink(settings.sms_outbox, echo=settings.sms_echo)
    if kind == "twilio":
        return TwilioProvider(settings)
    if kind == "aliyun":
        from zhida.channels.sms.aliyun_provider import AliyunProvider

        return AliyunProvider(settings)
    raise ConfigError(f"unknown sms_provider {kind!r} (file | twilio | aliyun)")


def failover_policy(settings: Settings) -> FailoverPolicy:
    return FailoverPolicy(
        window=settings.failover_window_seconds,
        error_rate=settings.failover_error_rate,
        min_calls=settings.failover_min_calls,
        step=settings.failover_step,
        step_seconds=settings.failover_step_seconds,
    )


def health_for(settings: Settings) -> Health:
    """The providers' health: in Redis (shared by every worker), else in this process."""
    policy = failover_policy(settings)
    if settings.redis_url:
        return RedisHealth.from_url(settings.redis_url, policy)
    return MemoryHealth(policy)


def get_provider(settings: Settings) -> SmsProvider:
    """The provider named by `settings.sms_provider` (file | twilio | aliyun), behind a
    FailoverProvider when `settings.sms_fallback_provider` names another."""
    first = one_provider(settings, settings.sms_provider)
    fallback = settings.sms_fallback_provider
    if not fallback or fallback == settings.sms_provider:
        return first
    return FailoverProvider(first, one_provider(settings, fallback), health_for(settings))
