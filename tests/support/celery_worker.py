"""A Celery worker of zhida.worker in a subprocess, for the end-to-end tests and
benchmarks that need the real thing."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class CeleryWorker:
    """`celery -A zhida.worker worker` in a subprocess, importing the SMS tasks, with
    its settings from `env` (ZHIDA_*). Stopped (TERM, then KILL) on exit."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        pool: str = "threads",
        concurrency: int = 8,
        name: str = "w1",
        log_path: Path | None = None,
        extra: list[str] | None = None,
    ):
        self.env = {**os.environ, **env}
        self.pool = pool
        self.concurrency = concurrency
        self.name = name
        self.log_path = log_path
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CeleryWorker:
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "zhida.worker",
            "worker",
            "--pool",
            self.pool,
            "--concurrency",
            str(self.concurrency),
            "--hostname",
            f"{self.name}@%h",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *self.extra,
        ]
        with contextlib.ExitStack() as stack:  # the child keeps its own copy of the fd
            out: Any = (
                stack.enter_context(open(self.log_path, "ab"))
                if self.log_path
                else subprocess.DEVNULL
            )
            self.proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self) -> CeleryWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
