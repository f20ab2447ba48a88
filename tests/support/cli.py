"""The `zhida` command line as tests run it: in process with Typer's CliRunner (fast), or
as a real `python -m zhida.cli` subprocess (exit codes and "no traceback" as a shell
sees them). Both give `returncode`, `stdout` and `stderr`, like subprocess.run."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(
    *args: str | Path, env: dict[str, str] | None = None, input: str | None = None
) -> CliResult:
    """`zhida ARGS` in this process, from the repository root, with `env` (ZHIDA_*) set
    for the call and the settings cache cleared around it; `input` is its standard input.
    An exception the command does not turn into an exit code propagates (where a
    subprocess prints a traceback)."""
    from zhida.cli import app
    from zhida.settings import get_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        for name, value in (env or {}).items():
            mp.setenv(name, value)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(
                app, [str(a) for a in args], input=input, catch_exceptions=False
            )
        finally:
            get_settings.cache_clear()
    return CliResult(result.exit_code, result.stdout, result.stderr)


def run_cli_process(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m zhida.cli ARGS` in a subprocess from the repository root, with `env`
    added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "zhida.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
