"""`zhida runs start|list|watch|resume` and `zhida worker` on the embedded default."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.support.runs import (
    AS_OF,
    assert_matches_direct,
    get_run,
    population,
    publish,
    reset_env,
    seed_profiles,
    use_env,
)
from tests.support.waiting import wait_until
from zhida.cli.main import app


@pytest.fixture(autouse=True)
def _restore_settings() -> Iterator[None]:
    yield
    reset_env()


def last_json(output: str) -> dict[str, Any]:
    lines = [line for line in output.splitlines() if line.startswith("{")]
    return dict(json.loads(lines[-1]))


def test_start_list_watch_resume(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, sqlite_url, chunk_size=300)
    frame = population(1000)
    seed_profiles(sqlite_url, frame)
    versions = publish(sqlite_url, ["zj-tech-sme", "innovative-sme"])
    runner = CliRunner()
    result = runner.invoke(app, ["runs", "start", "--kind", "enterprise", "--as-of", "2026-04-01"])
    assert result.exit_code == 0, result.output
    line = last_json(result.output)
    assert (line["status"], line["chunks_done"], line["chunks_total"]) == ("done", 4, 4)
    assert line["counts"]["pairs"] == 2000
    assert_matches_direct(sqlite_url, frame, versions, AS_OF)
    assert get_run(sqlite_url, line["id"]).trigger == "manual"
    # one policy, by id
    result = runner.invoke(
        app,
        [
            "runs",
            "start",
            "--kind",
            "enterprise",
            "--policy",
            "zj-tech-sme",
            "--as-of",
            "2026-04-01",
        ],
    )
    assert result.exit_code == 0, result.output
    second = last_json(result.output)
    assert second["policy_version_ids"] == [versions["zj-tech-sme"]]
    assert second["counts"]["transitions"] == 0
    result = runner.invoke(app, ["runs", "list"])
    assert result.exit_code == 0 and "manual" in result.output and "4/4" in result.output
    result = runner.invoke(app, ["runs", "list", "--json"])
    assert [json.loads(x)["id"] for x in result.output.splitlines()] == [second["id"], line["id"]]
    result = runner.invoke(app, ["runs", "watch", str(line["id"]), "--interval", "0.1"])
    assert result.exit_code == 0 and last_json(result.output)["status"] == "done"
    result = runner.invoke(app, ["runs", "resume", str(line["id"])])
    assert result.exit_code == 0 and "already done" in result.output


def test_user_errors(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, sqlite_url)
    runner = CliRunner()
    result = runner.invoke(app, ["runs", "watch", "42"])
    assert result.exit_code == 1 and "error: no run 42" in result.output
    result = runner.invoke(app, ["runs", "start", "--kind", "enterprise", "--policy", "nope"])
    assert result.exit_code == 1 and "no published enterprise policy 'nope'" in result.output
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 1 and "ZHIDA_REDIS_URL is not set" in result.output
    assert "Traceback" not in result.output


def test_runs_alone_lists_the_runs(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, sqlite_url, chunk_size=300)
    seed_profiles(sqlite_url, population(400))
    publish(sqlite_url, ["zj-tech-sme"])
    runner = CliRunner()
    started = runner.invoke(app, ["runs", "start", "--kind", "enterprise"])
    assert started.exit_code == 0, started.output
    result = runner.invoke(app, ["runs"])
    assert result.exit_code == 0, result.output
    assert "manual" in result.output and "2/2" in result.output
    assert "Usage" not in result.output


def test_watch_hints_at_a_stalled_run(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed worker left chunks undone: the watch names them and the way out."""
    from rich.console import Console
    from sqlalchemy import update

    from zhida.cli.runs import run_watch
    from zhida.runs.reevaluate import create_run, mark_running, process_chunk
    from zhida.store.db import session_scope
    from zhida.store.models import Run, RunChunk
    from zhida.worker import resume_run

    use_env(monkeypatch, sqlite_url, chunk_size=300)
    seed_profiles(sqlite_url, population(1000))
    versions = publish(sqlite_url, ["zj-tech-sme"])
    with session_scope() as session:
        run_id = create_run(session, "manual", "enterprise", list(versions.values()), AS_OF).id
    with session_scope() as session:
        mark_running(session, run_id)
        process_chunk(session, run_id, 0)
        process_chunk(session, run_id, 1)
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with session_scope() as session:
        session.execute(update(RunChunk).values(finished_at=an_hour_ago))
        session.execute(update(Run).values(created_at=an_hour_ago, started_at=an_hour_ago))
    err, out = io.StringIO(), io.StringIO()
    codes: list[int] = []
    watch = threading.Thread(
        target=lambda: codes.append(
            run_watch(run_id, Console(file=out), Console(file=err, width=200), 0.1, stall_after=60)
        )
    )
    watch.start()
    try:  # the operator follows the hint; the watch then ends
        wait_until(lambda: "zhida runs resume" in err.getvalue(), timeout=30)
    finally:
        resume_run(run_id)
        watch.join(timeout=30)
    assert codes == [0] and json.loads(out.getvalue())["status"] == "done"
    hint = err.getvalue()
    assert f"run {run_id} looks stalled: no chunk finished for 1h00m" in hint
    assert "2 chunks not done (2, 3)" in hint
    assert hint.count("looks stalled") == 1


def test_worker_node_names_differ_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two `zhida worker` on one machine: celery@HOST twice unless each gets its own name
    (the worker itself is not started: its argv is what is checked)."""
    from zhida.settings import get_settings
    from zhida.worker import app as celery_app

    monkeypatch.setenv("ZHIDA_REDIS_URL", "redis://127.0.0.1:6379/15")
    get_settings.cache_clear()
    seen: list[list[str]] = []
    monkeypatch.setattr(celery_app, "worker_main", lambda argv: seen.append(list(argv)))
    runner = CliRunner()
    assert runner.invoke(app, ["worker"]).exit_code == 0
    assert runner.invoke(app, ["worker", "--hostname", "sms1@%h", "-Q", "sms"]).exit_code == 0
    assert f"--hostname=zhida-{os.getpid()}@%h" in seen[0]
    assert "--hostname=sms1@%h" in seen[1] and "--queues=sms" in seen[1]
