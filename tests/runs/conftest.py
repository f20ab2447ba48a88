"""The runs tests point settings and the Celery app at their own database
(`tests.support.runs.use_env`); each is put back after every test here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.runs import reset_env


@pytest.fixture(autouse=True)
def _restore_settings() -> Iterator[None]:
    yield
    reset_env()
