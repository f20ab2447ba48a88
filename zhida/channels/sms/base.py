"""SMS providers behind one small interface (GOV.UK Notify style).

    provider.send_sms(to, body, reference, *, meta=None) -> SendResult(provider_ref, status)

Every transport failure becomes one exception type, `ProviderError(message, code,
retryable)`: retryable ones (HTTP 429, 5xx, timeouts, connection errors) are tried
again later with backoff; permanent ones (an invalid number, an unsubscribed
recipient, any other 4xx) fail the notification at once.

- `FileSink(path)` (`file_sink`): the embedded default. Appends one JSON line per SMS,
  `{"to", "profile", "policy", "body", "segments", "link"}`, to `var/outbox/sms.jsonl`
  and echoes a short line to the console. The outbox is the end of the line, so
  its result status is `delivered`.
- `TwilioProvider(settings)` (`twilio_provider`): the official SDK.
- `AliyunProvider(settings)` (`aliyun_provider`): Alibaba Cloud SMS, the official SDK.
- `FailoverProvider(first, second, health)` (`failover`): the second takes traffic
  while the first keeps failing, and gives it back as the first recovers.
- `RecordingProvider()` (`recording`): remembers what it was asked to send and can be scripted to
  fail; for tests and dry runs.

`registry.get_provider(settings)` picks one by `settings.sms_provider` (file | twilio |
aliyun), behind a `FailoverProvider` when `settings.sms_fallback_provider` is set.

Before an unsure row is sent again, `find_sent(to, body, reference, since)` asks the
provider whether it already holds the message (Twilio: the Messages list filtered by
To and DateSent; Aliyun: QuerySendDetails by number and day).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "INVALID_NUMBER",
    "OUTBOX_KEYS",
    "UNSUBSCRIBED",
    "ProviderError",
    "SendResult",
    "SmsProvider",
    "mask_phone",
    "same_text",
]

from zhida.errors import DeliveryError
from zhida.redact import mask_phone, redact

#: keys of one outbox line, in this order
OUTBOX_KEYS = ("to", "profile", "policy", "body", "segments", "link")


@dataclass(frozen=True)
class SendResult:
    """What the provider said when it accepted a message.

    provider_ref: its id for the message (Twilio's `SM...` sid), used to match receipts.
    status: its status at acceptance (Twilio: queued/accepted; the file sink: delivered).
    """

    provider_ref: str
    status: str
    provider: str = ""  # which provider accepted it (set by the failover provider)


#: a provider's status words (at acceptance or in a receipt; Twilio's) that say the
#: message reached the handset, or that it never will
DELIVERED_STATUSES = frozenset({"delivered", "read"})
FAILED_STATUSES = frozenset({"failed", "undelivered", "canceled"})


class ProviderError(DeliveryError):
    """A message the provider did not accept, or may have. `retryable` says whether
    trying again later can succeed (429, 5xx, timeouts, connection errors) or not
    (invalid number, opted out, other 4xx). `unsure`: the request may have reached the
    provider and been accepted (a read timeout, a connection dropped after the request
    was sent): the row becomes unsure and the provider is asked before any resend.
    `code` is the provider's error code as text ("21211", "429", "timeout"...)."""

    def __init__(
        self, message: str, code: str | int | None, retryable: bool, *, unsure: bool = False
    ):
        message = redact(message)  # providers quote the number: logs must not
        super().__init__(message)
        self.message = message
        self.code = "" if code is None else str(code)
        self.retryable = retryable
        self.unsure = unsure
        self.provider = ""  # which provider raised it (set by the failover provider)

    def __str__(self) -> str:
        kind = "unsure" if self.unsure else "retryable" if self.retryable else "permanent"
        return f"{self.code or 'error'} ({kind}): {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes
        return (_provider_error, (self.message, self.code, self.retryable, self.unsure))


def _provider_error(message: str, code: str, retryable: bool, unsure: bool) -> ProviderError:
    return ProviderError(message, code, retryable, unsure=unsure)


_LINK_TOKEN = re.compile(r"/[am]/[A-Za-z0-9_\-]+")  # an application or policy-page link


def same_text(sent: str, ours: str) -> bool:
    """Whether a message the provider holds is ours: the same text, the application
    link's token aside (a resend composed later may carry a freshly minted one)."""
    return _LINK_TOKEN.sub(_masked, sent.strip()) == _LINK_TOKEN.sub(_masked, ours.strip())


def _masked(link: re.Match[str]) -> str:
    return link.group(0)[:3] + "*"


#: Twilio error codes that are permanent whatever the HTTP status says
INVALID_NUMBER = "21211"
UNSUBSCRIBED = "21610"


class SmsProvider(Protocol):
    name: str

    def send_sms(
        self, to: str, body: str, reference: str, *, meta: Mapping[str, Any] | None = None
    ) -> SendResult: ...

    def find_sent(
        self, to: str, body: str, reference: str, since: dt.datetime
    ) -> SendResult | None:
        """The message to `to` with this text (`same_text`) that the provider accepted
        at or after `since`, or None when it holds none; asked before an unsure row is
        sent again. Every failure is a ProviderError."""
        ...
