"""Re-evaluation runs in-process (eager Celery) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select, text

from tests.support.runs import (
    AS_OF,
    AS_OF_LATER,
    PACK_DIR,
    assert_matches_direct,
    decision_stamps,
    decisions,
    direct,
    expected_transitions,
    get_run,
    pack,
    population,
    publish,
    seed_profiles,
    transitions,
    update_profiles,
    use_env,
)
from zhida.runs.daily import create_daily_runs, daily_selection, uses_time, window_changes
from zhida.runs.decisions import apply_profile_results
from zhida.runs.listing import stalled_runs
from zhida.runs.reevaluate import (
    COUNT_KEYS,
    RunError,
    create_run,
    finalize_run,
    process_chunk,
)
from zhida.settings import get_settings
from zhida.store.db import session_scope
from zhida.store.models import Decision, Run, RunChunk, Transition
from zhida.store.profiles import load_frame
from zhida.worker import start_run

N = 2500
CHUNK = 600  # 5 chunks, the last one short


def new_run(
    db_url: str,
    versions: dict[str, int],
    as_of: dt.date = AS_OF,
    trigger: str = "manual",
    chunk_size: int = CHUNK,
) -> int:
    with session_scope(db_url) as session:
        run = create_run(session, trigger, "enterprise", list(versions.values()), as_of, chunk_size)
        return run.id


def check_summary(db_url: str, run_id: int, n_profiles: int, n_policies: int) -> Run:
    run = get_run(db_url, run_id)
    assert run.status == "done" and run.finished_at is not None
    assert run.chunks_done == run.chunks_total
    c = run.counts
    assert set(COUNT_KEYS) <= set(c)
    assert c["profiles"] == n_profiles and c["pairs"] == n_profiles * n_policies
    assert (
        c["newly_eligible"]
        + c["no_longer_eligible"]
        + c["newly_unknown"]
        + c["no_longer_unknown"]
        + c["unchanged"]
    ) == c["pairs"]
    assert c["transitions"] == len(transitions(db_url, run_id))
    return run


def test_run_gives_the_decisions_of_direct_evaluation(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, db_url)
    frame = population(N)
    seed_profiles(db_url, frame)
    versions = publish(db_url)
    run_id = new_run(db_url, versions)
    with session_scope(db_url) as session:
        chunks = list(
            session.scalars(
                select(RunChunk).where(RunChunk.run_id == run_id).order_by(RunChunk.seq)
            )
        )
        assert [c.status for c in chunks] == ["pending"] * 5
        assert chunks[0].lo == "" and chunks[-1].hi is None
        assert all(a.hi == b.lo for a, b in itertools.pairwise(chunks))
    assert start_run(run_id) == 5
    assert_matches_direct(db_url, frame, versions, AS_OF)
    run = check_summary(db_url, run_id, N, len(versions))
    # a first run: every stored decision is a transition from ineligible
    stored = decisions(db_url)
    assert transitions(db_url, run_id) == expected_transitions({}, stored, versions)
    assert run.counts["newly_eligible"] == sum(1 for v in stored.values() if v[1] == 2)
    assert run.counts["newly_unknown"] == sum(1 for v in stored.values() if v[1] == 1)
    assert run.counts["newly_eligible"] > 0 and run.counts["newly_unknown"] > 0


def test_second_run_with_nothing_changed_writes_nothing(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, db_url)
    seed_profiles(db_url, population(N))
    versions = publish(db_url)
    first = new_run(db_url, versions)
    start_run(first)
    stamps = decision_stamps(db_url)
    second = new_run(db_url, versions)
    start_run(second)
    run = check_summary(db_url, second, N, len(versions))
    assert transitions(db_url, second) == []
    assert decision_stamps(db_url) == stamps  # no decision rewritten
    assert run.counts["decisions_written"] == run.counts["decisions_deleted"] == 0
    assert run.counts["unchanged"] == run.counts["pairs"]


def test_changes_make_exactly_the_transitions(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, db_url)
    changes_scenario(db_url)


def test_changes_through_copy(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same on PostgreSQL with every write through COPY + temp tables (the small
    changes of the second run would otherwise go through executemany)."""
    use_env(monkeypatch, pg_url)
    monkeypatch.setattr("zhida.runs.decisions.COPY_THRESHOLD", 0)
    changes_scenario(pg_url)


