"""A provider that records what it was asked to send and can be scripted to fail
(tests and dry runs)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zhida.channels.sms.base import ProviderError, SendResult


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
        return SendResult(provider_ref=ref, status="queued")
