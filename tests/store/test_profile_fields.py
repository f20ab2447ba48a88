"""`load_frame` of some fields, and PostgreSQL's pages read on two connections at once.

Differential: any stored population (the documents of `test_typed_profiles`: nulls, a
pack's extension fields of every type, a name a pack gives another type) loads, for
any choice of fields, the columns of the full load of those fields and the id, in the
schema's order; read a page of two rows at a time on two connections (PostgreSQL), the
same frame. The second connection is used only when it sees what the caller's does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from tests.store.test_typed_profiles import SCHEMAS, documents, stored
from zhida.profiles.schema import Audience
from zhida.store import profiles
from zhida.store.db import session_scope
from zhida.store.profiles import load_frame

ENTERPRISE = SCHEMAS[Audience.ENTERPRISE]
CITIZEN = SCHEMAS[Audience.CITIZEN]


def narrowed(full: Any, schema: Any, fields: list[str]) -> Any:
    return full.select([n for n in schema.fields if n == "id" or n in fields])


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The connections `_pages` read from (their ids), in a page of two rows."""
    used: list[int] = []
    pages = profiles._pages

    def spy(raw_conn: psycopg.Connection[Any], *args: Any) -> Iterator[bytes]:
        used.append(id(raw_conn))
        yield from pages(raw_conn, *args)

    monkeypatch.setattr(profiles, "_pages", spy)
    monkeypatch.setattr(profiles, "PAGE_ROWS", 2)
    monkeypatch.setattr(profiles, "SPLIT_SAMPLE_PERCENT", 100.0)  # the exact median
    yield used


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    enterprises=documents(ENTERPRISE),
    citizens=documents(CITIZEN),
    fields=st.lists(st.sampled_from([*ENTERPRISE.fields, *CITIZEN.fields, "nope"])),
)
def test_some_fields_load_as_the_full_load_of_them(
    db_url: str,
    enterprises: list[dict[str, Any]],
    citizens: list[dict[str, Any]],
    fields: list[str],
) -> None:
    stored(db_url, {"enterprise": enterprises, "citizen": citizens})
    with session_scope(db_url) as s:
        for audience, schema in ((Audience.ENTERPRISE, ENTERPRISE), (Audience.CITIZEN, CITIZEN)):
            full = load_frame(s, audience.value, schema)
            some = load_frame(s, audience.value, schema, fields=fields)
            want = narrowed(full, schema, fields)
            assert some.equals(want) and some.schema == want.schema, audience
            both = load_frame(s, audience.value, schema, fields=fields, backends=2)
            assert both.equals(want) and both.schema == want.schema, audience


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(enterprises=documents(ENTERPRISE), fields=st.lists(st.sampled_from(list(ENTERPRISE.fields))))
def test_two_connections_load_what_one_does(
    pg_url: str, connections: list[int], enterprises: list[dict[str, Any]], fields: list[str]
) -> None:
    stored(pg_url, {"enterprise": enterprises})
    with session_scope(pg_url) as s:
        connections.clear()
        one = load_frame(s, "enterprise", ENTERPRISE, fields=fields)
        assert len(set(connections)) <= 1
        connections.clear()
        two = load_frame(s, "enterprise", ENTERPRISE, fields=fields, backends=2)
        # more than a page (two rows): the halves on two connections
        assert len(set(connections)) == (2 if len(enterprises) > 2 else 1)
        s.rollback()
    assert two.equals(one) and two.schema == one.schema
    assert one.height == len(enterprises)


def test_a_transaction_that_wrote_reads_on_its_own_connection(
    pg_url: str, connections: list[int]
) -> None:
    """A row the caller's transaction wrote and has not committed is seen by it only:
    the load stays on its connection, and has it."""
    stored(pg_url, {"enterprise": [{"employees": i} for i in range(7)]})
    with session_scope(pg_url) as s:
        load_frame(s, "enterprise", ENTERPRISE, backends=2)
        assert len(set(connections)) == 2  # nothing written yet: two
        s.execute(
            text(
                "INSERT INTO profiles (id, kind, data, source) VALUES (:i, 'enterprise', :d, 't')"
            ),
            {"i": "E100", "d": '{"id": "E100", "employees": 100}'},
        )
        connections.clear()
        got = load_frame(s, "enterprise", ENTERPRISE, fields=["employees"], backends=2)
        assert len(set(connections)) == 1
        assert got.get_column("employees").to_list() == [*range(7), 100]
        s.rollback()


def test_repeatable_read_reads_on_its_own_connection(pg_url: str, connections: list[int]) -> None:
    """Another connection would take another snapshot than a REPEATABLE READ one."""
    stored(pg_url, {"enterprise": [{"employees": i} for i in range(7)]})
    with session_scope(pg_url) as s:
        s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        got = load_frame(s, "enterprise", ENTERPRISE, fields=["employees"], backends=2)
        assert len(set(connections)) == 1 and got.height == 7
        s.rollback()


def test_an_error_on_the_other_connection_is_raised(
    pg_url: str, connections: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    stored(pg_url, {"enterprise": [{"employees": i} for i in range(7)]})
    pages = profiles._pages
    first: list[int] = []

    def failing(raw_conn: psycopg.Connection[Any], *args: Any) -> Iterator[bytes]:
        first.append(id(raw_conn))
        if id(raw_conn) != first[0]:
            raise RuntimeError("lost")
        yield from pages(raw_conn, *args)

    monkeypatch.setattr(profiles, "_pages", failing)
    with session_scope(pg_url) as s, pytest.raises(RuntimeError, match="lost"):
        load_frame(s, "enterprise", ENTERPRISE, backends=2)


def test_without_another_connection_the_caller_reads_both_halves(
    pg_url: str, connections: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No other connection to be had (the pool exhausted, say): the second half is read
    after the first, on the caller's connection."""
    stored(pg_url, {"enterprise": [{"employees": i} for i in range(7)]})

    def unavailable() -> Any:
        raise TimeoutError("QueuePool limit reached")

    monkeypatch.setattr(profiles, "_second_backend", lambda *_: unavailable)
    with session_scope(pg_url) as s:
        got = load_frame(s, "enterprise", ENTERPRISE, fields=["employees"], backends=2)
        assert len(connections) == 2 and len(set(connections)) == 1  # two halves, one
        assert got.get_column("employees").to_list() == list(range(7))


def test_a_full_pool_is_not_waited_on(pg_url: str, connections: list[int]) -> None:
    """A pool of one connection, the caller's: the halves are read on it at once whole
    rather than after the pool's timeout (here 10 minutes; the load is given 2 to finish)."""
    stored(pg_url, {"enterprise": [{"employees": i} for i in range(7)]})
    engine = create_engine(pg_url, pool_size=1, max_overflow=0, pool_timeout=600)
    got: list[Any] = []

    def load() -> None:
        with Session(engine) as s:
            got.append(load_frame(s, "enterprise", ENTERPRISE, fields=["employees"], backends=2))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=120)
    engine.dispose()
    assert not worker.is_alive(), "the load waited on the full pool"
    assert len(connections) == 1  # not split: one read of it all
    assert got[0].get_column("employees").to_list() == list(range(7))
