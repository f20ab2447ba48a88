"""What an officer reads before acting: the policies with their versions, a version's
details, and its difference against the version in force (side by side)."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.errors import ZhidaError
from zhida.publishing.catalogue import compiled
from zhida.publishing.results import counts_by_policy
from zhida.publishing.versions import VersionStatus
from zhida.store.models import Officer, PolicyVersion

# which version of a policy the list shows: the one in force, else the latest
_SHOWN = {VersionStatus.PUBLISHED: 0, VersionStatus.DRAFT: 1}


def iso(t: dt.datetime | None) -> str | None:
    """An instant as ISO 8601 with its offset (SQLite gives naive UTC back)."""
    if t is None:
        return None
    return (t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)).isoformat()


def officer_names(session: Session) -> dict[int, str]:
    return {oid: name for oid, name in session.execute(select(Officer.id, Officer.name))}


def window_of(version: PolicyVersion) -> dict[str, str | None]:
    """The policy's application window (None when the text no longer compiles)."""
    try:
        window = compiled(version).policy.window
    except ZhidaError:  # a stored text that no longer compiles shows no window
        return {"opens": None, "closes": None}
    return {
        "opens": window.opens.isoformat() if window.opens else None,
        "closes": window.closes.isoformat() if window.closes else None,
    }


def tags_of(version: PolicyVersion) -> list[str]:
    """The policy's `tags:` (none when the text no longer compiles)."""
    try:
        return list(compiled(version).policy.tags)
    except ZhidaError:
        return []


def version_json(version: PolicyVersion, names: dict[int, str]) -> dict[str, Any]:
    return {
        "policy": version.policy_id,
        "version": version.version,
        "version_id": version.id,
        "status": version.status,
        "title": version.title,
        "audience": version.audience,
        "author": names.get(version.author_id),
        "approver": names.get(version.approver_id) if version.approver_id else None,
        "created_at": iso(version.created_at),
        "published_at": iso(version.published_at),
        "review_comment": version.review_comment,
    }


def list_policies(session: Session) -> list[dict[str, Any]]:
    """One row per policy: the version in force (else the latest), its window, the number
    of drafts waiting, and the counts."""
    versions = list(
        session.scalars(
            select(PolicyVersion).order_by(PolicyVersion.policy_id, PolicyVersion.version)
        )
    )
    names = officer_names(session)
    counts = counts_by_policy(session)
    by_policy: dict[str, list[PolicyVersion]] = {}
    for v in versions:
        by_policy.setdefault(v.policy_id, []).append(v)
    rows = []
    for policy_id, vs in by_policy.items():
        shown = min(vs, key=lambda v: (_SHOWN.get(VersionStatus(v.status), 2), -v.version))
        published = next((v for v in vs if v.status == VersionStatus.PUBLISHED), None)
        empty = dict.fromkeys(("eligible", "unknown", "reached", "applied", "granted"), 0)
        rows.append(
            {
                **version_json(shown, names),
                "window": window_of(shown),
                "tags": tags_of(shown),
                "published_version": published.version if published else None,
                "latest_version": vs[-1].version,
                "drafts": sum(v.status == VersionStatus.DRAFT for v in vs),
                **counts.get(policy_id, empty),
            }
        )
    return rows


def versions_of(session: Session, policy_id: str) -> list[PolicyVersion]:
    return list(
        session.scalars(
            select(PolicyVersion)
            .where(PolicyVersion.policy_id == policy_id)
            .order_by(PolicyVersion.version)
        )
    )


def published_of(session: Session, policy_id: str) -> PolicyVersion | None:
    return session.scalars(
        select(PolicyVersion).where(
            PolicyVersion.policy_id == policy_id,
            PolicyVersion.status == VersionStatus.PUBLISHED,
        )
    ).first()


@dataclass(frozen=True)
class DiffRow:
    """One row of a side-by-side diff: a line on the left, on the right, or both."""

    op: str  # equal | replace | delete | insert
    left_no: int | None
    left: str | None
    right_no: int | None
    right: str | None


def side_by_side(old: str, new: str) -> list[DiffRow]:
    a, b = old.splitlines(), new.splitlines()
    rows: list[DiffRow] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        width = max(i2 - i1, j2 - j1)
        for k in range(width):
            li, rj = i1 + k, j1 + k
            rows.append(
                DiffRow(
                    op,
                    li + 1 if li < i2 else None,
                    a[li] if li < i2 else None,
                    rj + 1 if rj < j2 else None,
                    b[rj] if rj < j2 else None,
                )
            )
    return rows


def diff_against(
    base: PolicyVersion | None, version: PolicyVersion
) -> tuple[str, list[DiffRow], str]:
    """(unified diff text, side-by-side rows, schema diff text) of a version against a base
    (the published version; none: against nothing)."""
    old = base.yaml_text if base else ""
    label = f"{version.policy_id}@v{base.version}" if base else "(none)"
    new_label = f"{version.policy_id}@v{version.version}"
    unified = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            version.yaml_text.splitlines(keepends=True),
            label,
            new_label,
        )
    )
    schema = "".join(
        difflib.unified_diff(
            (base.schema_yaml if base else "").splitlines(keepends=True),
            version.schema_yaml.splitlines(keepends=True),
            f"{label} schema.yaml",
            f"{new_label} schema.yaml",
        )
    )
    return unified, side_by_side(old, version.yaml_text), schema
