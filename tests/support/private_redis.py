"""A throwaway redis-server on a free port, so tests that flush, fill or restart a broker
never disturb anyone else's Redis (the shared 6379)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import redis

from tests.support.ports import free_port
from tests.support.waiting import wait_until


class PrivateRedis:
    """redis-server without RDB snapshots on a free port, started and stopped by the test
    (restartable on the same port). With a `workdir` it keeps its log there, and
    `start(persistent=True)` turns on the append-only file there (survives a restart)."""

    def __init__(self, workdir: Path | None = None) -> None:
        self.port = free_port()
        self.dir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, persistent: bool = False) -> PrivateRedis:
        if persistent and self.dir is None:
            raise ValueError("a persistent PrivateRedis needs a workdir")
        args = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if persistent else "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        out: Any = subprocess.DEVNULL
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            args += ["--dir", str(self.dir)]
            out = (self.dir / "redis.log").open("ab")
        try:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        finally:
            if out is not subprocess.DEVNULL:
                out.close()  # the child keeps its own copy
        client = redis.Redis(port=self.port)
        try:
            wait_until(lambda: _answers(client) or self._exited(), timeout=10, interval=0.05)
        finally:
            client.close()
        if self._exited():
            raise RuntimeError(f"redis-server on port {self.port} exited at start")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def _exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
