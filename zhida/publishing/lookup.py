"""Finding a profile for an officer (by id, USCC or a fuzzy name), its decisions, and the
whole explanation of any of them against the published version in force."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.matcher.explain import explain_text, render_lines
from zhida.matcher.explanation import build_explanation
from zhida.matcher.reference import evaluate_define_values, evaluate_policy
from zhida.profiles.resolve import normalize_name
from zhida.publishing.catalogue import compiled
from zhida.publishing.errors import VersionNotFound
from zhida.publishing.versions import published_versions
from zhida.store.models import OUTCOME_NAMES, Decision, Profile
from zhida.store.profiles import frame_from_json, get_profile

USCC_LIKE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
NAME_CUTOFF = 60.0  # rapidfuzz WRatio, 0-100
SCAN_BATCH = 50_000  # names read per round trip when scanning


@dataclass(frozen=True)
class Found:
    id: str
    kind: str
    name: str | None
    uscc: str | None
    matched_by: str  # id | uscc | name
    score: float


def _found(row: Profile, by: str, score: float = 100.0) -> Found:
    data = row.data or {}
    return Found(row.id, row.kind, data.get("name"), data.get("uscc"), by, score)


def find_profiles(session: Session, query: str, limit: int = 20) -> list[Found]:
    """An exact id first, then an exact USCC, then names by similarity (best first)."""
    q = query.strip()
    if not q:
        return []
    exact = session.get(Profile, q)
    if exact is not None:
        return [_found(exact, "id")]
    if USCC_LIKE.match(q.upper()):
        rows = session.scalars(
            select(Profile).where(Profile.data["uscc"].as_string() == q.upper()).limit(limit)
        ).all()
        if rows:
            return [_found(r, "uscc") for r in rows]
    return _by_name(session, q, limit)


def _by_name(session: Session, query: str, limit: int) -> list[Found]:
    """Each name scored as typed and in its comparable form (places and legal form
    dropped, `normalize_name`), the better of the two; names read in batches."""
    target = normalize_name(query)
    name = Profile.data["name"].as_string()
    best: dict[str, float] = {}
    stmt = select(Profile.id, name).where(name.is_not(None)).execution_options(yield_per=SCAN_BATCH)
    for part in session.execute(stmt).partitions():
        ids = [r[0] for r in part]
        raw = [r[1] for r in part]
        choices = [(query, raw)] + ([(target, [normalize_name(n) for n in raw])] if target else [])
        for q, names in choices:
            for _, score, idx in process.extract(
                q, names, scorer=fuzz.WRatio, limit=limit, score_cutoff=NAME_CUTOFF
            ):
                best[ids[idx]] = max(best.get(ids[idx], 0.0), float(score))
    top = sorted(best.items(), key=lambda t: (-t[1], t[0]))[:limit]
    wanted = [i for i, _ in top]
    rows = {r.id: r for r in session.scalars(select(Profile).where(Profile.id.in_(wanted)))}
    return [_found(rows[i], "name", round(s, 1)) for i, s in top if i in rows]


def _profile_or_404(session: Session, profile_id: str) -> tuple[str, dict[str, Any]]:
    found = get_profile(session, profile_id)
    if found is None:
        raise VersionNotFound(f"no profile '{profile_id}'")
    return found


def profile_decisions(session: Session, profile_id: str) -> dict[str, Any]:
    """The profile's data and, per published policy of its audience, the stored decision
    (no row: ineligible or not yet evaluated)."""
    kind, data = _profile_or_404(session, profile_id)
    stored = {
        d.policy_id: d
        for d in session.scalars(select(Decision).where(Decision.profile_id == profile_id))
    }
    rows = []
    for version in published_versions(session, kind):
        d = stored.get(version.policy_id)
        rows.append(
            {
                "policy": version.policy_id,
                "version": version.version,
                "title": version.title,
                "outcome": OUTCOME_NAMES[d.outcome] if d else "ineligible",
                "stored": d is not None,
                "benefit": d.benefit if d else None,
                "score": d.score if d else None,
                "unknown": list(d.unknown or []) if d else [],
                "updated_at": d.updated_at.isoformat() if d else None,
            }
        )
    return {"id": profile_id, "kind": kind, "data": data, "decisions": rows}


def explain_decision(
    session: Session, profile_id: str, policy_id: str, as_of: dt.date
) -> dict[str, Any]:
    """The whole explanation, criterion by criterion, with the values read, in Chinese."""
    kind, data = _profile_or_404(session, profile_id)
    version = next((v for v in published_versions(session, kind) if v.policy_id == policy_id), None)
    if version is None:
        raise VersionNotFound(f"no published {kind} policy '{policy_id}'")
    catalogued = compiled(version)
    policy, schema = catalogued.policy, catalogued.schema
    profile = frame_from_json([data], schema).to_dicts()[0]
    result = evaluate_policy(policy, profile, as_of)
    defines = evaluate_define_values(policy, profile, as_of)
    explanation = build_explanation(result, schema, profile_id, defines)
    return {
        "profile": profile_id,
        "policy": policy_id,
        "version": version.version,
        "as_of": as_of.isoformat(),
        "outcome": result.outcome,
        "failed": list(result.failed),
        "unknown": list(result.unknown),
        "lines": render_lines(explanation),
        "text": explain_text(result, schema, profile_id, defines),
    }
