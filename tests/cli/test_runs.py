"""`zhida runs start|list|watch|resume` and `zhida worker` on the embedded default."""

from __future__ import annotations

import json
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
