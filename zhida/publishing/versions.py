"""Policy versions: submitting a draft, finding a version, approving (publishing).

An author submits a policy file as a draft version; an approver other than the
author publishes it (unless self-approval is allowed, for the demo). A policy
that fails `zhida check` (errors or failing tests) cannot be submitted, and the
same text cannot be submitted twice. Every step is in the append-only audit log.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from zhida.clock import utcnow
from zhida.matcher.policy_tests import run_policy_tests
from zhida.publishing.audit import audit
from zhida.publishing.catalogue import content_sha256, schemas_from
from zhida.publishing.errors import PublishError
from zhida.publishing.officers import MAY_APPROVE, MAY_SUBMIT
from zhida.rules.loader import load_policy_text
from zhida.rules.policy import Policy
from zhida.store.models import Officer, PolicyVersion


class VersionStatus(StrEnum):
    """Where a version is in its life; stored as its value in `policy_versions.status`."""

    DRAFT = "draft"  # submitted, waiting for an approver
    PUBLISHED = "published"  # the one in force for its policy
    RETIRED = "retired"  # replaced by a later published version


def check_policy(text: str, path: str, schema_yaml: str) -> Policy:
    """Load and run the policy's tests; any error or failing test refuses it."""
    policy = load_policy_text(text, path, schemas_from(schema_yaml))
    failed = [o for o in run_policy_tests(policy) if not o.passed]
    if failed:
        names = ", ".join(f"'{o.test.name}'" for o in failed)
        raise PublishError(f"{path}: policy tests fail ({names}); run zhida check")
    return policy


def submit(
    session: Session, officer: Officer, text: str, path: str, schema_yaml: str = ""
) -> PolicyVersion:
    if officer.role not in MAY_SUBMIT:
        raise PublishError(f"officer '{officer.name}' ({officer.role}) cannot submit policies")
    policy = check_policy(text, path, schema_yaml)
    sha = content_sha256(text, schema_yaml)
    same = session.scalar(
        select(PolicyVersion).where(
            PolicyVersion.policy_id == policy.id, PolicyVersion.sha256 == sha
        )
    )
    if same is not None:
        raise PublishError(
            f"this text of '{policy.id}' is already version {same.version} "
            f"({same.status}); nothing to do"
        )
    last = (
        session.scalar(
            select(func.max(PolicyVersion.version)).where(PolicyVersion.policy_id == policy.id)
        )
        or 0
    )
    version = PolicyVersion(
        policy_id=policy.id,
        version=last + 1,
        status=VersionStatus.DRAFT,
        audience=policy.audience.value,
        title=policy.title,
        yaml_text=text,
        schema_yaml=schema_yaml,
        sha256=sha,
        author_id=officer.id,
    )
    session.add(version)
    session.flush()
    audit(session, officer, "policy.submit", f"{policy.id}@v{version.version}", {"sha256": sha})
    return version


def find_version(session: Session, policy_id: str, version: int | None) -> PolicyVersion:
    stmt = select(PolicyVersion).where(PolicyVersion.policy_id == policy_id)
    if version is not None:
        stmt = stmt.where(PolicyVersion.version == version)
    else:
        stmt = stmt.where(PolicyVersion.status == VersionStatus.DRAFT).order_by(
            PolicyVersion.version.desc()
        )
    found = session.scalars(stmt).first()
    if found is None:
        what = f"version {version}" if version is not None else "a draft"
        raise PublishError(f"no {what} of policy '{policy_id}'")
    return found


def lock_policies(session: Session, policy_ids: Iterable[str], *, shared: bool) -> None:
    """PostgreSQL: hold the policies' advisory locks until the transaction ends, in a
    fixed order. Publishing takes them exclusive; whatever writes decisions of a
    version (a run's chunk, the live path) takes them shared, then writes only for
    versions still published (`still_published`). So a chunk of a superseded version
    either commits before the new version is published (and the new version's run
    reads what it wrote) or writes nothing: two versions never both record one
    profile's change, and nobody is told twice (issue 14)."""
    if session.connection().dialect.name != "postgresql":
        return  # SQLite serialises writers
    keys = sorted({f"zhida.policy:{pid}" for pid in policy_ids})
    if not keys:
        return
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    session.execute(  # one round trip, the keys in order
        text(
            f"SELECT count({fn}(h)) FROM (SELECT hashtextextended(k, 0) AS h "
            "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k) AS ordered"
        ),
        {"keys": keys},
    )


def still_published(session: Session, version_ids: Iterable[int]) -> set[int]:
    """Those of these version ids that are published now."""
    ids = sorted({int(v) for v in version_ids})
    if not ids:
        return set()
    return set(
        session.scalars(
            select(PolicyVersion.id).where(
                PolicyVersion.id.in_(ids), PolicyVersion.status == VersionStatus.PUBLISHED
            )
        )
    )


def approve(
    session: Session,
    officer: Officer,
    version: PolicyVersion,
    preview: dict[str, Any] | None,
    allow_self_approval: bool = False,
) -> PolicyVersion:
    """Publish a draft: the previous published version of the policy is retired."""
    if officer.role not in MAY_APPROVE:
        raise PublishError(f"officer '{officer.name}' ({officer.role}) cannot approve policies")
    if version.status != VersionStatus.DRAFT:
        raise PublishError(
            f"'{version.policy_id}' version {version.version} is already {version.status}"
        )
    if version.author_id == officer.id and not allow_self_approval:
        raise PublishError("an author cannot approve their own policy; another approver must")
    lock_policies(session, [version.policy_id], shared=False)  # chunks in flight finish first
    now = utcnow()
    for old in session.scalars(
        select(PolicyVersion).where(
            PolicyVersion.policy_id == version.policy_id,
            PolicyVersion.status == VersionStatus.PUBLISHED,
        )
    ):
        old.status, old.retired_at = VersionStatus.RETIRED, now
    version.status, version.approver_id, version.published_at = (
        VersionStatus.PUBLISHED,
        officer.id,
        now,
    )
    version.preview = preview
    audit(
        session,
        officer,
        "policy.publish",
        f"{version.policy_id}@v{version.version}",
        {"version_id": version.id, "preview": preview},
    )
    session.flush()
    return version


def published_versions(session: Session, audience: str | None = None) -> list[PolicyVersion]:
    stmt = select(PolicyVersion).where(PolicyVersion.status == VersionStatus.PUBLISHED)
    if audience:
        stmt = stmt.where(PolicyVersion.audience == audience)
    return list(session.scalars(stmt.order_by(PolicyVersion.policy_id)))


def published_version(session: Session, policy_id: str) -> PolicyVersion | None:
    """The version of a policy in force now (None when none is published)."""
    return session.scalar(
        select(PolicyVersion)
        .where(
            PolicyVersion.policy_id == policy_id,
            PolicyVersion.status == VersionStatus.PUBLISHED,
        )
        .order_by(PolicyVersion.version.desc())
        .limit(1)
    )
