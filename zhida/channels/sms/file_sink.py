"""The embedded default provider: one JSON line per SMS in the outbox file."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from zhida.channels.sms.base import ProviderError, SendResult, mask_phone, same_text


class FileSink:
    """Appends one JSON line per SMS to `path` (safe across threads and processes: the
    line is written with one write() under an exclusive lock) and echoes a short line."""

    name = "file"

    def __init__(
        self, path: str | os.PathLike[str], *, echo: bool = True, stream: TextIO | None = None
    ):
        self.path = Path(path)
        self.echo = echo
        self.stream = stream
        self._lock = threading.Lock()

    def send_sms(
        self, to: str, body: str, reference: str, *, meta: Mapping[str, Any] | None = None
    ) -> SendResult:
        meta = meta or {}
        line = {
            "to": to,
            "profile": meta.get("profile"),
            "policy": meta.get("policy"),
            "body": body,
            "segments": meta.get("segments"),
            "link": meta.get("link"),
        }
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
            print(
                f"SMS -> {mask_phone(to)} [{meta.get('policy') or '-'}] "
                f"({meta.get('segments') or '?'} 条) {short}",
                file=self.stream or sys.stdout,
                flush=True,
            )
        return SendResult(provider_ref=f"file-{reference}", status="delivered")

    def find_sent(
        self, to: str, body: str, reference: str, since: dt.datetime
    ) -> SendResult | None:
        """A line to `to` with this text in the outbox (which keeps no times: any line)."""
        try:
            with open(self.path, encoding="utf-8") as lines:
                for line in lines:
                    try:
                        sms = json.loads(line)
                    except ValueError:  # a line cut short by a killed writer
                        continue
                    if sms.get("to") == to and same_text(str(sms.get("body") or ""), body):
                        return SendResult(provider_ref=f"file-{reference}", status="delivered")
        except FileNotFoundError:
            return None
        except OSError as err:
            raise ProviderError(f"cannot read {self.path}: {err}", "io", True) from err
        return None
