"""A preview loads only the fields its policy reads and groups by, and reports exactly
what it reported from every field: counts, outcomes, by city and industry, samples
(the reference interpreter's explanations) and forecast, for every policy of the
example pack (`define:` names, date functions, extension fields, budgets), over stored
profiles with stored decisions, on SQLite and PostgreSQL (there read on two
connections, a page of 300 rows); and over random frames and stored outcomes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from tests.support.runs import (
    AS_OF,
    AS_OF_LATER,
    PACK_DIR,
    pack,
    population,
    publish,
    seed_profiles,
    use_env,
)
from zhida.matcher.batch import BatchEvaluator
from zhida.profiles.regions import city_of, section_of
from zhida.profiles.schema import Audience, ProfileSchema
from zhida.profiles.synth import synthesize_citizens
from zhida.rules.policy import Policy
from zhida.runs import preview
from zhida.runs.preview import CHANGES, _grouped, compute_impact, preview_fields
from zhida.store import profiles
from zhida.store.db import session_scope
from zhida.store.models import Decision
from zhida.store.profiles import load_frame


def full_load(
    session: Session,
    kind: str,
    schema: ProfileSchema,
    lo: str | None = None,
    hi: str | None = None,
    ids: Sequence[str] | None = None,
    fields: Any = None,
    backends: int = 1,
) -> pl.DataFrame:
    """`load_frame` of every field, on one connection, whatever the preview asks."""
    return load_frame(session, kind, schema, lo, hi, ids)


@cache
def policies() -> list[Policy]:
    """The pack's policies, and a copy with a `budget:` of each that has an amount."""
    listed = pack().policies
    return listed + [
        dataclasses.replace(p, budget=3_000_000.0) for p in listed if p.benefit_amount is not None
    ]


def without_seconds(impact: preview.Impact) -> dict[str, Any]:
    return {k: v for k, v in impact.to_json().items() if k != "seconds"}


def _populations() -> dict[Audience, pl.DataFrame]:
    return {
        Audience.ENTERPRISE: population(1500, seed=3),
        Audience.CITIZEN: synthesize_citizens(1500, 3, pack().schemas),
    }


def store_decisions(db_url: str, frames: dict[Audience, pl.DataFrame]) -> None:
    """The outcomes of every pack policy a year before, as stored decisions (the zeros
    left out, as runs store them)."""
    versions = {**publish(db_url), **publish(db_url, audience="citizen")}
    with session_scope(db_url) as s:
        for policy in pack().policies:
            frame, schema = frames[policy.audience], pack().schemas[policy.audience]
            codes = np.concatenate(
                [r.outcome[0] for r in BatchEvaluator([policy], AS_OF).evaluate(frame, schema)]
            )
            s.add_all(
                Decision(
                    profile_id=pid,
                    policy_id=policy.id,
                    policy_version_id=versions[policy.id],
                    outcome=int(code),
                )
                for pid, code in zip(frame["id"].to_list(), codes.tolist(), strict=True)
                if code
            )


def test_a_preview_of_the_fields_read_reports_as_one_of_every_field(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, db_url)
    frames = _populations()
    for audience, frame in frames.items():
        seed_profiles(db_url, frame, audience.value)
    store_decisions(db_url, frames)
    schema_yaml = (PACK_DIR / "schema.yaml").read_text(encoding="utf-8")
    monkeypatch.setattr(profiles, "PAGE_ROWS", 300)
    monkeypatch.setattr(profiles, "SPLIT_SAMPLE_PERCENT", 100.0)
    seen: Counter[str] = Counter()
    for policy in policies():
        with session_scope(db_url) as s:
            narrow = without_seconds(preview.impact_of(s, policy, schema_yaml, AS_OF_LATER))
        with monkeypatch.context() as m:
            m.setattr(preview, "load_frame", full_load)
            with session_scope(db_url) as s:
                full = without_seconds(preview.impact_of(s, policy, schema_yaml, AS_OF_LATER))
        assert narrow == full, policy.id
        schema = pack().schemas[policy.audience]
        read = set(preview_fields(policy)) & set(schema.fields)
        seen["narrowed"] += len(read | {"id"}) < len(schema.fields)
        seen["defines"] += bool(policy.defines)
        seen["extension"] += any(n not in profiles.TYPED_FIELDS for n in read)
        seen["dates"] += "_since(" in policy.text
        seen["forecast"] += narrow["forecast"] is not None
        seen["samples"] += len(narrow["samples"])
        seen["no_longer"] += narrow["counts"]["no_longer_eligible"]
        seen[policy.audience.value] += 1
    covered = ("defines", "extension", "dates", "forecast", "no_longer")
    assert all(seen[k] > 0 for k in covered), seen
    assert seen["narrowed"] == len(policies()) and seen["samples"] > 10
    assert seen["enterprise"] and seen["citizen"]


@cache
def _frames() -> dict[Audience, pl.DataFrame]:
    return {a: f.head(400) for a, f in _populations().items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(policies()) - 1),
    seed=st.integers(0, 2**32 - 1),
    days=st.integers(-800, 800),
    stored=st.floats(0, 1),
)
def test_compute_impact_of_the_fields_read_equals_of_every_field(
    index: int, seed: int, days: int, stored: float
) -> None:
    policy = policies()[index]
    schema = pack().schemas[policy.audience]
    frame = _frames()[policy.audience]
    rng = np.random.default_rng(seed)
    ids = frame["id"].to_list()
    old = {i: int(c) for i, c in zip(ids, rng.integers(0, 3, len(ids)), strict=True)}
    old = {i: c for i, c in old.items() if rng.random() < stored}
    old["nobody"] = 2  # a decision of a profile no longer stored
    as_of = AS_OF + dt.timedelta(days=days)
    keep = set(preview_fields(policy))
    narrow = frame.select([n for n in frame.columns if n == "id" or n in keep])
    want = compute_impact(policy, frame, schema, old, as_of).to_json()
    assert compute_impact(policy, narrow, schema, old, as_of).to_json() == want


def grouped_per_row(
    keys: list[str], change: np.ndarray
) -> dict[str, dict[str, int]]:  # the preview's grouping before it was vectorised
    table: dict[str, Counter[str]] = {}
    for key, c in zip(keys, change.tolist(), strict=True):
        if c == 3:
            continue
        table.setdefault(key, Counter())[CHANGES[c]] += 1
    return {k: {name: v[name] for name in CHANGES[:3]} for k, v in sorted(table.items())}


CODES = st.one_of(
    st.none(),
    st.sampled_from(["", "3301", "330106", "3311", "3399", "33", "110101", "x", "C3911", "i"]),
    st.text(max_size=6),
)


@given(st.lists(st.tuples(CODES, st.integers(0, 3))))
def test_grouping_by_distinct_value_counts_as_per_row(rows: list[tuple[str | None, int]]) -> None:
    values = pl.Series("v", [v for v, _ in rows], dtype=pl.String)
    change = np.array([c for _, c in rows], dtype=np.int8)
    for key_of in (city_of, section_of):
        want = grouped_per_row([key_of(v) for v, _ in rows], change)
        assert _grouped(values, change, key_of) == want
