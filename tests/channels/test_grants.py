"""免申即享 grants: one per (profile, policy, version), declined or confirmed, exported once."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from tests.api.conftest import add_profiles
from tests.api.routes.me_policies import publish_all, publish_automatic
from tests.support.cli import run_cli
from zhida.channels.grants import (
    CONFIRMED,
    DECLINED,
    GrantExcluded,
    GrantRefused,
    decide,
    export_grants,
)
from zhida.store.db import session_scope
from zhida.store.models import FeedbackEvent, Grant

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture()
def url(db_url: str) -> str:
    db = db_url
    add_profiles(db)
    publish_all(db)
    return db


def test_confirm_twice_stores_one_grant_with_its_record(url: str) -> None:
    with session_scope(url) as s:
        first = decide(s, "E1", "t-auto", CONFIRMED, NOW)
    with session_scope(url) as s:
        again = decide(s, "E1", "t-auto", CONFIRMED, NOW)
        assert again.id == first.id
        assert s.query(Grant).count() == 1
        grant = s.query(Grant).one()
        assert grant.benefit == 30000
        assert grant.record["inputs"]["name"] == "杭州测试科技有限公司"
        assert "结论：符合" in grant.record["trace"] and grant.record["version"] == 1
        assert s.query(FeedbackEvent).filter_by(kind="applied").count() == 1


def test_decline_is_kept_and_not_exported(url: str, tmp_path: Path) -> None:
    with session_scope(url) as s:
        assert decide(s, "E2", "t-auto", DECLINED, NOW).decision == DECLINED
        assert decide(s, "E2", "t-auto", CONFIRMED, NOW).decision == DECLINED  # the first
        assert export_grants(s, "t-auto", tmp_path / "g.csv", NOW) == 0


def test_refused_when_not_automatic_or_not_eligible(url: str) -> None:
    with session_scope(url) as s, pytest.raises(GrantRefused):
        decide(s, "E1", "t-big", CONFIRMED, NOW)  # applied for, not automatic
    with session_scope(url) as s, pytest.raises(GrantRefused):
        decide(s, "E3", "t-auto", CONFIRMED, NOW)  # 8 staff: not eligible
    with session_scope(url) as s:
        assert s.query(Grant).count() == 0


def test_a_grant_excluded_by_one_held_is_not_confirmed(url: str) -> None:
    """Confirming is refused while the profile holds an excluding policy: a confirmed
    grant (this side's `excludes:`) or a recorded grant (the other side's); declining is
    not; nothing is stored by a refusal."""
    publish_automatic(url, "t-auto2", "t-auto")
    publish_automatic(url, "t-auto3", "t-big")
    with session_scope(url) as s:
        decide(s, "E1", "t-auto", CONFIRMED, NOW)
        s.add(FeedbackEvent(profile_id="E1", policy_id="t-big", kind="granted", at=NOW))
    for pid in ("t-auto2", "t-auto3"):
        with session_scope(url) as s, pytest.raises(GrantExcluded, match="excluded by"):
            decide(s, "E1", pid, CONFIRMED, NOW)
        with session_scope(url) as s:
            assert s.query(Grant).filter_by(policy_id=pid).count() == 0
            assert s.query(FeedbackEvent).filter_by(policy_id=pid).count() == 0
    with session_scope(url) as s:
        assert decide(s, "E1", "t-auto2", DECLINED, NOW).decision == DECLINED
        assert decide(s, "E2", "t-auto3", CONFIRMED, NOW).decision == CONFIRMED  # holds none


def test_export_lists_each_confirmed_grant_once(url: str, tmp_path: Path) -> None:
    with session_scope(url) as s:
        decide(s, "E1", "t-auto", CONFIRMED, NOW)
        decide(s, "E2", "t-auto", CONFIRMED, NOW)
    env = {"ZHIDA_DATABASE_URL": url}
    first = run_cli("grants", "export", "t-auto", "--out", tmp_path / "a.csv", env=env)
    assert first.returncode == 0 and "2 grants" in first.stdout
    with (tmp_path / "a.csv").open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["profile_id"] for r in rows) == ["E1", "E2"]
    assert json.loads(rows[0]["record"])["outcome"] == "eligible"
    second = run_cli("grants", "export", "t-auto", "--out", tmp_path / "b.parquet", env=env)
    assert second.returncode == 0 and "0 grants" in second.stdout
    assert pl.read_parquet(tmp_path / "b.parquet").height == 0
    with session_scope(url) as s:
        decide(s, "E1", "t-auto", CONFIRMED, NOW)  # again: nothing new
    run_cli("grants", "export", "t-auto", "--out", tmp_path / "c.parquet", env=env)
    assert pl.read_parquet(tmp_path / "c.parquet").height == 0


def test_export_refuses_another_suffix(tmp_path: Path) -> None:
    result = run_cli("grants", "export", "t-auto", "--out", tmp_path / "g.xlsx")
    assert result.returncode == 1 and "must end in .csv or .parquet" in result.stderr
