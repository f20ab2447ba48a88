"""`zhida events post` then a batch run: the stored profile keeps its id (issue 14.4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.cli import run_cli
from tests.support.runs import population, publish, reset_env, seed_profiles, use_env
from zhida.store.db import session_scope
from zhida.store.models import Profile, Run


@pytest.fixture(autouse=True)
def _restore_settings() -> Iterator[None]:
    yield
    reset_env()


def test_a_posted_event_then_a_batch_run(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, db_url, chunk_size=300)
    frame = population(1000)
    seed_profiles(db_url, frame)
    publish(db_url, ["zj-tech-sme"])
    pid = frame.get_column("id")[7]
    events = tmp_path / "events.jsonl"
    event = {"type": "profile.updated", "profile": pid, "kind": "enterprise"}
    events.write_text(json.dumps({**event, "fields": {"tax_credit": "A"}}) + "\n")
    posted = run_cli("events", "post", events, "--as-of", "2026-04-01", "--no-plan")
    assert posted.returncode == 0, posted.stderr
    with session_scope(db_url) as session:
        assert session.get(Profile, pid).data["id"] == pid  # type: ignore[union-attr]
    started = run_cli("runs", "start", "--kind", "enterprise", "--as-of", "2026-04-01")
    assert started.returncode == 0, started.stderr
    line = json.loads([x for x in started.stdout.splitlines() if x.startswith("{")][-1])
    assert (line["status"], line["counts"]["profiles"]) == ("done", 1000)
    assert line["counts"]["skipped"] == 0
    with session_scope(db_url) as session:
        assert session.scalars(select(Run.status)).all() == ["done"]
