"""Runs and previews decide exactly as they did when they parsed each profile's JSON:
the same run (the example pack, its extension fields, a population with nulls) over the
same store, once with the JSON reader in place of `load_frame` and once with the typed
columns, writes identical decisions (benefits and scores to the bit) and transitions;
a preview reports the same impact."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from tests.support.json_load import json_frame
from tests.support.runs import (
    AS_OF,
    PACK_DIR,
    decisions,
    pack,
    population,
    publish,
    seed_profiles,
    transitions,
    use_env,
)
from zhida.profiles.schema import ProfileSchema
from zhida.runs import preview, reevaluate
from zhida.runs.reevaluate import create_run
from zhida.store.db import session_scope
from zhida.store.models import Decision, Transition
from zhida.worker import start_run


def json_load_frame(
    session: Session,
    kind: str,
    schema: ProfileSchema,
    lo: str | None = None,
    hi: str | None = None,
    ids: Sequence[str] | None = None,
    fields: Any = None,  # every field, whichever are asked for
    backends: int = 1,
) -> pl.DataFrame:
    frame = json_frame(session, kind, schema)
    if ids is not None:
        frame = frame.filter(pl.col("id").is_in(list(ids)))
    if lo is not None:
        frame = frame.filter(pl.col("id") >= lo)
    if hi is not None:
        frame = frame.filter(pl.col("id") < hi)
    return frame


def one_run(db_url: str, versions: dict[str, int]) -> tuple[dict[Any, Any], list[Any]]:
    with session_scope(db_url) as session:
        session.execute(delete(Transition))
        session.execute(delete(Decision))
        run = create_run(session, "manual", "enterprise", list(versions.values()), AS_OF, 700)
    start_run(run.id)
    return decisions(db_url), transitions(db_url, run.id)


def test_a_run_and_a_preview_decide_as_with_the_json_reader(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, db_url)
    frame = population(3000, seed=5)
    assert sum(frame.null_count().row(0)) > 0
    seed_profiles(db_url, frame)
    versions = publish(db_url)
    policy = next(p for p in pack().policies if p.audience.value == "enterprise")
    schema_yaml = (PACK_DIR / "schema.yaml").read_text(encoding="utf-8")

    def impact() -> dict[str, Any]:
        with session_scope(db_url) as session:
            got = preview.impact_of(session, policy, schema_yaml, AS_OF).to_json()
        return {k: v for k, v in got.items() if k != "seconds"}

    typed_run, typed_impact = one_run(db_url, versions), impact()
    with monkeypatch.context() as m:
        m.setattr(reevaluate, "load_frame", json_load_frame)
        m.setattr(preview, "load_frame", json_load_frame)
        json_run, json_impact = one_run(db_url, versions), impact()
    assert typed_run[0] == json_run[0] and len(typed_run[0]) > 100
    assert typed_run[1] == json_run[1]
    assert typed_impact == json_impact
