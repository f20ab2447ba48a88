"""Runs through real `zhida worker` processes and a private Redis (never the shared 6379).

Each test starts its own redis-server on a free port and its own worker processes
(process groups it kills by id), against a fresh PostgreSQL database, and points the
Celery app of this process at them afresh (`use_env`). Chunks are made slow
(ZHIDA_CHUNK_DELAY, inside the chunk's open transaction) so a crash lands mid-run and
mid-chunk. Every test ends by checking that the decisions are exactly those of
evaluating the profiles directly and the transitions exactly the changes, each once.

The tests wait on events they can observe, never on a guessed time: a worker's
" ready." log line, the run's chunks in the database, the messages in the private
Redis, the open transactions in pg_stat_activity, the sweeper's own test of a stall.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import redis as redis_lib
from sqlalchemy import text
from typer.testing import CliRunner

from tests.conftest import unavailable
from tests.support.private_redis import PrivateRedis
from tests.support.runs import (
    AS_OF,
    AS_OF_LATER,
    assert_matches_direct,
    decisions,
    expected_transitions,
    get_run,
    population,
    publish,
    reset_env,
    seed_profiles,
    transitions,
    use_env,
)
from zhida.runs.listing import stalled_runs
from zhida.runs.reevaluate import create_run, pending_chunks
from zhida.store.db import session_scope
from zhida.store.models import Run
from zhida.worker import QueueNames

ROOT = Path(__file__).resolve().parents[1]
N = 2400
CHUNK = 120  # 20 chunks
DELAY = "0.35"  # seconds per chunk, inside its transaction
STALL_MINUTES = 0.02  # the sweeper's idle time in the Redis-restart test


@pytest.fixture()
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server", "no redis-server binary")
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Workers:
    """`zhida worker` processes started by a test, each in its own process group."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, env: dict[str, str], concurrency: int = 2) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        log_path = self.tmp / f"worker{n}.log"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zhida.cli",
                "worker",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "-Q",
                QueueNames.RUNS,
            ],
            cwd=ROOT,
            env=env,
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        wait_for(
            lambda: b" ready." in log_path.read_bytes() or proc.poll() is not None,
            30,
            f"worker {n} to start",
        )
        assert proc.poll() is None, log_path.read_text()
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and its pool processes (its process group)."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        """At the end of a test (its run checked): kill, so a notification planning task
        started by the run's end does not hold the test up."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp.glob("worker*.log"))
        )


@pytest.fixture()
def workers(tmp_path: Path) -> Iterator[Workers]:
    w = Workers(tmp_path)
    try:
        yield w
    finally:
        w.stop_all()
        reset_env()


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def worker_env(
    pg_url: str, redis_url: str, tmp: Path, visibility: float = 3600, stall_minutes: float = 15
) -> dict[str, str]:
    env = dict(os.environ)
    # runs alone: no notification planning after the run (tested in test_runs.py), and
    # should anything of the notifications side run here, its files stay in tmp
    env.update(
        {
            "ZHIDA_PLAN_AFTER_RUN": "0",
            "ZHIDA_VAR_DIR": str(tmp / "var"),
            "ZHIDA_SMS_OUTBOX": str(tmp / "var" / "outbox" / "sms.jsonl"),
        }
    )
    env.update(
        {
            "ZHIDA_DATABASE_URL": pg_url,
            "ZHIDA_REDIS_URL": redis_url,
            "ZHIDA_CHUNK_DELAY": DELAY,
            "ZHIDA_BROKER_VISIBILITY_TIMEOUT": str(visibility),
            "ZHIDA_STALL_MINUTES": str(stall_minutes),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_state(pg_url: str, run_id: int) -> tuple[str, int]:
    with session_scope(pg_url) as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run.status, run.chunks_done


def wait_done(pg_url: str, run_id: int, workers: Workers, timeout: float = 150) -> None:
    try:
        wait_for(lambda: run_state(pg_url, run_id)[0] == "done", timeout, f"run {run_id}")
    except AssertionError:
        print(workers.logs())
        raise


def open_transactions(pg_url: str) -> int:
    """Other sessions on this test's database inside a transaction (a chunk in progress
    holds one open, ZHIDA_CHUNK_DELAY long); none once a killed worker's are gone."""
    with session_scope(pg_url) as session:
        return int(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state <> 'idle'"
                )
            )
            or 0
        )


def queued_chunks(redis_url: str) -> set[int]:
    """The chunks of the evaluate_chunk messages waiting in the runs queue (kombu keeps a
    queue as a Redis list of JSON envelopes, each with a base64 JSON body
    [args, kwargs, embed])."""
    client = redis_lib.Redis.from_url(redis_url)
    try:
        raw = client.lrange(QueueNames.RUNS, 0, -1)
    finally:
        client.close()
    return {int(json.loads(base64.b64decode(json.loads(m)["body"]))[0][1]) for m in raw}


