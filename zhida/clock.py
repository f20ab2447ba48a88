"""The one clock: Asia/Shanghai for dates people see, UTC instants for the store.

Every part of zhida asks `utcnow()` / `today()`, so a test or a drill can set the time
of every process at once, workers included: with ZHIDA_CLOCK_FILE naming a file that
holds an ISO 8601 instant (with its offset), the clock stands at that instant, read
again whenever the file changes. Unset (always, in production), it is the system clock.
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

#: policy windows, quiet hours and evaluation dates are Asia/Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: names the file of an injected clock (tests and drills only)
CLOCK_FILE_ENV = "ZHIDA_CLOCK_FILE"

_injected: tuple[str, int, dt.datetime] | None = None  # (path, mtime_ns, instant)


def utcnow() -> dt.datetime:
    """Now, as a timezone-aware UTC instant (what the store keeps)."""
    path = os.environ.get(CLOCK_FILE_ENV)
    if path:
        return _injected_now(path)
    return dt.datetime.now(dt.UTC)


def _injected_now(path: str) -> dt.datetime:
    global _injected
    stamp = os.stat(path).st_mtime_ns
    if _injected is None or _injected[:2] != (path, stamp):
        with open(path, encoding="utf-8") as f:
            instant = dt.datetime.fromisoformat(f.read().strip())
        if instant.tzinfo is None:
            raise ValueError(f"{path}: the injected clock needs an offset, got {instant}")
        _injected = (path, stamp, instant.astimezone(dt.UTC))
    return _injected[2]


def set_clock_file(path: str | os.PathLike[str], instant: dt.datetime) -> None:
    """Write an instant to an injected clock's file (what tests call to move time)."""
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(instant.isoformat())
    os.replace(tmp, path)  # readers see the old instant or the new, never half


def today() -> dt.date:
    """Today's date in Asia/Shanghai (the default evaluation date)."""
    return utcnow().astimezone(SHANGHAI).date()


def shanghai_date(instant: dt.datetime) -> dt.date:
    """The Asia/Shanghai calendar date of an aware instant."""
    return instant.astimezone(SHANGHAI).date()
