"""Every benchmark in bench/ runs to the end at a tiny size, so a broken one fails
the suite (bench/preview.py once failed with an ImportError for weeks).

Each runs as `python -m bench.NAME` in a subprocess, as a person runs it, against the
real PostgreSQL; the ones that need a broker start their own redis-server and Celery
workers, as they do at full size. The numbers are not checked, only that the run ends
with exit 0, no traceback and a report on stdout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]

#: name -> the smallest options that still go through every phase
BENCHMARKS: dict[str, list[str]] = {
    "evaluate": [
        "--profiles",
        "300",
        "--policies",
        "3",
        "--reference-sample",
        "50",
        "--durable-sample",
        "20",
        "--repeats",
        "1",
    ],
    "realtime": [
        "--events",
        "200",
        "--policies",
        "3",
        "--profiles",
        "50",
        "--batch-profiles",
        "300",
        "--check",
        "20",
    ],
    "preview": ["--profiles", "200"],
    "officer_check": ["--lines", "40", "--repeat", "2"],
    "ranking": ["--profiles", "2000", "--train-profiles", "20000", "--repeats", "1"],
    "stream": ["--profiles", "300", "--parts"],
    "load_frame": ["--profiles", "300", "--repeat", "1"],
    "import_bench": ["--rows", "300", "--skip-changed"],
    "planning": ["--transitions", "200", "--policies", "2", "--no-baseline"],
    "reeval": ["--profiles", "300", "--workers", "1", "--chunk-size", "100"],
    "delivery": [
        "--n",
        "40",
        "--low-n",
        "10",
        "--low-rate",
        "20",
        "--workers",
        "1",
        "--concurrency",
        "2",
    ],
    # its exit status says every phase was reconciled; tests/channels/delivery/test_drill.py
    # runs the SIGKILL and provider-fault phases
    "declare": ["--policies", "3", "--profiles", "20", "--declarations", "4"],
    "me_policies": ["--profiles", "50", "--requests", "5", "--rounds", "1"],
    "drill": ["--n", "60", "--phases", "failover", "--sweep-after", "5", "--timeout", "120"],
}
NEEDS_POSTGRESQL = {
    "preview",
    "import_bench",
    "planning",
    "reeval",
    "delivery",
    "drill",
    "load_frame",
    "declare",
    "me_policies",
}
NEEDS_REDIS_SERVER = {"reeval", "delivery", "drill"}


def test_every_benchmark_is_listed() -> None:
    runnable = {
        p.stem
        for p in (ROOT / "bench").glob("*.py")
        if "def main(" in p.read_text(encoding="utf-8")
    }
    assert runnable == set(BENCHMARKS)


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_benchmark_runs_at_a_tiny_size(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = dict(os.environ)
    args = list(BENCHMARKS[name])
    if name in NEEDS_POSTGRESQL:
        env["ZHIDA_TEST_PG_URL"] = admin_url = str(request.getfixturevalue("pg_admin_url"))
        args += ["--admin-url", admin_url] if name == "planning" else []
    if name in NEEDS_REDIS_SERVER and shutil.which("redis-server") is None:
        unavailable("redis-server", "not on PATH")
    args += ["--out", str(tmp_path / "out")] if name in ("delivery", "drill") else []
    env |= {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert result.stdout.strip(), "no report on stdout"
