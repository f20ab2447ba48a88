"""The provider rate (messages per second) across all workers: a token bucket in Redis.

The bucket is kept as GCRA (the "generic cell rate algorithm", a token bucket stored
as one number): the theoretical arrival time `tat` of the next message, in
microseconds of the Redis server's clock. One Lua script, run atomically by Redis,
reserves `n` tokens and answers how long the caller must wait before using them:

    tat   = max(tat, now) + n / rate
    wait  = max(0, tat - burst / rate - now)

Because the reservation is made at once (the caller then sleeps `wait` and sends), no
caller polls, callers are served in arrival order, and however many processes or
machines share the key, at most `burst + rate x T` messages start in any T seconds.
With the default burst of 1, messages are spaced 1/rate apart.

`acquire(n, max_wait=...)` reserves nothing and raises `RateLimited(wait)` when the
wait would be longer than `max_wait`, so a task can give its claim back instead of
sleeping for minutes. The clock is Redis's (`TIME`), so workers on several machines
agree without synchronised clocks.

`LocalTokenBucket` is the same algorithm in one process, for the embedded default
(no Redis).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

DEFAULT_KEY = "zhida:sms:bucket"

# KEYS[1] bucket key; ARGV: rate (per second), burst (tokens), n, max_wait (seconds, <0: none)
# returns {reserved (1|0), wait in microseconds, the reserved start in microseconds of
# the Redis clock}, numbers as strings
_GCRA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = 1000000 / rate
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + n * interval
local wait = new_tat - burst * interval - now
if wait < 0 then wait = 0 end
if max_wait >= 0 and wait > max_wait * 1000000 then
  return {0, string.format('%.0f', wait), string.format('%.0f', now + wait)}
end
local ttl = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl)
return {1, string.format('%.0f', wait), string.format('%.0f', now + wait)}
"""


class RateLimited(Exception):
    """The wait for a token would exceed `max_wait`; nothing was reserved."""

    def __init__(self, wait: float):
        super().__init__(f"rate limited: next token in {wait:.3f} s")
        self.wait = wait


class Bucket(Protocol):
    rate: float

    def acquire(self, n: int = 1, *, max_wait: float | None = None) -> float: ...


def _check(rate: float, burst: float, n: int) -> None:
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if not burst >= 1:
        raise ValueError(f"burst must be at least 1, got {burst}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")


class _Sleeps:
    """wait(): acquire() and sleep; returns the seconds slept."""

    def acquire(self, n: int = 1, *, max_wait: float | None = None) -> float:
        raise NotImplementedError

    def wait(self, n: int = 1, *, max_wait: float | None = None) -> float:
        delay = self.acquire(n, max_wait=max_wait)
        if delay > 0:
            time.sleep(delay)
        return delay


class RedisTokenBucket(_Sleeps):
    """A token bucket shared by every process that uses the same Redis and key."""

    def __init__(self, client: Any, rate: float, *, burst: float = 1.0, key: str = DEFAULT_KEY):
        _check(rate, burst, 1)
        self.client = client
        self.rate = float(rate)
        self.burst = float(burst)
        self.key = key
        self._script = client.register_script(_GCRA)

    @classmethod
    def from_url(cls, url: str, rate: float, **kwargs: Any) -> RedisTokenBucket:
        import redis

        return cls(redis.Redis.from_url(url), rate, **kwargs)

    def acquire(self, n: int = 1, *, max_wait: float | None = None) -> float:
        """Reserve `n` tokens; return the seconds to wait before using them (0: now).
        With `max_wait`, raise `RateLimited` (reserving nothing) if the wait is longer."""
        return self.reserve(n, max_wait=max_wait)[0]

    def reserve(self, n: int = 1, *, max_wait: float | None = None) -> tuple[float, float]:
        """As `acquire`, and also the reserved start in seconds of the Redis clock: the
        bucket's own account of when the tokens may be used (what its guarantee is about,
        free of the caller's scheduling delays)."""
        _check(self.rate, self.burst, n)
        limit = -1.0 if max_wait is None else max(0.0, max_wait)
        reserved, wait_us, start_us = self._script(
            keys=[self.key], args=[repr(self.rate), repr(self.burst), n, repr(limit)]
        )
        wait = float(wait_us) / 1e6
        if not int(reserved):
            raise RateLimited(wait)
        return wait, float(start_us) / 1e6

    def reset(self) -> None:
        self.client.delete(self.key)


class LocalTokenBucket(_Sleeps):
    """The same algorithm for one process (threads share it); the embedded default."""

    def __init__(self, rate: float, *, burst: float = 1.0):
        _check(rate, burst, 1)
        self.rate = float(rate)
        self.burst = float(burst)
        self._tat = 0.0
        self._lock = threading.Lock()

    def acquire(self, n: int = 1, *, max_wait: float | None = None) -> float:
        _check(self.rate, self.burst, n)
        interval = 1.0 / self.rate
        with self._lock:
            now = time.monotonic()
            new_tat = max(self._tat, now) + n * interval
            wait = max(0.0, new_tat - self.burst * interval - now)
            if max_wait is not None and wait > max_wait:
                raise RateLimited(wait)
            self._tat = new_tat
        return wait


class Unlimited:
    """No limit (the file sink: the outbox has no rate)."""

    rate = float("inf")

    def acquire(self, n: int = 1, *, max_wait: float | None = None) -> float:
        return 0.0


def bucket_for(
    redis_url: str, rate: float, *, key: str = DEFAULT_KEY, burst: float = 1.0
) -> RedisTokenBucket | LocalTokenBucket:
    """The cluster-wide bucket when there is a Redis, else a per-process one."""
    if redis_url:
        return RedisTokenBucket.from_url(redis_url, rate, burst=burst, key=key)
    return LocalTokenBucket(rate, burst=burst)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The largest number of events in any half-open window [t, t + window)."""
    ts = sorted(times)
    best = lo = 0
    for hi, t in enumerate(ts):
        while ts[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


__all__ = [
    "DEFAULT_KEY",
    "Bucket",
    "LocalTokenBucket",
    "RateLimited",
    "RedisTokenBucket",
    "Unlimited",
    "bucket_for",
    "max_in_window",
]
