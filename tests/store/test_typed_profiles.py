"""The typed columns of `profiles` load the same frames as parsing the JSON did.

Differential: any population (nulls, a pack's extension fields of every type, a name a
pack gives another type, any text, dates, extreme numbers), written through the ORM,
the import's upserts and an update, loads by `load_frame` (typed columns) exactly as by
the JSON reader that runs used before (`tests/support/json_load.py`), on SQLite and
PostgreSQL. Left out are what that reader refused the whole load for on PostgreSQL:
values of another type than their field's, and numbers of 2**64 and more.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, text

from tests.support.json_load import json_frame
from zhida.ingest.upsert import upsert_profiles
from zhida.profiles.schema import Audience, Field, FieldType, ProfileSchema, SchemaSet
from zhida.store import profiles
from zhida.store.db import session_scope
from zhida.store.models import Profile
from zhida.store.profiles import load_frame, profile_json

SCHEMAS = SchemaSet.builtin().extended(
    {
        Audience.ENTERPRISE: {
            "tags": Field("tags", FieldType.LIST, "标签"),
            "certified": Field("certified", FieldType.DATE, "认证日期"),
            "capital": Field("capital", FieldType.NUMBER, "注册资本", "元"),
            "listed": Field("listed", FieldType.BOOL, "上市"),
            "branches": Field("branches", FieldType.INT, "分支机构数"),
        },
        # a built-in name of the other audience, in another type: read from the JSON
        Audience.CITIZEN: {"employees": Field("employees", FieldType.STRING, "单位人数")},
    }
)

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
DATES = st.one_of(
    st.dates().map(dt.date.isoformat),
    # not what writers store, but what the JSON reader read: both must agree
    st.sampled_from(["2020-1-5", " 2020-01-05", "2020-02-30", "2021-13-01", "x", ""]),
)
VALUES: dict[FieldType, st.SearchStrategy[Any]] = {
    FieldType.STRING: TEXT,
    FieldType.INT: st.integers(-(2**63), 2**63 - 1),
    # PostgreSQL prints a JSON number without exponent (1e20 as 21 digits), which the JSON
    # reader refused past 2**64; the typed columns read any double
    FieldType.NUMBER: st.one_of(st.floats(-1e18, 1e18), st.integers(-(2**53), 2**53)),
    FieldType.BOOL: st.booleans(),
    FieldType.DATE: DATES,
    FieldType.LIST: st.lists(TEXT, max_size=3),
}


def documents(schema: ProfileSchema) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Stored JSON documents (field -> JSON value; a field may be missing or null)."""
    fields = {
        name: st.one_of(st.none(), VALUES[f.type])
        for name, f in schema.fields.items()
        if name != "id"
    }
    return st.lists(st.fixed_dictionaries({}, optional=fields), max_size=12)


def stored(db_url: str, docs: dict[str, list[dict[str, Any]]]) -> None:
    with session_scope(db_url) as s:
        s.execute(delete(Profile))
        for kind, rows in docs.items():
            prefix = kind[0].upper()
            s.add_all(
                Profile(id=f"{prefix}{i:03d}", kind=kind, data={**d, "id": f"{prefix}{i:03d}"})
                for i, d in enumerate(rows)
            )


def assert_same_frames(db_url: str) -> None:
    with session_scope(db_url) as s:
        for audience in Audience:
            schema = SCHEMAS[audience]
            typed = load_frame(s, audience.value, schema)
            assert typed.equals(json_frame(s, audience.value, schema)), audience
            assert typed.schema == json_frame(s, audience.value, schema).schema


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    enterprises=documents(SCHEMAS[Audience.ENTERPRISE]),
    citizens=documents(SCHEMAS[Audience.CITIZEN]),
)
def test_typed_load_equals_json_load(
    db_url: str, enterprises: list[dict[str, Any]], citizens: list[dict[str, Any]]
) -> None:
    stored(db_url, {"enterprise": enterprises, "citizen": citizens})
    assert_same_frames(db_url)