def changes_scenario(db_url: str) -> None:
    frame = population(N)
    seed_profiles(db_url, frame)
    versions = publish(db_url)
    start_run(new_run(db_url, versions))
    before = decisions(db_url)
    # some eligible profiles lose their revenue (-> unknown or ineligible), some get more
    eligible = sorted({p for (p, _), v in before.items() if v[1] == 2})[:40]
    changes: dict[str, dict[str, Any]] = {pid: {"revenue": None} for pid in eligible[:20]}
    changes |= {pid: {"revenue": 0} for pid in eligible[20:]}
    changes |= {
        f"E{i:07d}": {"invention_patents": 9, "revenue": 5e8, "specialized_sme": True}
        for i in range(1, 30)
    }
    update_profiles(db_url, changes)
    with session_scope(db_url) as session:
        changed_frame = load_frame(session, "enterprise", pack().schemas["enterprise"])
    assert changed_frame.height == N
    # and a year passes
    run_id = new_run(db_url, versions, AS_OF_LATER)
    start_run(run_id)
    assert_matches_direct(db_url, changed_frame, versions, AS_OF_LATER)
    after = decisions(db_url)
    want = expected_transitions(before, after, versions)
    assert transitions(db_url, run_id) == want
    run = check_summary(db_url, run_id, N, len(versions))
    assert run.counts["no_longer_eligible"] > 0 and run.counts["newly_eligible"] > 0
    assert run.counts["decisions_deleted"] == sum(1 for t in want if t[4] == 0)


def test_new_policy_version_updates_decisions_without_transitions(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, pg_url)
    seed_profiles(pg_url, population(1200))
    v1 = publish(pg_url, ["zj-tech-sme"])
    start_run(new_run(pg_url, v1))
    before = decisions(pg_url)
    body = (PACK_DIR / "zj-tech-sme.yaml").read_text(encoding="utf-8")
    v2 = publish(pg_url, texts={"zj-tech-sme": body + "\n# 第二版：文字修订\n"})
    run_id = new_run(pg_url, v2)
    start_run(run_id)
    after = decisions(pg_url)
    assert set(after) == set(before)
    assert all(v[0] == v2["zj-tech-sme"] for v in after.values())
    assert transitions(pg_url, run_id) == []
    assert get_run(pg_url, run_id).counts["decisions_written"] == len(before)


def test_same_chunk_twice_changes_nothing(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, db_url)
    seed_profiles(db_url, population(1200))
    versions = publish(db_url)
    run_id = new_run(db_url, versions)
    with session_scope(db_url) as session:
        done = process_chunk(session, run_id, 0)
    assert done is not None and done.run_counts is None
    counts = done.counts
    assert counts["transitions"] > 0
    state = (decision_stamps(db_url), transitions(db_url, run_id))
    with session_scope(db_url) as session:
        assert process_chunk(session, run_id, 0) is None
    with session_scope(db_url) as session:
        chunk = session.get(RunChunk, (run_id, 0))
        assert chunk is not None and chunk.status == "done" and chunk.counts == counts
        assert session.get(Run, run_id).chunks_done == 1  # type: ignore[union-attr]
    assert (decision_stamps(db_url), transitions(db_url, run_id)) == state
    # a chunk rolled back half-way leaves it pending and the store untouched
    with pytest.raises(RuntimeError), session_scope(db_url) as session:
        process_chunk(session, run_id, 1)
        raise RuntimeError("worker died")
    assert (decision_stamps(db_url), transitions(db_url, run_id)) == state
    start_run(run_id)  # the rest, chunk 0 skipped
    assert get_run(db_url, run_id).status == "done"
    assert transitions(db_url, run_id) == expected_transitions({}, decisions(db_url), versions)


