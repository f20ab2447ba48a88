"""Two providers, the second taking traffic while the first keeps failing (GOV.UK Notify's
provider priority adjustment, alphagov/notifications-api).

`FailoverProvider(first, second, health)` sends each message through the first with
probability `health.share()` and through the second otherwise. Every call's outcome is
counted per provider (`Health.record`; only retryable errors count against a provider:
an invalid number is the same everywhere). At most once per `failover_step_seconds`,
across all workers, `Health.tend()` looks at the first provider's error rate over
`failover_window_seconds`: above `failover_error_rate` (with at least
`failover_min_calls` calls) its share drops by `failover_step`; otherwise it drifts
back up by the same step, so a recovered provider gets its traffic back gradually and
a still-failing one, probed with the share it drifted back to, loses it again.

A message that the chosen provider surely did not take (a retryable error that is not
unsure) is offered to the other at once; an unsure one is not (that could send it
twice): the row becomes unsure and `find_sent` asks both providers.

`RedisHealth` keeps the counts (buckets of a sixth of the window) and the share in
Redis, so the decision holds across workers and processes; each process adds its
counts in one pipeline at most every FLUSH_SECONDS and reads the share at most every
SHARE_TTL seconds, so the hot path makes no round trip of its own. `MemoryHealth` is
the same for one process (the embedded default).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from zhida.channels.sms.base import ProviderError, SendResult, SmsProvider

log = logging.getLogger("zhida.sms")

FLUSH_SECONDS = 0.5
SHARE_TTL = 1.0


@dataclass(frozen=True)
class FailoverPolicy:
    window: float = 60.0
    error_rate: float = 0.5
    min_calls: int = 10
    step: float = 0.25
    step_seconds: float = 10.0

    @property
    def bucket(self) -> float:
        return max(self.window / 6, 0.1)


class Health(Protocol):
    def record(self, name: str, ok: bool) -> None: ...

    def share(self) -> float: ...

    def tend(self, first: str) -> float | None: ...


def next_share(share: float, ok: int, err: int, policy: FailoverPolicy) -> float:
    """One step of the first provider's share, from its calls over the window."""
    calls = ok + err
    if calls >= policy.min_calls and err / calls > policy.error_rate:
        return max(0.0, round(share - policy.step, 6))
    return min(1.0, round(share + policy.step, 6))