def test_ranges_and_chosen_ids_select_as_before(db_url: str) -> None:
    docs = [{"name": f"企业{i}", "employees": i, "established": "2020-02-29"} for i in range(6)]
    stored(db_url, {"enterprise": docs})
    schema = SCHEMAS[Audience.ENTERPRISE]
    with session_scope(db_url) as s:
        full = json_frame(s, "enterprise", schema)
        part = load_frame(s, "enterprise", schema, lo="E001", hi="E004")
        chosen = load_frame(s, "enterprise", schema, ids=["E005", "E000", "nope"])
        empty = load_frame(s, "enterprise", schema, lo="X")
    assert part.equals(full.slice(1, 3))
    assert chosen.equals(full.filter(pl.col("id").is_in(["E000", "E005"])))
    assert empty.height == 0 and empty.schema == full.schema


def test_every_writer_keeps_the_columns_in_step(db_url: str) -> None:
    """The import's upsert (insert, then a merging update that keeps the fields it
    leaves empty), and an update of `data` through the ORM as the live path does."""
    schema = SCHEMAS[Audience.ENTERPRISE]
    first = pl.DataFrame(
        {
            "id": ["E1", "E2", "E3"],
            "kind": ["enterprise"] * 3,
            "name": ["甲公司", '乙 "公司"', None],
            "employees": [10, None, 30],
            "revenue": [1.5e8, 0.1, None],
            "established": [dt.date(2001, 1, 31), None, dt.date(2024, 2, 29)],
            "high_tech": [True, False, None],
        }
    )
    second = first.with_columns(
        pl.Series("employees", [11, 20, None]),
        pl.Series("name", [None, "乙公司\n新名", "丙"]),
        pl.Series("high_tech", [None, True, True]),
    )
    with session_scope(db_url) as s:
        upsert_profiles(s, first, "test")
    assert_same_frames(db_url)
    with session_scope(db_url) as s:
        upsert_profiles(s, second, "test")
        back = load_frame(s, "enterprise", schema)
    assert back.row(1, named=True)["name"] == "乙公司\n新名"
    assert back.row(2, named=True)["employees"] == 30  # left empty: kept
    assert_same_frames(db_url)
    with session_scope(db_url) as s:
        row = s.get(Profile, "E1")
        assert row is not None
        row.data = profile_json({"id": "E1", "employees": 12, "established": dt.date(1999, 12, 31)})
    with session_scope(db_url) as s:
        back = load_frame(s, "enterprise", schema)
    assert back.row(0, named=True)["employees"] == 12
    assert back.row(0, named=True)["name"] is None
    assert_same_frames(db_url)


def test_raw_sql_writes_are_typed_too(pg_url: str) -> None:
    """A write that bypasses the application (COPY, SQL) fills them as well."""
    with session_scope(pg_url) as s:
        s.execute(
            text("INSERT INTO profiles (id, kind, data, source) VALUES (:i, 'citizen', :d, 'sql')"),
            {"i": "C1", "d": json.dumps({"id": "C1", "birth_date": "1990-07-01"})},
        )
        s.execute(text("UPDATE profiles SET data = data || '{\"household_size\": 4}'::jsonb"))
    with session_scope(pg_url) as s:
        got = s.execute(text("SELECT birth_date, household_size FROM profiles")).one()
    assert tuple(got) == (dt.date(1990, 7, 1), 4)


@pytest.mark.parametrize("n", [6, 7])
def test_loads_by_pages_as_at_once(pg_url: str, monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """PostgreSQL reads the rows a page of `PAGE_ROWS` at a time (here 2; the last page
    full or not): the same frame."""
    docs = [{"name": f"第{i}家", "employees": i, "tags": [str(i)]} for i in range(n)]
    stored(pg_url, {"enterprise": docs})
    schema = SCHEMAS[Audience.ENTERPRISE]
    with session_scope(pg_url) as s:
        whole = load_frame(s, "enterprise", schema)
        monkeypatch.setattr(profiles, "PAGE_ROWS", 2)
        paged = load_frame(s, "enterprise", schema)
        part = load_frame(s, "enterprise", schema, lo="E001", hi="E006")
        want = json_frame(s, "enterprise", schema)
    assert whole.equals(want) and paged.equals(want) and whole.height == n
    assert part.equals(want.slice(1, 5))
