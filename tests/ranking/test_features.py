"""The vectorised features agree with a row-by-row reference written from the table in
zhida/ranking/features.py."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.factories import make_frame, make_policy
from zhida.matcher.columns import Columns
from zhida.profiles.schema import builtin_schema
from zhida.ranking.features import CATEGORICAL, FEATURES, Batch, categories, learn_vocab, matrix
from zhida.rules.vectors import date_to_days

SCHEMA = builtin_schema("enterprise")
POLICIES = [
    make_policy(
        pid="p1", extra="department: 省经信厅\nwindow: {opens: 2026-03-01, closes: 2026-06-30}\n"
    ),
    make_policy(pid="p2"),
]

profiles = st.fixed_dictionaries(
    {
        "region": st.one_of(st.none(), st.sampled_from(["330106", "330782", "3301", "33"])),
        "industry": st.one_of(st.none(), st.sampled_from(["C39", "I65", "f51"])),
        "tax_credit": st.one_of(st.none(), st.sampled_from(["A", "B", "C", "D", "M"])),
        "established": st.one_of(st.none(), st.dates(dt.date(1990, 1, 1), dt.date(2026, 1, 1))),
        "employees": st.one_of(st.none(), st.integers(0, 5000)),
        "revenue": st.one_of(st.none(), st.floats(0, 1e10)),
        "invention_patents": st.one_of(st.none(), st.integers(0, 50)),
        "high_tech": st.one_of(st.none(), st.booleans()),
        "specialized_sme": st.one_of(st.none(), st.booleans()),
    }
)


def reference(row: dict, policy, benefit: float, day: dt.date, channel: str, vocab) -> list:
    """One feature row, value by value, from the docstring's table."""

    def cat(name: str, value: str | None) -> float:
        return float(vocab[name].index(value)) if value in vocab[name] else math.nan

    def num(x: float | None) -> float:
        return math.nan if x is None else float(x)

    region = row["region"]
    flag = {True: 1.0, False: 0.0, None: math.nan}
    est = row["established"]
    w = policy.window
    values = {
        "kind": cat("kind", "enterprise"),
        "city": cat("city", region[:4] if region and len(region) >= 4 else None),
        "district": cat("district", region[:6] if region and len(region) >= 6 else None),
        "industry": cat("industry", row["industry"][:1].upper() if row["industry"] else None),
        "credit": cat("credit", row["tax_credit"]),
        "education": math.nan,
        "department": cat("department", policy.department),
        "tag": math.nan,
        "channel": cat("channel", channel),
        "age_years": (day - est).days / 365.25 if est else math.nan,
        "size": num(row["employees"]),
        "revenue_log": math.log10(1 + row["revenue"]) if row["revenue"] is not None else math.nan,
        "patents": num(row["invention_patents"]),
        "high_tech": flag[row["high_tech"]],
        "specialized_sme": flag[row["specialized_sme"]],
        "insured_months": math.nan,
        "benefit_log": math.log10(1 + benefit) if not math.isnan(benefit) else math.nan,
        "days_to_deadline": (w.closes - day).days if w.closes else math.nan,
        "days_open": (day - w.opens).days if w.opens else math.nan,
        "past_opened": 2.0,
        "past_applied": 0.0,
    }
    return [values[name] for name in FEATURES]


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(profiles, min_size=1, max_size=6),
    picks=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1)), min_size=1, max_size=8),
    day=st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
    channel=st.sampled_from(["sms", "inapp"]),
)
def test_vectorised_features_match_the_reference(rows, picks, day, channel) -> None:
    for i, r in enumerate(rows):
        r["id"] = f"E{i}"
    frame = make_frame(rows, SCHEMA)
    pos = np.array([p % len(rows) for p, _ in picks])
    pol = np.array([j for _, j in picks])
    benefit = np.where(pol == 0, 5e5, np.nan)
    batch = Batch(
        Columns(frame, SCHEMA), pos, POLICIES, pol, benefit, date_to_days(day), channel, 2.0
    )
    cats = categories(batch)
    vocab = learn_vocab([cats])
    got = matrix(batch, vocab, cats)
    want = np.array(
        [
            reference(rows[p], POLICIES[j], b, day, channel, vocab)
            for p, j, b in zip(pos, pol, benefit, strict=True)
        ]
    )
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


def test_values_outside_the_vocabulary_are_missing() -> None:
    frame = make_frame([{"id": "E1", "region": "330106"}], SCHEMA)
    batch = Batch(
        Columns(frame, SCHEMA),
        np.array([0]),
        POLICIES,
        np.array([1]),
        np.array([np.nan]),
        0.0,
        "sms",
    )
    x = matrix(batch, {name: [] for name in CATEGORICAL})
    assert np.isnan(x[0, : len(CATEGORICAL)]).all()
