"""The one clock: Asia/Shanghai for dates people see, UTC instants for the store."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

#: policy windows, quiet hours and evaluation dates are Asia/Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> dt.datetime:
    """Now, as a timezone-aware UTC instant (what the store keeps)."""
    return dt.datetime.now(dt.UTC)


def today() -> dt.date:
    """Today's date in Asia/Shanghai (the default evaluation date)."""
    return dt.datetime.now(SHANGHAI).date()


def shanghai_date(instant: dt.datetime) -> dt.date:
    """The Asia/Shanghai calendar date of an aware instant."""
    return instant.astimezone(SHANGHAI).date()
