"""免申即享: a `grant: automatic` policy is confirmed (or declined) in one tap on /me, and
the confirmed are exported for the paying department.

`decide` re-checks, as of that moment, that the version in force is automatic, the
profile eligible and (for a confirmation) holding no policy that excludes it, and
stores one `Grant` per (profile, policy, version) with the decision record (the
inputs, the explanation, the version): tapping twice, or two tabs at once, store one.
`export_grants` writes the confirmed grants not yet exported (CSV, spreadsheet-safe,
or Parquet) and marks them, so each is exported once.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhida.channels.held import CONFIRMED, DECLINED, held_exclusion
from zhida.clock import shanghai_date
from zhida.csvsafe import escape_row
from zhida.errors import ZhidaError
from zhida.matcher.explain import explain_text
from zhida.matcher.reference import evaluate_policy
from zhida.publishing.catalogue import compiled
from zhida.publishing.versions import published_version
from zhida.store.models import FeedbackEvent, FeedbackKind, Grant
from zhida.store.profiles import frame_from_json, get_profile

DECISIONS = {"confirm": CONFIRMED, "decline": DECLINED}
EXPORT_COLUMNS = [
    "grant_id",
    "profile_id",
    "name",
    "uscc",
    "policy_id",
    "policy_version_id",
    "benefit",
    "decided_at",
    "record",
]


class GrantRefused(ZhidaError):
    """Not an automatic policy in force, or the profile is not eligible for it now."""


class GrantExcluded(GrantRefused):
    """The profile holds a policy that excludes this one: it cannot be confirmed."""


def decide(
    session: Session, profile_id: str, policy_id: str, decision: str, now: dt.datetime
) -> Grant:
    """Store the profile's decision on an automatic policy (once per version); the stored
    grant, which is the first decision when one was already made."""
    if decision not in DECISIONS.values():
        raise GrantRefused(f"unknown decision '{decision}'")
    version = published_version(session, policy_id)
    if version is None:
        raise GrantRefused(f"no policy '{policy_id}' in force")
    cv = compiled(version)
    policy = cv.policy
    if policy.grant != "automatic":
        raise GrantRefused(f"policy '{policy_id}' is applied for, not granted automatically")
    existing = _grant(session, profile_id, policy_id, version.id)
    if existing is not None:
        return existing
    stored = get_profile(session, profile_id)
    if stored is None or stored[0] != policy.audience.value:
        raise GrantRefused(f"policy '{policy_id}' is not for this profile")
    as_of = shanghai_date(now)
    profile = frame_from_json([{**stored[1], "id": profile_id}], cv.schema).to_dicts()[0]
    result = evaluate_policy(policy, profile, as_of)
    if result.outcome != "eligible":
        raise GrantRefused(f"profile is {result.outcome} for '{policy_id}' as of {as_of}")
    if decision == CONFIRMED and (held := held_exclusion(session, profile_id, policy)):
        raise GrantExcluded(f"'{policy_id}' is excluded by '{held.policy}' ({held.state})")
    grant = Grant(
        profile_id=profile_id,
        policy_id=policy_id,
        policy_version_id=version.id,
        decision=decision,
        benefit=result.benefit,
        record={
            "inputs": stored[1],
            "as_of": as_of.isoformat(),
            "version": version.version,
            "version_sha256": version.sha256,
            "outcome": result.outcome,
            "trace": explain_text(result, cv.schema, profile_id),
        },
        decided_at=now,
    )
    try:
        with session.begin_nested():
            session.add(grant)
            session.flush()
    except IntegrityError:  # the same tap from another tab, at the same moment
        found = _grant(session, profile_id, policy_id, version.id)
        assert found is not None
        return found
    kind = FeedbackKind.APPLIED if decision == CONFIRMED else FeedbackKind.DECLINED
    session.add(
        FeedbackEvent(
            profile_id=profile_id,
            policy_id=policy_id,
            kind=kind.value,
            at=now,
            detail={"grant": grant.id, "channel": "inapp"},
        )
    )
    return grant


def _grant(session: Session, profile_id: str, policy_id: str, version_id: int) -> Grant | None:
    return session.scalar(
        select(Grant).where(
            Grant.profile_id == profile_id,
            Grant.policy_id == policy_id,
            Grant.policy_version_id == version_id,
        )
    )


def export_grants(session: Session, policy_id: str, out: Path, now: dt.datetime) -> int:
    """Write the policy's confirmed grants not exported before to `out` (.csv or .parquet)
    and mark them exported (the caller commits); how many were written."""
    grants = list(
        session.scalars(
            select(Grant)
            .where(
                Grant.policy_id == policy_id,
                Grant.decision == CONFIRMED,
                Grant.exported_at.is_(None),
            )
            .order_by(Grant.id)
            .with_for_update()
        )
    )
    rows = [_export_row(g) for g in grants]
    if out.suffix.lower() == ".parquet":
        import polars as pl

        pl.DataFrame(rows, schema=dict.fromkeys(EXPORT_COLUMNS, pl.String)).write_parquet(out)
    else:
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(EXPORT_COLUMNS)
            for row in rows:
                writer.writerow(escape_row([row[c] for c in EXPORT_COLUMNS]))
    for g in grants:
        g.exported_at = now
    return len(grants)


def _export_row(g: Grant) -> dict[str, Any]:
    inputs = g.record.get("inputs", {})
    return {
        "grant_id": str(g.id),
        "profile_id": g.profile_id,
        "name": str(inputs.get("name") or ""),
        "uscc": str(inputs.get("uscc") or inputs.get("id_hash") or ""),
        "policy_id": g.policy_id,
        "policy_version_id": str(g.policy_version_id),
        "benefit": "" if g.benefit is None else f"{g.benefit:.2f}",
        "decided_at": g.decided_at.isoformat(),
        "record": json.dumps(g.record, ensure_ascii=False, sort_keys=True),
    }
