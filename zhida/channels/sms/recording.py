"""A provider that records what it was asked to send and can be scripted to fail
(tests and dry runs)."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zhida.channels.sms.base import ProviderError, SendResult, same_text


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
    """Records every message it accepts (`sent`) and every call (`calls`, `lookups`); a
    recipient can be scripted with `fail(to, error, times=None)`: the next `times` calls
    (all, when None) to that number raise `error`; with `accept_then_fail(to, error,
    times)` the message is accepted (recorded in `sent`) and then `error` is raised, as
    a timeout after the provider accepted. Thread-safe."""

    name: str = "recording"
    sent: list[Sent] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    delay: float = 0.0
    lookups: list[str] = field(default_factory=list)
    _script: dict[str, tuple[ProviderError, int | None]] = field(default_factory=dict)
    _after: dict[str, tuple[ProviderError, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, to: str, error: ProviderError, times: int | None = None) -> None:
        with self._lock:
            self._script[to] = (error, times)

    def accept_then_fail(self, to: str, error: ProviderError, times: int = 1) -> None:
        with self._lock:
            self._after[to] = (error, times)

    def send_sms(
        self, to: str, body: str, reference: str, *, meta: Mapping[str, Any] | None = None
    ) -> SendResult:
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
            after = self._after.get(to)
            if after is not None and after[1] > 0:
                self._after[to] = (after[0], after[1] - 1)
                raise after[0]
        return SendResult(provider_ref=ref, status="queued")

    def find_sent(
        self, to: str, body: str, reference: str, since: dt.datetime
    ) -> SendResult | None:
        with self._lock:
            self.lookups.append(reference)
            for sent in self.sent:
                if sent.to == to and sent.at >= since.timestamp() and same_text(sent.body, body):
                    return SendResult(provider_ref=sent.provider_ref, status="queued")
        return None
