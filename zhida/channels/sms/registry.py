"""Picks the SMS provider named by the settings; the one module that imports them all."""

from __future__ import annotations

from zhida.channels.sms.base import SmsProvider
from zhida.channels.sms.file_sink import FileSink
from zhida.channels.sms.twilio_provider import TwilioProvider
from zhida.errors import ConfigError
from zhida.settings import Settings


def get_provider(settings: Settings) -> SmsProvider:
    """The provider named by `settings.sms_provider` (file | twilio)."""
    kind = settings.sms_provider
    if kind == "file":
        return FileSink(settings.sms_outbox, echo=settings.sms_echo)
    if kind == "twilio":
        return TwilioProvider(settings)
    raise ConfigError(f"unknown sms_provider {settings.sms_provider!r} (file | twilio)")
