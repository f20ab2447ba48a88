"""SMS providers behind one small interface (GOV.UK Notify style).

    provider.send_sms(to, body, reference, *, meta=None) -> SendResult(provider_ref, status)

Every transport failure becomes one exception type, `ProviderError(message, code,
retryable)`: retryable ones (HTTP 429, 5xx, timeouts, connection errors) are tried
again later with backoff; permanent ones (an invalid number, an unsubscribed
recipient, any other 4xx) fail the notification at once.

- `FileSink(path)`: the embedded default. Appends one JSON line per SMS,
  `{"to", "profile", "policy", "body", "segments", "link"}`, to `var/outbox/sms.jsonl`
  and echoes a short line to the console. The outbox is the end of the line, so
  its result status is `delivered`.
- `TwilioProvider(settings)` (in `zhida.channels.twilio_client`): the official SDK.
- `RecordingProvider()`: remembers what it was asked to send and can be scripted to
  fail; for tests and dry runs.

`get_provider(settings)` picks one by `settings.sms_provider` (file | twilio).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from zhida.settings import Settings

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


class ProviderError(Exception):
    """A message the provider did not accept. `retryable` says whether trying again later
    can succeed (429, 5xx, timeouts, connection errors) or not (invalid number, opted
    out, other 4xx). `code` is the provider's error code as text ("21211", "429",
    "timeout", "connection"...)."""

    def __init__(self, message: str, code: str | int | None, retryable: bool):
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

    def send_sms(self, to: str, body: str, reference: str, *,
                 meta: Mapping[str, Any] | None = None) -> SendResult: ...


def mask_phone(phone: str) -> str:
    """+8613812345678 -> +86138****5678 (for logs and the console)."""
    if len(phone) <= 8:
        return phone[:2] + "*" * max(0, len(phone) - 2)
    return phone[:-8] + "****" + phone[-4:]


class FileSink:
    """Appends one JSON line per SMS to `path` (safe across threads and processes: the
    line is written with one write() under an exclusive lock) and echoes a short line."""

    name = "file"

    def __init__(self, path: str | os.PathLike[str], *, echo: bool = True,
                 stream: TextIO | None = None):
        self.path = Path(path)
        self.echo = echo
        self.stream = stream
        self._lock = threading.Lock()

    def send_sms(self, to: str, body: str, reference: str, *,
                 meta: Mapping[str, Any] | None = None) -> SendResult:
        meta = meta or {}
        line = {"to": to, "profile": meta.get("profile"), "policy": meta.get("policy"),
                "body": body, "segments": meta.get("segments"), "link": meta.get("link")}
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, open(self.path, "ab") as out:
                fcntl.flock(out.fileno(), fcntl.LOCK_EX)
                try:
                    out.write(data)
                    out.flush()
                finally:
                    fcntl.flock(out.fileno(), fcntl.LOCK_UN)
        except OSError as err:  # a full disk may clear up; a retry is harmless
            raise ProviderError(f"cannot write {self.path}: {err}", "io", True) from err
        if self.echo:
            first = body.splitlines()[0] if body else ""
            short = first if len(first) <= 40 else first[:39] + "…"
            print(f"SMS -> {mask_phone(to)} [{meta.get('policy') or '-'}] "
                  f"({meta.get('segments') or '?'} 条) {short}",
                  file=self.stream or sys.stdout, flush=True)
        return SendResult(provider_ref=f"file-{reference}", status="delivered")


@dataclass
class Sent:
    to: str
    body: str
    reference: str
    meta: dict[str, Any]
    provider_ref: str
    at: float


@dataclass
class RecordingProvider:
    """Records every message it accepts (`sent`) and every call (`calls`); a recipient
    can be scripted with `fail(to, error, times=None)`: the next `times` calls (all, when
    None) to that number raise `error`. Thread-safe."""

    name: str = "recording"
    sent: list[Sent] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    delay: float = 0.0
    _script: dict[str, tuple[ProviderError, int | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, to: str, error: ProviderError, times: int | None = None) -> None:
        with self._lock:
            self._script[to] = (error, times)

    def send_sms(self, to: str, body: str, reference: str, *,
                 meta: Mapping[str, Any] | None = None) -> SendResult:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.calls.append(reference)
            scripted = self._script.get(to)
            if scripted is not None:
                error, times = scripted
                if times is None or times > 0:
                    if times is not None:
                        self._script[to] = (error, times - 1)
                    raise error
            ref = "RC" + uuid.uuid4().hex
            self.sent.append(Sent(to, body, reference, dict(meta or {}), ref, time.time()))
        return SendResult(provider_ref=ref, status="queued")


def get_provider(settings: Settings) -> SmsProvider:
    """The provider named by `settings.sms_provider` (file | twilio)."""
    kind = settings.sms_provider.strip().lower()
    if kind == "file":
        return FileSink(settings.sms_outbox, echo=settings.sms_echo)
    if kind == "twilio":
        from zhida.channels.twilio_client import TwilioProvider

        return TwilioProvider(settings)
    raise ValueError(f"unknown sms_provider {settings.sms_provider!r} (file | twilio)")