class MemoryHealth:
    """Counts and the share in this process."""

    def __init__(self, policy: FailoverPolicy, clock: Any = time.monotonic):
        self.policy = policy
        self.clock = clock
        self._share = 1.0
        self._buckets: dict[tuple[str, int], Counter[str]] = {}
        self._last_tend = -1e18
        self._lock = threading.Lock()

    def record(self, name: str, ok: bool) -> None:
        with self._lock:
            key = (name, int(self.clock() // self.policy.bucket))
            self._buckets.setdefault(key, Counter())["ok" if ok else "err"] += 1

    def counts(self, name: str) -> tuple[int, int]:
        now = int(self.clock() // self.policy.bucket)
        oldest = now - int(self.policy.window // self.policy.bucket) + 1
        with self._lock:
            for key in [k for k in self._buckets if k[1] < oldest]:
                del self._buckets[key]
            ok = sum(c["ok"] for (n, b), c in self._buckets.items() if n == name)
            err = sum(c["err"] for (n, b), c in self._buckets.items() if n == name)
        return ok, err

    def share(self) -> float:
        return self._share

    def tend(self, first: str) -> float | None:
        with self._lock:
            if self.clock() - self._last_tend < self.policy.step_seconds:
                return None
            self._last_tend = self.clock()
        ok, err = self.counts(first)
        self._share = next_share(self._share, ok, err, self.policy)
        return self._share


class RedisHealth:
    """Counts and the share in Redis (see the module docstring)."""

    prefix = "zhida:sms:health:"

    def __init__(self, client: Any, policy: FailoverPolicy, clock: Any = time.time):
        self.client = client
        self.policy = policy
        self.clock = clock
        self._pending: Counter[tuple[str, int, str]] = Counter()
        self._flushed = 0.0
        self._share = (1.0, -1e18)  # value, when read
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, policy: FailoverPolicy) -> RedisHealth:
        import redis

        return cls(redis.Redis.from_url(url), policy)

    def _bucket(self) -> int:
        return int(self.clock() // self.policy.bucket)

    def record(self, name: str, ok: bool) -> None:
        with self._lock:
            self._pending[(name, self._bucket(), "ok" if ok else "err")] += 1
            due = self.clock() - self._flushed >= FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        """Add this process's counts (kept for the next flush if Redis is away: a send
        that succeeded must never fail because its count could not be written)."""
        from redis.exceptions import RedisError

        with self._lock:
            pending, self._pending = self._pending, Counter()
            self._flushed = self.clock()
        if not pending:
            return
        pipe = self.client.pipeline(transaction=False)
        ttl = int(self.policy.window * 2) + 1
        for (name, bucket, field), n in pending.items():
            key = f"{self.prefix}{name}:{bucket}"
            pipe.hincrby(key, field, n)
            pipe.expire(key, ttl)
        try:
            pipe.execute()
        except RedisError as err:
            log.warning("provider health: cannot write counts: %s", err)
            with self._lock:
                self._pending.update(pending)

    def counts(self, name: str) -> tuple[int, int]:
        now = self._bucket()
        span = int(self.policy.window // self.policy.bucket)
        pipe = self.client.pipeline(transaction=False)
        for bucket in range(now - span + 1, now + 1):
            pipe.hgetall(f"{self.prefix}{name}:{bucket}")
        ok = err = 0
        for item in pipe.execute():
            ok += int(item.get(b"ok", 0))
            err += int(item.get(b"err", 0))
        return ok, err

    def share(self) -> float:
        """The first provider's share (the last one read while Redis is away)."""
        from redis.exceptions import RedisError

        value, at = self._share
        if self.clock() - at < SHARE_TTL:
            return value
        try:
            raw = self.client.get(self.prefix + "share")
        except RedisError as err:
            log.warning("provider health: cannot read the share: %s", err)
            raw = None if at < 0 else str(value)
        value = 1.0 if raw is None else float(raw)
        self._share = (value, self.clock())
        return value

    def tend(self, first: str) -> float | None:
        """One adjustment per step period across the cluster (SET NX EX); None when
        another process had this period's, or Redis is away."""
        from redis.exceptions import RedisError

        self.flush()
        ttl = max(1, int(self.policy.step_seconds * 1000))
        try:
            if not self.client.set(self.prefix + "tend", "1", nx=True, px=ttl):
                return None
            ok, err = self.counts(first)
            raw = self.client.get(self.prefix + "share")
            share = next_share(1.0 if raw is None else float(raw), ok, err, self.policy)
            self.client.set(self.prefix + "share", str(share))
        except RedisError as error:
            log.warning("provider health: cannot adjust the share: %s", error)
            return None
        self._share = (share, self.clock())
        return share


class FailoverProvider:
    """The first provider while it works; the second while the first keeps failing."""

    def __init__(
        self,
        first: SmsProvider,
        second: SmsProvider,
        health: Health,
        rng: random.Random | None = None,
    ):
        self.first, self.second, self.health = first, second, health
        self.name = f"{first.name}+{second.name}"
        self.rng = rng or random.Random()
        self._tended = 0.0

    def named(self, name: str) -> SmsProvider | None:
        """The first or the second provider, by its name."""
        return next((p for p in (self.first, self.second) if p.name == name), None)

    def _send(
        self, provider: SmsProvider, to: str, body: str, reference: str, meta: Any
    ) -> SendResult:
        try:
            result = provider.send_sms(to, body, reference, meta=meta)
        except ProviderError as err:
            err.provider = provider.name
            if err.retryable:
                self.health.record(provider.name, False)
            raise
        self.health.record(provider.name, True)
        return SendResult(result.provider_ref, result.status, provider=provider.name)

    def send_sms(
        self, to: str, body: str, reference: str, *, meta: Mapping[str, Any] | None = None
    ) -> SendResult:
        self._maybe_tend()
        chosen, other = (
            (self.first, self.second)
            if self.rng.random() < self.health.share()
            else (self.second, self.first)
        )
        try:
            return self._send(chosen, to, body, reference, meta)
        except ProviderError as err:
            if not err.retryable or err.unsure:
                raise
        return self._send(other, to, body, reference, meta)  # surely not taken: the other

    def _maybe_tend(self) -> None:
        now = time.monotonic()
        if now - self._tended >= 1.0:  # the health decides how often it really adjusts
            self._tended = now
            self.health.tend(self.first.name)

    def find_sent(
        self, to: str, body: str, reference: str, since: dt.datetime
    ) -> SendResult | None:
        """Asks both (a dead sender's call may have gone to either): the first found;
        None only when both answered and neither holds it."""
        failure: ProviderError | None = None
        for provider in (self.first, self.second):
            try:
                found = provider.find_sent(to, body, reference, since)
            except ProviderError as err:
                failure = err
                continue
            if found is not None:
                return SendResult(found.provider_ref, found.status, provider=provider.name)
        if failure is not None:
            raise failure
        return None
