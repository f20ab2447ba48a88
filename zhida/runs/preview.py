"""Impact of a draft policy on the stored population: what a preview reports.

Compares the draft's outcomes (vectorised, over every stored profile of its
audience) with the stored decisions of the same policy id. Writes nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.matcher.batch import BatchEvaluator, fields_read
from zhida.matcher.explain import explain_text, format_amount
from zhida.matcher.reference import evaluate_define_values, evaluate_policy
from zhida.profiles.regions import city_of, section_of
from zhida.profiles.schema import ProfileSchema
from zhida.publishing.catalogue import compiled, schemas_from
from zhida.publishing.versions import approve, check_may_approve
from zhida.rules.policy import Policy
from zhida.store.models import Decision, Officer, PolicyVersion
from zhida.store.profiles import load_frame

CHANGES = ("newly_eligible", "no_longer_eligible", "newly_unknown", "unchanged")
CHANGE_LABELS = {
    "newly_eligible": "新增符合",
    "no_longer_eligible": "不再符合",
    "newly_unknown": "新增待补充信息",
    "unchanged": "不变",
}


@dataclass
class Impact:
    policy_id: str
    as_of: str
    profiles: int
    counts: dict[str, int]
    outcomes: dict[str, int]
    by_city: dict[str, dict[str, int]] = field(default_factory=dict)
    by_industry: dict[str, dict[str, int]] = field(default_factory=dict)
    samples: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    forecast: dict[str, Any] | None = None  # with `budget:` (see `forecast_of`)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def classify(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Per profile: 0 newly eligible, 1 no longer eligible, 2 newly unknown, 3 unchanged."""
    out = np.full(len(new), 3, dtype=np.int8)
    out[(new == 1) & (old != 1)] = 2
    out[(old == 2) & (new != 2)] = 1
    out[(new == 2) & (old != 2)] = 0
    return out


def _grouped(
    values: pl.Series, change: np.ndarray, key_of: Callable[[Any], str]
) -> dict[str, dict[str, int]]:
    """The changed profiles counted by `key_of` of their value and by kind of change:
    the profiles counted by distinct value (polars), then `key_of` once per value."""
    counts = (
        pl.DataFrame({"value": values, "change": change})
        .filter(pl.col("change") < 3)
        .group_by("value", "change")
        .len()
    )
    table: dict[str, Counter[str]] = {}
    for value, c, n in counts.iter_rows():
        table.setdefault(key_of(value), Counter())[CHANGES[c]] += n
    return {k: {name: v[name] for name in CHANGES[:3]} for k, v in sorted(table.items())}


def _old_codes(frame: pl.DataFrame, old_outcomes: dict[str, int]) -> np.ndarray:
    """The stored outcome code of each row of `frame` (by its id; missing = 0)."""
    if not old_outcomes:
        return np.zeros(frame.height, dtype=np.int8)
    stored = pl.DataFrame(
        {"id": list(old_outcomes), "old": list(old_outcomes.values())},
        schema={"id": pl.String, "old": pl.Int8},
    )
    joined = frame.select("id").join(stored, on="id", how="left", maintain_order="left")
    return joined.get_column("old").fill_null(0).to_numpy()


def compute_impact(
    policy: Policy,
    frame: pl.DataFrame,
    schema: ProfileSchema,
    old_outcomes: dict[str, int],
    as_of: dt.date,
    samples: int = 3,
) -> Impact:
    """`old_outcomes`: stored outcome code per profile id for this policy id (missing = 0)."""
    evaluator = BatchEvaluator([policy], as_of)
    chunks = list(evaluator.evaluate(frame, schema)) if frame.height else []
    new = np.concatenate([r.outcome[0] for r in chunks]) if chunks else np.zeros(0, dtype=np.int8)
    benefit = (
        np.concatenate([np.broadcast_to(r.benefit[0], (r.stop - r.start,)) for r in chunks])
        if chunks
        else np.zeros(0)
    )
    old = _old_codes(frame, old_outcomes)
    change = classify(old, new)
    counts = {name: int((change == k).sum()) for k, name in enumerate(CHANGES)}
    outcomes = {
        name: int((new == k).sum()) for k, name in enumerate(("ineligible", "unknown", "eligible"))
    }
    region = "region" if "region" in frame.columns else "residence_region"
    by_city = (
        _grouped(frame.get_column(region), change, city_of)
        if region in frame.columns
        else _grouped(pl.repeat(None, frame.height, eager=True), change, lambda _: "未知")
    )
    impact = Impact(policy.id, as_of.isoformat(), frame.height, counts, outcomes, by_city=by_city)
    if "industry" in frame.columns:
        impact.by_industry = _grouped(frame.get_column("industry"), change, section_of)
    impact.samples = _samples(policy, frame, schema, change, as_of, samples)
    if policy.budget is not None:
        impact.forecast = forecast_of(policy.budget, benefit, new, change)
    return impact


