"""Shared fixtures: real PostgreSQL and Redis; the Hypothesis profiles.

Locally an unreachable server skips the tests that need it; with CI=true it fails
them, so CI never passes by skipping silently.

Hypothesis profiles, chosen by HYPOTHESIS_PROFILE (default: `ci` when CI=true, else
`dev`): `ci` runs every property test with its full example count, `dev` with a
tenth of it (`tests.support.strategies.examples`), for a quick local run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import settings

PG_ADMIN_URL = os.environ.get(
    "ZHIDA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("ZHIDA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"

# `ci` is Hypothesis's own profile for CI (derandomized, no deadline, no example
# database), which it loads by itself when CI=true: what the CI has always run
HYPOTHESIS_CI_EXAMPLES = 100
settings.register_profile("ci", settings.get_profile("ci"), max_examples=HYPOTHESIS_CI_EXAMPLES)
settings.register_profile(
    "dev", settings.get_profile("default"), max_examples=HYPOTHESIS_CI_EXAMPLES // 10
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if IN_CI else "dev"))


def unavailable(service: str, why: object) -> None:
    message = f"{service} is not reachable: {why}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing service fails the test)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as err:  # any connection failure means "not reachable"
        unavailable("PostgreSQL", err)
    return PG_ADMIN_URL


@contextmanager
def migrated_database(admin_url: str, prefix: str = "zhida_t") -> Iterator[str]:
    """A new PostgreSQL database, migrated (a copy of this process's migrated template);
    dropped after exit, in the background."""
    from tests.support.scratch import migrated_template, scratch_database

    with scratch_database(
        admin_url, prefix, template=migrated_template(admin_url), drop_in_background=True
    ) as url:
        yield url


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.support.scratch import drop_templates

    drop_templates()


@pytest.fixture()
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, migrated database per test, dropped afterwards."""
    with migrated_database(pg_admin_url) as url:
        yield url


@pytest.fixture()
def sqlite_url(tmp_path: object) -> Iterator[str]:
    from zhida.store.db import dispose_engines, upgrade

    url = f"sqlite:///{tmp_path}/zhida.db"
    upgrade(url)
    yield url
    dispose_engines()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Both embedded and production databases."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except Exception as err:  # any connection failure means "not reachable"
        unavailable("Redis", err)
    return REDIS_URL
