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
- `RecordingProvider()` (`recording`): remembers what it was asked to send and can be scripted to
  fail; for tests and dry runs.

`registry.get_provider(settings)` picks one by `settings.sms_provider` (file | twilio).
"""

from __future__ import annotations

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


#: a provider's status words (at acceptance or in a receipt; Twilio's) that say the
#: message reached the handset, or that it never will
DELIVERED_STATUSES = frozenset({"delivered", "read"})
FAILED_STATUSES = frozenset({"failed", "undelivered", "canceled"})


class ProviderError(DeliveryError):
    """A message the provider did not accept. `retryable` says whether trying again later
    can succeed (429, 5xx, timeouts, connection errors) or not (invalid number, opted
    out, other 4xx). `code` is the provider's error code as text ("21211", "429",
    "timeout", "connection"...)."""

    def __init__(self, message: str, code: str | int | None, retryable: bool):
        message = redact(message)  # providers quote the number: logs must not
        super().__init__(message)
        self.message = message
        self.code = "" if code is None else str(code)
        self.retryable = retryable

    def __str__(self) -> str:
        kind = "retryable" if self.retryable else "permanent"
        return f"{self.code or 'error'} ({kind}): {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes
        return (type(self), (self.message, self.code, self.retryable))


#: Twilio error codes that are permanent whatever the HTTP status says
INVALID_NUMBER = "21211"
UNSUBSCRIBED = "21610"


class SmsProvider(Protocol):
    name: str

    def send_sms(
        self, to: str, body: str, reference: str, *, meta: Mapping[str, Any] | None = None
    ) -> SendResult: ...
