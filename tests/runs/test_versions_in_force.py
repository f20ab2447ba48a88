"""Only versions in force write decisions: a run of a superseded version writes nothing,
and one in flight when the next version is published finishes first, so one profile's
change is never recorded under two versions (issue 14: told twice, v1 and v2)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import text

from tests.support.runs import (
    PACK_DIR,
    decisions,
    population,
    publish,
    seed_profiles,
    transitions,
    use_env,
)
from tests.support.waiting import wait_until
from zhida.publishing.officers import add_officer
from zhida.publishing.versions import approve, submit
from zhida.runs.reevaluate import create_run, process_chunk
from zhida.store.db import session_scope
from zhida.worker import start_run

AS_OF_TEXT = "2026-04-01"


def new_run(db_url: str, version_id: int) -> int:
    import datetime as dt

    with session_scope(db_url) as session:
        run = create_run(
            session, "publish", "enterprise", [version_id], dt.date.fromisoformat(AS_OF_TEXT)
        )
        return run.id


def into_eligible(db_url: str) -> Counter[tuple[str, str]]:
    return Counter((p, q) for p, q, _, _, to in transitions(db_url) if to == 2)


def test_a_run_of_a_superseded_version_writes_nothing(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, db_url, chunk_size=10_000)
    seed_profiles(db_url, population(600))
    v1 = publish(db_url, ["zj-tech-sme"])["zj-tech-sme"]
    late = new_run(db_url, v1)  # queued, not yet run when v2 comes
    body = (PACK_DIR / "zj-tech-sme.yaml").read_text(encoding="utf-8")
    v2 = publish(db_url, texts={"zj-tech-sme": body + "\n# 第二版\n"})["zj-tech-sme"]
    start_run(new_run(db_url, v2))
    after_v2 = decisions(db_url)
    assert after_v2 and all(v[0] == v2 for v in after_v2.values())
    start_run(late)  # v1's chunks, delivered after v2 was published
    assert decisions(db_url) == after_v2  # v1 did not overwrite v2's decisions
    assert transitions(db_url, late) == []
    assert max(into_eligible(db_url).values()) == 1


def test_publishing_waits_for_a_chunk_in_flight_so_no_change_is_recorded_twice(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v1's chunk is writing when v2 is approved and v2's run starts at once: without the
    policy lock v2's chunk read the decisions before v1's committed, and both runs
    recorded every newly eligible profile (two notifications, one per version)."""
    use_env(monkeypatch, pg_url, chunk_size=10_000)
    seed_profiles(pg_url, population(800))
    body = (PACK_DIR / "zj-tech-sme.yaml").read_text(encoding="utf-8")
    schema = (PACK_DIR / "schema.yaml").read_text(encoding="utf-8")
    with session_scope(pg_url) as s:
        officer, _ = add_officer(s, "admin", "admin")
        first = submit(s, officer, body, "zj-tech-sme.yaml", schema)
        approve(s, officer, first, None, allow_self_approval=True)
        v1 = first.id
        v2 = submit(s, officer, body + "\n# 第二版\n", "zj-tech-sme.yaml", schema).id
    run1 = new_run(pg_url, v1)
    errors: list[BaseException] = []

    def v1_chunk() -> None:
        try:
            with session_scope(pg_url) as session:
                process_chunk(session, run1, 0, delay=1.0)  # writes, then holds its transaction
        except BaseException as err:  # reported by the test below
            errors.append(err)

    worker = threading.Thread(target=v1_chunk)
    worker.start()

    def holds_the_policy_lock() -> bool:
        """v1's chunk holds the policy's shared advisory lock (taken before it reads,
        kept until it commits): v2's approval now waits for its commit."""
        with session_scope(pg_url) as s:
            return bool(
                s.scalar(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                        " AND mode = 'ShareLock' AND granted AND database ="
                        " (SELECT oid FROM pg_database WHERE datname = current_database())"
                    )
                )
            )

    wait_until(holds_the_policy_lock, timeout=30)
    with session_scope(pg_url) as s:
        from zhida.store.models import Officer, PolicyVersion

        version = s.get(PolicyVersion, v2)
        admin = s.query(Officer).filter_by(name="admin").one()
        assert version is not None
        approve(s, admin, version, None, allow_self_approval=True)
    run2 = new_run(pg_url, v2)
    with session_scope(pg_url) as session:
        process_chunk(session, run2, 0)
    worker.join()
    assert not errors
    counts = into_eligible(pg_url)
    assert counts and max(counts.values()) == 1  # each profile's change recorded once
    assert transitions(pg_url, run2) == []  # v2 found v1's decisions: nothing changed