def forecast_of(
    budget: float, benefit: np.ndarray, new: np.ndarray, change: np.ndarray
) -> dict[str, Any]:
    """The money the preview forecasts against `budget:` (CNY): `spend`, the benefits of
    the newly eligible; `eligible_spend`, of every eligible profile under this text;
    `unpriced`, newly eligible whose amount is not known (counted as 0)."""
    newly = change == 0
    known = ~np.isnan(benefit)
    spend = float(benefit[newly & known].sum())
    eligible_spend = float(benefit[(new == 2) & known].sum())
    return {
        "budget": budget,
        "spend": spend,
        "eligible_spend": eligible_spend,
        "share": spend / budget,
        "eligible_share": eligible_spend / budget,
        "over_budget": eligible_spend > budget,
        "unpriced": int((newly & ~known).sum()),
        "budget_text": format_amount(budget),
        "spend_text": format_amount(spend),
        "eligible_spend_text": format_amount(eligible_spend),
    }


def _samples(
    policy: Policy,
    frame: pl.DataFrame,
    schema: ProfileSchema,
    change: np.ndarray,
    as_of: dt.date,
    per_kind: int,
) -> list[dict[str, str]]:
    out = []
    for k in (0, 1, 2):
        for row in np.nonzero(change == k)[0][:per_kind]:
            profile = frame.row(int(row), named=True)
            result = evaluate_policy(policy, profile, as_of)
            text = explain_text(
                result, schema, str(profile["id"]), evaluate_define_values(policy, profile, as_of)
            )
            out.append(
                {
                    "profile": str(profile["id"]),
                    "change": CHANGE_LABELS[CHANGES[k]],
                    "explanation": text,
                }
            )
    return out


# what the preview groups the changes by, besides the fields the policy reads
GROUPED_BY = ("region", "residence_region", "industry")


def preview_fields(policy: Policy) -> list[str]:
    """The fields a preview of `policy` loads: those its expressions read (`define:`
    names' included) and those it groups by. No other field can change its impact."""
    return [*fields_read([policy]), *GROUPED_BY]


def impact_of(session: Session, policy: Policy, schema_yaml: str, as_of: dt.date) -> Impact:
    """Evaluate a policy over the stored population; compare with stored decisions. No writes."""
    start = time.perf_counter()
    schema = schemas_from(schema_yaml)[policy.audience]
    frame = load_frame(
        session, policy.audience.value, schema, fields=preview_fields(policy), backends=2
    )
    old = {
        profile_id: outcome
        for profile_id, outcome in session.execute(
            select(Decision.profile_id, Decision.outcome).where(Decision.policy_id == policy.id)
        )
    }
    impact = compute_impact(policy, frame, schema, old, as_of)
    impact.seconds = round(time.perf_counter() - start, 3)
    return impact


def approve_with_impact(
    session: Session,
    officer: Officer,
    version: PolicyVersion,
    as_of: dt.date,
    allow_self_approval: bool = False,
    comment: str | None = None,
) -> Impact:
    """Publish a draft with its impact on the stored population recorded beside it (the
    preview the approver saw is in the audit log). The caller starts the run."""
    check_may_approve(officer, version, allow_self_approval)
    impact = impact_of(session, compiled(version).policy, version.schema_yaml, as_of)
    approve(session, officer, version, impact.to_json(), allow_self_approval, comment)
    return impact
