"""The cluster-wide token bucket (a Lua script in real Redis): spacing, max_wait, and
a rate that holds across two processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.support.cli import ROOT
from zhida.channels.ratelimit import (
    LocalTokenBucket,
    RateLimited,
    RedisTokenBucket,
    bucket_for,
    max_in_window,
)


@pytest.fixture()
def key(redis_url: str) -> Iterator[str]:
    name = f"zhida:test:bucket:{uuid.uuid4().hex}"
    yield name
    redis.Redis.from_url(redis_url).delete(name)


def test_reservations_are_spaced_one_over_rate(redis_url: str, key: str) -> None:
    bucket = RedisTokenBucket.from_url(redis_url, 100.0, key=key)
    start = time.monotonic()
    waits = [bucket.acquire() for _ in range(20)]
    elapsed = time.monotonic() - start
    # each call reserves the next slot: waits grow by 10 ms a call (less the time spent)
    assert waits[0] == 0.0
    for i, wait in enumerate(waits):
        assert i * 0.01 - elapsed - 0.002 <= wait <= i * 0.01 + 0.002


def near(expected: float, wait: float, start: float) -> bool:
    """A reservation's wait is `expected` less the time that passed since `start` (the
    bucket counts real time: a loaded machine makes the waits shorter, never longer)."""
    elapsed = time.monotonic() - start
    return expected - elapsed - 0.01 <= wait <= expected + 0.001


def test_acquire_n_and_burst(redis_url: str, key: str) -> None:
    bucket = RedisTokenBucket.from_url(redis_url, 1.0, burst=5, key=key)
    start = time.monotonic()
    assert [bucket.acquire() for _ in range(5)] == [0.0] * 5  # the burst is free
    assert near(1.0, bucket.acquire(), start)
    assert near(4.0, bucket.acquire(3), start)  # three more tokens: 1 + 3
    with pytest.raises(ValueError):
        bucket.acquire(0)


def test_max_wait_reserves_nothing(redis_url: str, key: str) -> None:
    bucket = RedisTokenBucket.from_url(redis_url, 1.0, key=key)
    start = time.monotonic()
    assert bucket.acquire() == 0.0
    assert near(1.0, bucket.acquire(), start)  # the next slot is taken
    with pytest.raises(RateLimited) as caught:
        bucket.acquire(max_wait=0.5)
    assert near(2.0, caught.value.wait, start)
    with pytest.raises(RateLimited):  # still the same wait: nothing was reserved
        bucket.acquire(max_wait=0.5)
    assert near(2.0, bucket.acquire(max_wait=5.0), start)


def test_the_key_expires_when_idle(redis_url: str, key: str) -> None:
    bucket = RedisTokenBucket.from_url(redis_url, 1000.0, key=key)
    bucket.acquire()
    ttl = redis.Redis.from_url(redis_url).pttl(key)
    assert 0 < ttl <= 1100


def test_threads_in_one_process_share_the_rate(redis_url: str, key: str) -> None:
    bucket = RedisTokenBucket.from_url(redis_url, 50.0, key=key)
    stamps: list[float] = []
    lock = threading.Lock()
    deadline = time.time() + 1.0

    def run() -> None:
        while time.time() < deadline:
            asked = time.time()
            wait = bucket.acquire()
            time.sleep(wait)
            with lock:  # the reserved slot: free of this machine's scheduling noise
                stamps.append(asked + wait)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # a slot is estimated up to one Redis round trip early: +1 for that at the edges
    assert max_in_window(stamps) <= 52
    assert 45 <= len(stamps) <= 60


WORKER = textwrap.dedent("""
    import json, sys, threading, time
    from zhida.channels.ratelimit import RedisTokenBucket
    url, key, rate, start, duration = sys.argv[1], sys.argv[2], float(sys.argv[3]), \\
        float(sys.argv[4]), float(sys.argv[5])
    bucket = RedisTokenBucket.from_url(url, rate, key=key)
    stamps, lock = [], threading.Lock()
    def run():
        while True:
            wait, slot = bucket.reserve()  # the reserved start, on the (local) Redis clock
            time.sleep(wait)
            if slot >= start + duration:
                return
            with lock:
                stamps.append(slot)
    time.sleep(max(0.0, start - time.time()))
    threads = [threading.Thread(target=run) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(json.dumps(stamps))
""")


def test_the_rate_holds_across_two_processes(redis_url: str, key: str) -> None:
    rate, duration = 40.0, 2.0
    start = time.time() + 1.5  # both processes are up and importing by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_url, key, str(rate), str(start), str(duration)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=30)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    per_process = [json.loads(out) for out in outputs]
    stamps = [t for stamps in per_process for t in stamps]
    # alone, each process would have sent 80; together they share 40/s
    assert all(len(s) >= 0.25 * len(stamps) for s in per_process)
    # never more than the rate allows; at least half of it even on a loaded machine
    assert 0.5 * rate * duration <= len(stamps) <= rate * duration + 2
    # the bucket's guarantee (burst 1): at most 1 + rate x T starts in any T seconds
    assert max_in_window(stamps) <= rate + 1


def test_local_bucket_and_fallback() -> None:
    bucket = LocalTokenBucket(20.0)
    assert bucket.acquire() == 0.0
    assert 0.04 <= bucket.acquire() <= 0.05
    with pytest.raises(RateLimited):
        bucket.acquire(max_wait=0.01)
    assert isinstance(bucket_for("", 5.0), LocalTokenBucket)
    with pytest.raises(ValueError):
        LocalTokenBucket(0)


def test_max_in_window_counts_half_open_windows() -> None:
    assert max_in_window([]) == 0
    assert max_in_window([0.0, 0.5, 1.0, 1.5]) == 2
    assert max_in_window([0.0, 0.999, 1.0]) == 2
    assert max_in_window([i * 20 for i in range(200)], 1000) == 50  # ms: exact