def queue_length(redis_url: str) -> int:
    """Messages waiting in the runs queue."""
    client = redis_lib.Redis.from_url(redis_url)
    try:
        return int(client.llen(QueueNames.RUNS))
    finally:
        client.close()


def after_kill(pg_url: str, run_id: int, redis_url: str) -> tuple[int, set[int]]:
    """Once a killed worker's transactions are gone: the chunks done, and the chunks no
    live worker can get (pending, not in the queue: the killed worker held them)."""
    wait_for(lambda: open_transactions(pg_url) == 0, 30, "the killed worker's sessions")
    with session_scope(pg_url) as session:
        pending = set(pending_chunks(session, run_id))
    return run_state(pg_url, run_id)[1], pending - queued_chunks(redis_url)


def wait_until_only_left(pg_url: str, run_id: int, stuck: set[int], timeout: float = 150) -> None:
    """Wait until every chunk still pending is one of `stuck`: the others are done."""

    def only_stuck_left() -> bool:
        with session_scope(pg_url) as session:
            return set(pending_chunks(session, run_id)) <= stuck

    wait_for(only_stuck_left, timeout, f"run {run_id} to finish all but {sorted(stuck)}")


def counts_as_stalled(pg_url: str, run_id: int, stall_minutes: float) -> bool:
    """The sweeper's own test: pending chunks and none finished for `stall_minutes`."""
    with session_scope(pg_url) as session:
        return run_id in stalled_runs(session, dt.timedelta(minutes=stall_minutes))


def quiet(pg_url: str, run_id: int, redis_url: str, stall_minutes: float) -> bool:
    """Stalled, nothing in the queue and no chunk (or sweep) in a transaction."""
    return (
        counts_as_stalled(pg_url, run_id, stall_minutes)
        and queue_length(redis_url) == 0
        and open_transactions(pg_url) == 0
    )


def wait_stalled(
    pg_url: str,
    run_id: int,
    redis_url: str,
    stall_minutes: float,
    workers: Workers,
    timeout: float = 150,
) -> int:
    """After the broker lost its queued messages: wait until the run is quiet (see
    `quiet`); returns the chunks done."""
    try:
        wait_for(
            lambda: quiet(pg_url, run_id, redis_url, stall_minutes),
            timeout,
            f"run {run_id} to stall",
        )
    except AssertionError:
        print(workers.logs())
        raise
    return run_state(pg_url, run_id)[1]


def sweep_until_done(
    pg_url: str,
    run_id: int,
    redis_url: str,
    stall_minutes: float,
    workers: Workers,
    timeout: float = 150,
) -> None:
    """Send the sweep (what beat sends every 5 minutes) whenever the run is quiet, until
    it is done: a sweep that lands just after a chunk finished finds nothing stalled, and
    the next quiet moment sends another (repeats are harmless: chunks done are no-ops)."""
    from zhida.worker import sweep_stalled_runs

    def done_or_swept() -> bool:
        if run_state(pg_url, run_id)[0] == "done":
            return True
        if quiet(pg_url, run_id, redis_url, stall_minutes):
            sweep_stalled_runs.delay()
        return False

    try:
        wait_for(done_or_swept, timeout, f"run {run_id} to be swept and done")
    except AssertionError:
        print(workers.logs())
        raise


def new_run(pg_url: str, versions: dict[str, int], as_of: dt.date) -> int:
    with session_scope(pg_url) as session:
        return create_run(session, "manual", "enterprise", list(versions.values()), as_of, CHUNK).id


def check_exact(
    pg_url: str,
    run_id: int,
    frame: pl.DataFrame,
    versions: dict[str, int],
    as_of: dt.date,
    before: dict[tuple[str, str], tuple[Any, ...]],
) -> None:
    assert_matches_direct(pg_url, frame, versions, as_of)
    got = transitions(pg_url, run_id)
    assert got == expected_transitions(before, decisions(pg_url), versions)
    assert len(got) == len(set((t[0], t[1]) for t in got))
    run = get_run(pg_url, run_id)
    assert run.status == "done" and run.chunks_done == run.chunks_total == N // CHUNK
    assert run.counts["transitions"] == len(got)
    assert run.counts["profiles"] == N


