"""When an SMS may go: quiet hours, retry backoff, and the provider rate the sender aims at."""

from __future__ import annotations

import datetime as dt
import random

from zhida.clock import SHANGHAI
from zhida.settings import Settings

#: the bucket aims this much under the configured rate, so that timing jitter between
#: taking a token and the provider receiving the request (up to ~1/10 s) cannot push
#: any 1-second window over the configured rate
RATE_MARGIN = 0.1
#: retries due sooner than this are re-queued by the task itself with a countdown;
#: later ones wait for the periodic `dispatch_due` (no long broker ETAs)
RETRY_COUNTDOWN_MAX = 30.0
MAX_BACKOFF = 3600.0


def effective_rate(settings: Settings) -> float:
    return max(settings.sms_rate_per_second * (1 - RATE_MARGIN), 1e-3)


def max_rate_wait(settings: Settings) -> float:
    """The longest a claimed row may wait for a token before it is given back, well
    inside `sweep_after_seconds` so a live sender is never swept."""
    return max(1.0, min(60.0, settings.sweep_after_seconds / 4))


def quiet_until(now: dt.datetime, settings: Settings) -> dt.datetime | None:
    """The end of quiet hours (Asia/Shanghai) when `now` is inside them, else None.
    quiet_start_hour == quiet_end_hour means no quiet hours."""
    start, end = settings.quiet_start_hour, settings.quiet_end_hour
    if start == end:
        return None
    local = now.astimezone(SHANGHAI)
    quiet = (
        (start <= local.hour or local.hour < end) if start > end else (start <= local.hour < end)
    )
    if not quiet:
        return None
    day = local.date() if local.hour < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(end), tzinfo=SHANGHAI).astimezone(dt.UTC)


def backoff(settings: Settings, attempts: int, rng: random.Random | None = None) -> float:
    """send_backoff_seconds x 2^attempts, +-20% jitter, at most an hour."""
    base = settings.send_backoff_seconds * (2 ** min(attempts, 30))
    return min(MAX_BACKOFF, base * (rng or random).uniform(0.8, 1.2))
