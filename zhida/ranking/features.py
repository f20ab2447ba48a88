"""Features of (profile, policy, channel) for the take-up model, built vectorised from
the columns the batch evaluator reads (`zhida.matcher.columns.Columns`).

A batch of m feature rows is given by positions into one audience's profile frame
(`rows`), into a list of policies (`pol`), and per row the benefit (from the
evaluator), the evaluation date and the channel. Categorical features become codes
into a vocabulary learnt at training (`Vocab`; a value outside it, or missing, is
NaN, which the model reads as missing); numeric ones are float64 with NaN missing.

| feature | from |
| --- | --- |
| kind | the audience (enterprise, citizen) |
| city, district | `region` (enterprise) or `residence_region` (citizen): the first 4 / 6 digits |
| industry | the section letter of `industry` (GB/T 4754, `C39` -> C) |
| credit | `tax_credit` (A/B/M/C/D) or `talent_level` (A-E) |
| education | `education` |
| department, tag | the policy's department and first tag, if any |
| channel | sms, inapp |
| age_years | years since `established` or `birth_date`, as of the date |
| size | `employees` or `household_size` |
| revenue_log | log10(1 + `revenue`) |
| patents | `invention_patents` |
| high_tech, specialized_sme | 1 / 0, NaN unknown |
| insured_months | `social_insurance_months` |
| benefit_log | log10(1 + benefit), the evaluator's amount for this profile |
| days_to_deadline, days_open | days to the window's close / since it opened, as of the date |
| past_opened, past_applied | the profile's links opened and applications before the notice |
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zhida.matcher.columns import Columns
from zhida.rules.policy import Policy
from zhida.rules.vectors import Coded, date_to_days

CATEGORICAL = (
    "kind",
    "city",
    "district",
    "industry",
    "credit",
    "education",
    "department",
    "tag",
    "channel",
)
NUMERIC = (
    "age_years",
    "size",
    "revenue_log",
    "patents",
    "high_tech",
    "specialized_sme",
    "insured_months",
    "benefit_log",
    "days_to_deadline",
    "days_open",
    "past_opened",
    "past_applied",
)
FEATURES = CATEGORICAL + NUMERIC
#: categories kept per feature (the model's categorical bins), most frequent first
MAX_CATEGORIES = 250

#: the profile field each feature reads, per audience
_FIELDS: dict[str, dict[str, str]] = {
    "enterprise": {
        "region": "region",
        "industry": "industry",
        "credit": "tax_credit",
        "born": "established",
        "size": "employees",
        "revenue": "revenue",
        "patents": "invention_patents",
        "high_tech": "high_tech",
        "specialized_sme": "specialized_sme",
    },
    "citizen": {
        "region": "residence_region",
        "credit": "talent_level",
        "education": "education",
        "born": "birth_date",
        "size": "household_size",
        "insured_months": "social_insurance_months",
    },
}


@dataclass
class Categories:
    """Per feature row: codes into `values` (strings), -1 missing."""

    codes: np.ndarray
    values: list[str]


Vocab = dict[str, list[str]]


@dataclass
class Batch:
    """What m feature rows are made of (see the module docstring)."""

    columns: Columns
    rows: np.ndarray  # (m,) positions in the frame
    policies: Sequence[Policy]
    pol: np.ndarray  # (m,) positions in `policies`
    benefit: np.ndarray  # (m,) float64, NaN unknown or none
    as_of: np.ndarray | float  # days since 1970-01-01, per row or one
    channel: np.ndarray | str  # per row (strings) or one
    past_opened: np.ndarray | float = 0.0
    past_applied: np.ndarray | float = 0.0


def _field(batch: Batch, key: str) -> str | None:
    name = _FIELDS[batch.columns.schema.audience.value].get(key)
    return name if name is not None and name in batch.columns.schema.fields else None


def _numeric(batch: Batch, key: str) -> np.ndarray:
    name = _field(batch, key)
    if name is None:
        return np.full(len(batch.rows), np.nan)
    return np.asarray(batch.columns.column(name), dtype=np.float64)[batch.rows]


def _flag(batch: Batch, key: str) -> np.ndarray:
    name = _field(batch, key)
    if name is None:
        return np.full(len(batch.rows), np.nan)
    code = batch.columns.column(name)[batch.rows]
    return np.where(code == 1, np.nan, code / 2.0)


def _derived(batch: Batch, key: str, derive: Callable[[str], str | None]) -> Categories:
    """A string field's values through `derive`, once per distinct value."""
    name = _field(batch, key)
    if name is None:
        return Categories(np.full(len(batch.rows), -1, dtype=np.int32), [])
    col = batch.columns.column(name)
    assert isinstance(col, Coded)
    values: list[str] = []
    index: dict[str, int] = {}
    lookup = np.full(len(col.uniques) + 1, -1, dtype=np.int32)  # last: missing
    for i, raw in enumerate(col.uniques):
        value = derive(str(raw)) if raw is not None else None
        if value:
            lookup[i] = index.setdefault(value, len(values))
            if lookup[i] == len(values):
                values.append(value)
    return Categories(lookup[col.codes[batch.rows]], values)


