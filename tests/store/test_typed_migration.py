"""Migration 0022 fills the typed columns of a store's existing profiles: a store at
0020 holding profiles (the example pack's extension fields, nulls, unicode) loads the
same frames after the upgrade as the JSON reader gave before it, and a downgrade
gives the store back as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, inspect

from tests.support.json_load import json_frame
from tests.support.runs import pack
from tests.support.scratch import scratch_database
from zhida.profiles.schema import Audience
from zhida.profiles.synth import synthesize_citizens, synthesize_enterprises
from zhida.store.db import dispose_engines, get_engine, session_scope, upgrade
from zhida.store.models import Profile
from zhida.store.profiles import load_frame, profile_json


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without any migration run."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/old.db"
        dispose_engines()
    else:
        admin = str(request.getfixturevalue("pg_admin_url"))
        with scratch_database(admin, "zhida_t", migrate=False) as url:
            yield url


def downgrade(url: str, revision: str) -> None:
    from importlib import resources

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("zhida.store") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["engine"] = get_engine(url)
    command.downgrade(cfg, revision)


def test_upgrade_fills_the_typed_columns_of_stored_profiles(empty_url: str) -> None:
    schemas = pack().schemas
    people = {
        Audience.ENTERPRISE: synthesize_enterprises(300, 7, schemas),
        Audience.CITIZEN: synthesize_citizens(300, 7, schemas),
    }
    upgrade(empty_url, "0020")
    columns = ("id", "kind", "data", "source")  # the table as 0020 has it
    with session_scope(empty_url) as s:
        for audience, frame in people.items():
            rows = [
                {"id": r["id"], "kind": audience.value, "data": profile_json(r), "source": "t"}
                for r in frame.iter_rows(named=True)
            ]
            rows[0]["data"]["name"] = '「引号"与\\反斜杠」\n换行'
            table = Profile.__table__
            s.execute(insert(table).values([{c: r[c] for c in columns} for r in rows]))
    with session_scope(empty_url) as s:
        before = {a: json_frame(s, a.value, schemas[a]) for a in Audience}
    assert all(f.height == 300 for f in before.values())
    assert sum(before[Audience.ENTERPRISE].null_count().row(0)) > 0, "no nulls to load"
    upgrade(empty_url)
    with session_scope(empty_url) as s:
        for audience in Audience:
            after = load_frame(s, audience.value, schemas[audience])
            assert after.equals(before[audience]), audience
            part = load_frame(s, audience.value, schemas[audience], lo=after["id"][100])
            assert part.equals(before[audience].slice(100)), audience
    downgrade(empty_url, "0020")
    names = {c["name"] for c in inspect(get_engine(empty_url)).get_columns("profiles")}
    assert names == {"id", "kind", "data", "source", "updated_at"}
    with session_scope(empty_url) as s:
        again = {a: json_frame(s, a.value, schemas[a]) for a in Audience}
    assert all(again[a].equals(before[a]) for a in Audience)
