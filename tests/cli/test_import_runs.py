"""An import re-evaluates the profiles it changed (issue 14.5; DESIGN "Re-evaluation
after a change"): a run over just them, notifications for the newly eligible, and
nothing at all when the import changes nothing."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select

from tests.support.celery_worker import CeleryWorker
from tests.support.cli import run_cli
from tests.support.private_redis import PrivateRedis
from tests.support.runs import (
    AS_OF,
    decisions,
    get_run,
    pack,
    population,
    publish,
    reset_env,
    seed_profiles,
    use_env,
)
from tests.support.waiting import wait_until
from zhida.profiles.schema import Audience
from zhida.ranking.evaluate import evaluate_to_jsonl
from zhida.store.db import session_scope
from zhida.store.models import InboxMessage, Notification, Run

POLICY = "zj-tech-sme"


@pytest.fixture(autouse=True)
def _restore_settings() -> Iterator[None]:
    yield
    reset_env()


def failing_only_on_credit(frame: pl.DataFrame, n: int) -> list[str]:
    """Profiles ineligible for the policy only for their tax credit (D)."""
    loaded = pack()
    policies = [p for p in loaded.policies if p.id == POLICY]
    buf = io.BytesIO()
    evaluate_to_jsonl(
        policies, {Audience.ENTERPRISE: frame}, loaded.schemas, AS_OF, buf, include_all=True
    )
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    ids = [r["profile"] for r in rows if r["failed"] == ["credit"] and not r["unknown"]]
    assert len(ids) >= n
    return ids[:n]


def write_refresh(path: Path, ids: list[str]) -> Path:
    path.write_text(
        "".join(json.dumps({"id": i, "kind": "enterprise", "tax_credit": "A"}) + "\n" for i in ids)
    )
    return path


def test_an_import_that_changes_profiles_re_evaluates_just_them(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded default: the run is done in-process and the newly eligible told."""
    use_env(monkeypatch, sqlite_url, chunk_size=300)
    monkeypatch.setenv("ZHIDA_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ZHIDA_SMS_OUTBOX", str(tmp_path / "var" / "outbox" / "sms.jsonl"))
    frame = population(1000)
    seed_profiles(sqlite_url, frame)
    publish(sqlite_url, [POLICY])
    first = run_cli("runs", "start", "--kind", "enterprise", "--as-of", AS_OF.isoformat())
    assert first.returncode == 0, first.stderr
    before = decisions(sqlite_url)
    firms = failing_only_on_credit(frame, 3)
    path = write_refresh(tmp_path / "refresh.jsonl", firms)

    result = run_cli("import", path, "--as-of", AS_OF.isoformat())
    assert result.returncode == 0, result.stderr
    with session_scope(sqlite_url) as session:
        run = session.scalars(select(Run).where(Run.trigger == "import")).one()
        run_id = run.id
    assert f"run {run_id}: 3 changed enterprise profiles re-evaluated" in result.stdout
    assert "+3 eligible" in result.stdout
    run = get_run(sqlite_url, run_id)
    assert (run.status, run.counts["profiles"], run.counts["newly_eligible"]) == ("done", 3, 3)
    after = decisions(sqlite_url)
    assert {k for k in after if k not in before} == {(f, POLICY) for f in firms}
    assert {k: v for k, v in after.items() if k in before} == before  # the others untouched
    with session_scope(sqlite_url) as session:
        told = set(session.scalars(select(InboxMessage.profile_id)))
        sms = set(session.scalars(select(Notification.profile_id)))
    assert set(firms) <= told and set(firms) <= sms

    again = run_cli("import", path, "--as-of", AS_OF.isoformat())
    assert again.returncode == 0, again.stderr
    assert "run " not in again.stdout
    with session_scope(sqlite_url) as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 2

    skipped = run_cli("import", write_refresh(tmp_path / "b.jsonl", ["E-new"]), "--no-run")
    assert skipped.returncode == 0, skipped.stderr
    assert "run " not in skipped.stdout


def test_in_production_the_import_queues_its_run_on_the_workers(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL, a private Redis and a real worker: the import queues the run, the
    worker does it and plans the newly eligible's notifications."""
    frame = population(1000)
    seed_profiles(pg_url, frame)
    publish(pg_url, [POLICY])
    firms = failing_only_on_credit(frame, 3)
    path = write_refresh(tmp_path / "refresh.jsonl", firms)
    var = tmp_path / "var"
    with PrivateRedis() as redis_server:
        env = {
            "ZHIDA_DATABASE_URL": pg_url,
            "ZHIDA_REDIS_URL": redis_server.url,
            "ZHIDA_VAR_DIR": str(var),
            "ZHIDA_SMS_OUTBOX": str(var / "outbox" / "sms.jsonl"),
            "ZHIDA_QUIET_START_HOUR": "0",
            "ZHIDA_QUIET_END_HOUR": "0",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        use_env(monkeypatch, pg_url, redis_server.url)
        with CeleryWorker(env, log_path=tmp_path / "worker.log"):
            result = run_cli("import", path, "--as-of", AS_OF.isoformat())
            assert result.returncode == 0, result.stderr
            with session_scope(pg_url) as session:
                run_id = session.scalars(select(Run.id).where(Run.trigger == "import")).one()
            assert f"run {run_id}: 3 changed enterprise profiles re-evaluated on the workers" in (
                result.stdout
            )
            assert f"zhida runs watch {run_id}" in result.stdout
            wait_until(lambda: get_run(pg_url, run_id).status == "done", timeout=60)

            def told() -> set[str]:
                with session_scope(pg_url) as session:
                    return set(session.scalars(select(Notification.profile_id)))

            wait_until(lambda: set(firms) <= told(), timeout=60)
    run = get_run(pg_url, run_id)
    assert (run.counts["profiles"], run.counts["newly_eligible"]) == (3, 3)