def test_concurrent_deliveries_of_one_chunk_serialise(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers given the same chunk at once: one evaluates, the other waits on the
    row lock and finds it done."""
    use_env(monkeypatch, pg_url)
    seed_profiles(pg_url, population(800))
    versions = publish(pg_url)
    run_id = new_run(pg_url, versions, chunk_size=10_000)
    results: list[object] = []

    def deliver(delay: float) -> None:
        with session_scope(pg_url) as session:
            results.append(process_chunk(session, run_id, 0, delay))

    threads = [
        threading.Thread(target=deliver, args=(0.5,)),
        threading.Thread(target=deliver, args=(0.0,)),
    ]
    threads[0].start()
    time.sleep(0.2)
    threads[1].start()
    for t in threads:
        t.join()
    assert results[0] is None or results[1] is None
    assert sum(r is not None for r in results) == 1
    run = check_summary(pg_url, run_id, 800, len(versions))
    assert run.chunks_done == 1
    assert transitions(pg_url, run_id) == expected_transitions({}, decisions(pg_url), versions)


def test_finalize_is_idempotent_and_empty_runs_finish(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, pg_url)
    versions = publish(pg_url, ["zj-tech-sme"])
    run_id = new_run(pg_url, versions)  # no profiles: no chunks
    assert get_run(pg_url, run_id).chunks_total == 0
    assert start_run(run_id) == 0
    assert get_run(pg_url, run_id).status == "done"
    with session_scope(pg_url) as session:
        assert finalize_run(session, run_id)
    seed_profiles(pg_url, population(300))
    run_id = new_run(pg_url, versions)
    with session_scope(pg_url) as session:
        assert not finalize_run(session, run_id)
    start_run(run_id)
    done = get_run(pg_url, run_id)
    with session_scope(pg_url) as session:
        assert finalize_run(session, run_id)
    again = get_run(pg_url, run_id)
    assert (again.counts, again.finished_at) == (done.counts, done.finished_at)


def test_create_run_refuses_bad_input(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, sqlite_url)
    versions = publish(sqlite_url, ["zj-tech-sme"])
    with session_scope(sqlite_url) as session:
        with pytest.raises(RunError, match="not for citizen"):
            create_run(session, "manual", "citizen", list(versions.values()), AS_OF)
        with pytest.raises(RunError, match="no policy version"):
            create_run(session, "manual", "enterprise", [999], AS_OF)
        with pytest.raises(RunError, match="kind"):
            create_run(session, "manual", "robot", [], AS_OF)


def test_single_profile_results(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real-time path: one profile's results, transitions with run_id None."""
    use_env(monkeypatch, db_url)
    versions = publish(db_url, ["zj-tech-sme", "innovative-sme"])
    a, b = versions["zj-tech-sme"], versions["innovative-sme"]
    with session_scope(db_url) as session:
        made = apply_profile_results(
            session,
            "E1",
            [
                ("zj-tech-sme", a, 2, [], [], 100000.0, 0.8123456789),
                ("innovative-sme", b, 0, ["c1"], [], None, 0.0),
            ],
        )
        assert [(t.policy_id, t.from_outcome, t.to_outcome, t.run_id) for t in made] == [
            ("zj-tech-sme", 0, 2, None)
        ]
        assert made[0].id is not None
    stamps = decision_stamps(db_url)
    with session_scope(db_url) as session:  # the same results again: nothing
        assert (
            apply_profile_results(
                session,
                "E1",
                [
                    ("zj-tech-sme", a, 2, [], [], 100000.0, 0.8123456789),
                    ("innovative-sme", b, 0, ["c1"], [], None, 0.0),
                ],
            )
            == []
        )
    assert decision_stamps(db_url) == stamps
    with session_scope(db_url) as session:  # a changed score: updated, no transition
        assert (
            apply_profile_results(session, "E1", [("zj-tech-sme", a, 2, [], [], 100000.0, 0.9)])
            == []
        )
        assert session.get(Decision, ("E1", "zj-tech-sme")).score == 0.9  # type: ignore[union-attr]
    with session_scope(db_url) as session:
        made = apply_profile_results(
            session,
            "E1",
            [
                ("zj-tech-sme", a, 1, [], ["rd"], None, 0.3),
                ("innovative-sme", b, 2, [], [], None, 0.7),
            ],
        )
        assert sorted((t.policy_id, t.from_outcome, t.to_outcome) for t in made) == [
            ("innovative-sme", 0, 2),
            ("zj-tech-sme", 2, 1),
        ]
    with session_scope(db_url) as session:
        made = apply_profile_results(session, "E1", [("zj-tech-sme", a, 0, ["x"], [], None, 0)])
        assert [(t.from_outcome, t.to_outcome) for t in made] == [(1, 0)]
        assert session.get(Decision, ("E1", "zj-tech-sme")) is None
        assert session.get(Decision, ("E1", "innovative-sme")) is not None
        n = session.scalar(
            select(func.count()).select_from(Transition).where(Transition.run_id.is_(None))
        )
        assert n == 4
    assert decisions(db_url)[("E1", "innovative-sme")][1:3] == (2, ())


# --------------------------------------------------------------------------- daily


TIMELESS = """id: timeless
title: 无时间条件
audience: enterprise
criteria:
  - {id: rev, label: 营收, when: revenue >= 1亿}
"""
AGED = """id: aged
title: 成立年限
audience: enterprise
define:
  age: months_since(established)
criteria:
  - {id: rev, label: 营收, when: revenue >= 1000万}
  - {id: age, label: 成立满2年, when: age >= 24}
"""
WINDOWED = """id: windowed
title: 申报窗口
audience: enterprise
window: {opens: 2026-05-01, closes: 2026-08-31}
criteria:
  - {id: rev, label: 营收, when: revenue >= 1亿}
"""
DEADLINE = """id: deadline
title: 距截止天数
audience: enterprise
criteria:
  - {id: soon, label: 未截止, when: days_until(2026-12-31) > 0 and revenue > 0}
"""


def test_daily_selection(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, sqlite_url)
    versions = publish(
        sqlite_url,
        texts={"timeless": TIMELESS, "aged": AGED, "windowed": WINDOWED, "deadline": DEADLINE},
    )
    with session_scope(sqlite_url) as session:
        # an ordinary day: the policies whose criteria read the date
        got = daily_selection(session, dt.date(2026, 4, 10))
        assert got == {"enterprise": sorted([versions["aged"], versions["deadline"]])}
        # the window opens on 2026-05-01: its scores change that day (not its outcomes)
        got = daily_selection(session, dt.date(2026, 5, 1))
        assert versions["windowed"] in got["enterprise"]
        assert versions["timeless"] not in got["enterprise"]
        # within 30 days of closing
        assert versions["windowed"] in daily_selection(session, dt.date(2026, 8, 1))["enterprise"]
        assert (
            versions["windowed"] not in daily_selection(session, dt.date(2026, 8, 2))["enterprise"]
        )


def test_daily_run_once_a_day(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, pg_url)
    seed_profiles(pg_url, population(400))
    publish(pg_url, texts={"timeless": TIMELESS, "aged": AGED})
    from zhida.worker import daily_run

    ids = daily_run("2026-04-10")
    assert len(ids) == 1
    run = get_run(pg_url, ids[0])
    assert (run.trigger, run.status, run.as_of) == ("daily", "done", "2026-04-10")
    assert daily_run("2026-04-10") == []  # a redelivered daily task starts nothing
    with session_scope(pg_url) as session:
        assert create_daily_runs(session, dt.date(2026, 4, 10)) == []
    assert len(daily_run("2026-04-11")) == 1


def test_uses_time_and_window_bands() -> None:
    from zhida.profiles.schema import SchemaSet
    from zhida.rules.loader import load_policy_text

    def load(t: str) -> object:
        return load_policy_text(t, "x.yaml", SchemaSet.builtin())

    assert uses_time(load(AGED))  # type: ignore[arg-type]
    assert uses_time(load(DEADLINE))  # type: ignore[arg-type]
    assert not uses_time(load(TIMELESS))  # type: ignore[arg-type]
    windowed = load(WINDOWED)
    assert not uses_time(windowed)  # type: ignore[arg-type]
    assert window_changes(windowed, dt.date(2026, 4, 30), dt.date(2026, 5, 1))  # type: ignore[arg-type]
    assert not window_changes(windowed, dt.date(2026, 5, 1), dt.date(2026, 5, 2))  # type: ignore[arg-type]
    assert window_changes(windowed, dt.date(2026, 8, 31), dt.date(2026, 9, 1))  # type: ignore[arg-type]


def test_stalled_runs_are_found(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, sqlite_url)
    seed_profiles(sqlite_url, population(300))
    versions = publish(sqlite_url, ["zj-tech-sme"])
    run_id = new_run(sqlite_url, versions, chunk_size=100)
    with session_scope(sqlite_url) as session:
        session.execute(
            text("UPDATE runs SET status = 'running', started_at = :t, created_at = :t"),
            {"t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
        )
    with session_scope(sqlite_url) as session:
        assert stalled_runs(session, dt.timedelta(minutes=15)) == [run_id]
        assert (
            stalled_runs(
                session, dt.timedelta(minutes=15), now=dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC)
            )
            == []
        )
    from zhida.worker import sweep_stalled_runs

    assert sweep_stalled_runs() == [run_id]  # re-queued (eager: done at once)
    assert get_run(sqlite_url, run_id).status == "done"
    with session_scope(sqlite_url) as session:
        assert stalled_runs(session, dt.timedelta(0)) == []


def test_a_broken_policy_version_fails_the_run(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, sqlite_url)
    seed_profiles(sqlite_url, population(200))
    versions = publish(sqlite_url, texts={"broken": TIMELESS.replace("revenue", "revenu")})
    run_id = new_run(sqlite_url, versions)
    with pytest.raises(Exception, match="revenu"):
        start_run(run_id)
    run = get_run(sqlite_url, run_id)
    assert run.status == "failed" and run.error and "revenu" in run.error
    from typer.testing import CliRunner

    from zhida.cli.main import app

    result = CliRunner().invoke(app, ["runs", "watch", str(run_id)])
    assert result.exit_code == 1 and "failed" in result.output


def test_the_end_of_a_run_asks_for_notification_planning(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a broker, the chunk that ends a run with transitions queues the notifications
    planner once (by name); other chunks, duplicates and eager mode queue nothing."""
    import zhida.worker as worker

    seed_profiles(pg_url, population(600))
    versions = publish(pg_url, ["zj-tech-sme", "sme-procurement-preference"])
    use_env(monkeypatch, pg_url, "redis://127.0.0.1:1/0", plan_after_run=True)  # never contacted
    sent: list[str] = []
    monkeypatch.setattr(worker.app, "send_task", lambda name, *a, **k: sent.append(name))
    run_id = new_run(pg_url, versions, chunk_size=250)
    for seq in range(3):
        worker.evaluate_chunk(run_id, seq)  # called in-process, as a worker would
        assert sent == ([worker.TaskNames.PLAN] if seq == 2 else [])
    worker.evaluate_chunk(run_id, 2)  # a duplicate
    assert sent == [worker.TaskNames.PLAN]
    monkeypatch.setenv("ZHIDA_PLAN_AFTER_RUN", "0")
    get_settings.cache_clear()  # settings are read once: read them again
    run_id = new_run(pg_url, versions, chunk_size=1000)
    with session_scope(pg_url) as session:  # make the second run find changes
        session.execute(text("DELETE FROM decisions"))
    worker.evaluate_chunk(run_id, 0)
    assert sent == [worker.TaskNames.PLAN]
    get_settings.cache_clear()


def test_a_stored_profile_without_its_id_is_reported_and_skipped(
    db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A row written without `id` in its data (by `events post` before issue 14.4) is
    skipped with a warning and its decisions stay; the other profiles are judged."""
    use_env(monkeypatch, db_url)
    frame = population(N)
    seed_profiles(db_url, frame)
    versions = publish(db_url)
    start_run(new_run(db_url, versions))
    before = decisions(db_url)
    bad = next(k[0] for k, v in before.items() if v[1] == 2)
    changes = {bad: {"id": None, "revenue": 1}}  # would end its eligibility if judged
    others = [i for i in frame.get_column("id").to_list() if i != bad][:40]
    changes.update({pid: {"tax_credit": "D"} for pid in others})
    update_profiles(db_url, changes)
    run_id = new_run(db_url, versions)
    with caplog.at_level("WARNING", logger="zhida.runs.reevaluate"):
        start_run(run_id)
    run = get_run(db_url, run_id)
    assert run.status == "done" and run.counts["skipped"] == 1
    assert run.counts["profiles"] == N - 1
    assert bad in caplog.text
    after = decisions(db_url)
    assert {k: v for k, v in after.items() if k[0] == bad} == {
        k: v for k, v in before.items() if k[0] == bad
    }
    assert any(after.get(k) != v for k, v in before.items() if k[0] in others)


def test_a_run_over_chosen_profiles_judges_just_them(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import's run (issue 14.5): chunks list their profile ids; only those profiles'
    decisions move, however the others' data changed meanwhile."""
    use_env(monkeypatch, db_url)
    monkeypatch.setattr("zhida.runs.reevaluate.ID_CHUNK", 25)
    frame = population(N)
    seed_profiles(db_url, frame)
    versions = publish(db_url)
    start_run(new_run(db_url, versions))
    before = decisions(db_url)
    eligible = sorted({p for (p, _), v in before.items() if v[1] == 2})[:60]
    update_profiles(db_url, {pid: {"revenue": 0, "tax_credit": "D"} for pid in eligible})
    chosen = eligible[:40]
    with session_scope(db_url) as session:
        run = create_run(
            session, "import", "enterprise", list(versions.values()), AS_OF, None, [*chosen, "E?"]
        )
        run_id = run.id
        chunk_ids = [
            c.ids for c in session.scalars(select(RunChunk).where(RunChunk.run_id == run_id))
        ]
    assert [len(c or []) for c in chunk_ids] == [25, 16]
    start_run(run_id)
    run = get_run(db_url, run_id)
    assert (run.status, run.counts["profiles"]) == ("done", 40)
    after = decisions(db_url)
    changed = frame.with_columns(
        pl.when(pl.col("id").is_in(eligible))
        .then(0.0)
        .otherwise(pl.col("revenue"))
        .alias("revenue"),
        pl.when(pl.col("id").is_in(eligible))
        .then(pl.lit("D"))
        .otherwise(pl.col("tax_credit"))
        .alias("tax_credit"),
    )
    want = {k: v[0] for k, v in direct(changed, list(versions), AS_OF).items() if k[0] in chosen}
    assert {k: v[1] for k, v in after.items() if k[0] in chosen} == want
    assert {k: v for k, v in after.items() if k[0] not in chosen} == {
        k: v for k, v in before.items() if k[0] not in chosen
    }
    moved = {t[0] for t in transitions(db_url, run_id)}
    assert moved and moved <= set(chosen)