def _per_policy(batch: Batch, value: Callable[[Policy], str | None]) -> Categories:
    values: list[str] = []
    lookup = np.full(len(batch.policies), -1, dtype=np.int32)
    for j, policy in enumerate(batch.policies):
        v = value(policy)
        if v:
            if v not in values:
                values.append(v)
            lookup[j] = values.index(v)
    return Categories(lookup[batch.pol], values)


def _constant_or_array(value: np.ndarray | str, m: int) -> Categories:
    if isinstance(value, str):
        return Categories(np.zeros(m, dtype=np.int32), [value])
    values = sorted({str(v) for v in value if v is not None})
    index = {v: i for i, v in enumerate(values)}
    return Categories(
        np.fromiter((index.get(v, -1) if v is not None else -1 for v in value), np.int32, m),
        values,
    )


def _first_tag(policy: Policy) -> str | None:
    tags: Any = getattr(policy, "tags", None)
    return str(tags[0]) if tags else None


def categories(batch: Batch) -> dict[str, Categories]:
    m = len(batch.rows)
    kind = batch.columns.schema.audience.value
    return {
        "kind": Categories(np.zeros(m, dtype=np.int32), [kind]),
        "city": _derived(batch, "region", lambda s: s[:4] if len(s) >= 4 else None),
        "district": _derived(batch, "region", lambda s: s[:6] if len(s) >= 6 else None),
        "industry": _derived(batch, "industry", lambda s: s[:1].upper() or None),
        "credit": _derived(batch, "credit", lambda s: s.strip() or None),
        "education": _derived(batch, "education", lambda s: s.strip() or None),
        "department": _per_policy(batch, lambda p: p.department),
        "tag": _per_policy(batch, _first_tag),
        "channel": _constant_or_array(batch.channel, m),
    }


def numeric(batch: Batch) -> dict[str, np.ndarray]:
    m = len(batch.rows)
    as_of = np.broadcast_to(np.asarray(batch.as_of, dtype=np.float64), (m,))
    closes = np.array(
        [date_to_days(p.window.closes) if p.window.closes else np.nan for p in batch.policies]
        + [np.nan]
    )
    opens = np.array(
        [date_to_days(p.window.opens) if p.window.opens else np.nan for p in batch.policies]
        + [np.nan]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "age_years": (as_of - _numeric(batch, "born")) / 365.25,
            "size": _numeric(batch, "size"),
            "revenue_log": np.log10(1.0 + np.maximum(_numeric(batch, "revenue"), 0.0)),
            "patents": _numeric(batch, "patents"),
            "high_tech": _flag(batch, "high_tech"),
            "specialized_sme": _flag(batch, "specialized_sme"),
            "insured_months": _numeric(batch, "insured_months"),
            "benefit_log": np.log10(1.0 + np.maximum(batch.benefit, 0.0)),
            "days_to_deadline": closes[batch.pol] - as_of,
            "days_open": as_of - opens[batch.pol],
            "past_opened": np.broadcast_to(
                np.asarray(batch.past_opened, dtype=np.float64), (m,)
            ).copy(),
            "past_applied": np.broadcast_to(
                np.asarray(batch.past_applied, dtype=np.float64), (m,)
            ).copy(),
        }


def learn_vocab(parts: Sequence[dict[str, Categories]]) -> Vocab:
    """Each categorical feature's most frequent values over the training batches."""
    vocab: Vocab = {}
    for name in CATEGORICAL:
        counts: Counter[str] = Counter()
        for cats in parts:
            c = cats[name]
            if not c.values:
                continue
            tally = np.bincount(c.codes[c.codes >= 0], minlength=len(c.values))
            for value, k in zip(c.values, tally.tolist(), strict=True):
                if k:
                    counts[value] += k
        vocab[name] = sorted(v for v, _ in counts.most_common(MAX_CATEGORIES))
    return vocab


def encode(cats: Categories, values: list[str]) -> np.ndarray:
    """Codes into the vocabulary `values` as float64, NaN when missing or outside it."""
    index = {v: i for i, v in enumerate(values)}
    lookup = np.array([index.get(v, np.nan) for v in cats.values] + [np.nan], dtype=np.float64)
    return lookup[cats.codes]  # code -1 reads the trailing NaN


def matrix(batch: Batch, vocab: Vocab, cats: dict[str, Categories] | None = None) -> np.ndarray:
    """(m, len(FEATURES)) float64, columns in FEATURES order."""
    cats = cats if cats is not None else categories(batch)
    nums = numeric(batch)
    out = np.empty((len(batch.rows), len(FEATURES)), dtype=np.float64, order="F")
    for k, name in enumerate(CATEGORICAL):
        out[:, k] = encode(cats[name], vocab.get(name, []))
    for k, name in enumerate(NUMERIC, start=len(CATEGORICAL)):
        out[:, k] = nums[name]
    return out