def test_sigkill_mid_run_then_a_second_worker(
    pg_url: str, private_redis: PrivateRedis, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed with SIGKILL mid-run (mid-chunk); a second worker restores the
    unacknowledged messages after the visibility timeout and finishes the run."""
    frame = population(N, seed=5)
    seed_profiles(pg_url, frame)
    versions = publish(pg_url)
    use_env(monkeypatch, pg_url)  # eager: the state before, as of AS_OF
    with session_scope(pg_url) as session:
        first = create_run(session, "manual", "enterprise", list(versions.values()), AS_OF, 1000).id
    from zhida.worker import start_run

    start_run(first)
    before = decisions(pg_url)
    use_env(monkeypatch, pg_url, private_redis.url)
    env = worker_env(pg_url, private_redis.url, workers.tmp, visibility=4)
    w1 = workers.start(env)
    run_id = new_run(pg_url, versions, AS_OF_LATER)
    assert start_run(run_id) == N // CHUNK
    wait_for(lambda: run_state(pg_url, run_id)[1] >= 4, 30, "4 chunks done")
    workers.kill(w1)
    done, _ = after_kill(pg_url, run_id, private_redis.url)
    status, _ = run_state(pg_url, run_id)
    assert status == "running" and done < N // CHUNK
    time.sleep(0.5)
    assert run_state(pg_url, run_id)[1] == done  # nothing runs any more
    workers.start(env)
    wait_done(pg_url, run_id, workers)
    check_exact(pg_url, run_id, frame, versions, AS_OF_LATER, before)


def test_resume_after_a_crash(
    pg_url: str, private_redis: PrivateRedis, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the default (long) visibility timeout, the chunks the killed worker held stay
    pending; `zhida runs resume RUN` re-queues them and the run finishes exactly."""
    frame = population(N, seed=6)
    seed_profiles(pg_url, frame)
    versions = publish(pg_url)
    use_env(monkeypatch, pg_url, private_redis.url)
    env = worker_env(pg_url, private_redis.url, workers.tmp)
    w1 = workers.start(env)
    run_id = new_run(pg_url, versions, AS_OF)
    from zhida.cli.main import app
    from zhida.worker import start_run

    start_run(run_id)
    wait_for(lambda: run_state(pg_url, run_id)[1] >= 3, 30, "3 chunks done")
    workers.kill(w1)
    _, stuck = after_kill(pg_url, run_id, private_redis.url)
    workers.start(env)
    wait_until_only_left(pg_url, run_id, stuck)
    done = run_state(pg_url, run_id)[1]
    with session_scope(pg_url) as session:
        left = pending_chunks(session, run_id)
    assert 1 <= len(left) <= 2 and done + len(left) == N // CHUNK  # the killed worker's
    result = CliRunner().invoke(app, ["runs", "resume", str(run_id)])
    assert result.exit_code == 0, result.output
    assert f"{len(left)} chunks queued" in result.output
    wait_done(pg_url, run_id, workers)
    check_exact(pg_url, run_id, frame, versions, AS_OF, {})
    result = CliRunner().invoke(app, ["runs", "resume", str(run_id)])
    assert "already done" in result.output
    check_exact(pg_url, run_id, frame, versions, AS_OF, {})


def test_redis_restart_without_persistence(
    pg_url: str, private_redis: PrivateRedis, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis restarted empty mid-run: the worker reconnects by itself; the queued chunks
    are lost, the run stalls, and the stalled-run sweeper (a beat task, sent here at
    once) re-queues them."""
    frame = population(N, seed=7)
    seed_profiles(pg_url, frame)
    versions = publish(pg_url)
    use_env(monkeypatch, pg_url, private_redis.url)
    env = worker_env(pg_url, private_redis.url, workers.tmp, stall_minutes=STALL_MINUTES)
    w1 = workers.start(env)
    run_id = new_run(pg_url, versions, AS_OF)
    from zhida.worker import start_run

    start_run(run_id)
    wait_for(lambda: run_state(pg_url, run_id)[1] >= 3, 30, "3 chunks done")
    private_redis.stop()
    private_redis.start()
    done = wait_stalled(pg_url, run_id, private_redis.url, STALL_MINUTES, workers)
    assert done < N // CHUNK and run_state(pg_url, run_id)[0] == "running"
    assert w1.poll() is None  # the worker survived the broker restart
    sweep_until_done(pg_url, run_id, private_redis.url, STALL_MINUTES, workers)
    check_exact(pg_url, run_id, frame, versions, AS_OF, {})


def test_redis_restart_with_persistence_needs_nothing(
    pg_url: str, private_redis: PrivateRedis, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A persistent Redis (AOF) restarted mid-run: queued messages survive, the ones the
    worker held come back after the visibility timeout; the run finishes on its own."""
    private_redis.stop()
    private_redis.start(persistent=True)
    frame = population(N, seed=8)
    seed_profiles(pg_url, frame)
    versions = publish(pg_url)
    use_env(monkeypatch, pg_url, private_redis.url)
    env = worker_env(pg_url, private_redis.url, workers.tmp, visibility=4)
    w1 = workers.start(env)
    run_id = new_run(pg_url, versions, AS_OF)
    from zhida.worker import start_run

    start_run(run_id)
    wait_for(lambda: run_state(pg_url, run_id)[1] >= 3, 30, "3 chunks done")
    private_redis.stop()
    time.sleep(0.5)
    private_redis.start(persistent=True)
    wait_done(pg_url, run_id, workers)
    assert w1.poll() is None
    check_exact(pg_url, run_id, frame, versions, AS_OF, {})
