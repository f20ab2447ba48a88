"""`/api/officer/`: check, submit, list, versions and their diff, preview, approve, reject.

Thin: each route reads its typed input, calls the publishing (or runs) service the
command line also calls, and returns a response model. Domain errors become HTTP in
zhida/api/errors.py (401 no officer, 403 role or own version, 404, 409 state).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from zhida.api.deps import SessionDep, SettingsDep
from zhida.api.officer_auth import ChangingOfficer, CurrentOfficer
from zhida.api.routes.officer_models import (
    ApproveOut,
    CheckIn,
    CheckOut,
    DiagnosticOut,
    DiffOut,
    DiffRowOut,
    ForecastOut,
    ImpactOut,
    PolicyRowOut,
    PreviewIn,
    RejectIn,
    RejectOut,
    ReviewIn,
    SampleOut,
    SubmitIn,
    SubmitOut,
    TestsOut,
    VersionDetailOut,
    VersionOut,
    VocabularyOut,
    WindowOut,
)
from zhida.channels.check import check_messages
from zhida.clock import today
from zhida.errors import PolicyError
from zhida.publishing.audit import audit
from zhida.publishing.catalogue import compiled
from zhida.publishing.checking import CheckReport, check_text, vocabulary
from zhida.publishing.errors import PublishError
from zhida.publishing.review import (
    diff_against,
    list_policies,
    officer_names,
    published_of,
    version_json,
    versions_of,
    window_of,
)
from zhida.publishing.versions import find_version, reject, submit
from zhida.runs.preview import Impact, approve_with_impact, impact_of
from zhida.worker import start_new_run

router = APIRouter(prefix="/api/officer", tags=["officer"])


def as_of_date(text: str | None) -> dt.date:
    if not text:
        return today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PublishError(f"as_of must be a date YYYY-MM-DD, got '{text}'") from None


def check_report(yaml_text: str, schema_yaml: str) -> CheckReport:
    """The same checks as `zhida check`: loading, the policy's tests, its SMS template."""
    return check_text(yaml_text, schema_yaml, extra=check_messages)


def check_out(report: CheckReport) -> CheckOut:
    return CheckOut(
        ok=report.ok,
        diagnostics=[DiagnosticOut(**vars(d)) for d in report.diagnostics],
        tests=TestsOut(passed=report.passed, failed=report.failed),
        policy=report.policy.id if report.policy else None,
        audience=report.policy.audience.value if report.policy else None,
    )


def impact_out(impact: Impact) -> ImpactOut:
    return ImpactOut(
        policy=impact.policy_id,
        as_of=impact.as_of,
        profiles=impact.profiles,
        **impact.counts,
        outcomes=impact.outcomes,
        by_city=impact.by_city,
        by_industry=impact.by_industry,
        samples=[SampleOut(**s) for s in impact.samples],
        seconds=impact.seconds,
        forecast=ForecastOut(**impact.forecast) if impact.forecast else None,
    )


@router.post("/check", response_model=CheckOut)
def check(body: CheckIn, officer: CurrentOfficer) -> CheckOut:
    """Diagnostics (line, column, message) and the policy's tests, as `zhida check`."""
    return check_out(check_report(body.yaml, body.schema_ or ""))


@router.get("/schema", response_model=VocabularyOut)
def schema(officer: CurrentOfficer, pack_schema: str = "") -> VocabularyOut:
    """What the editor completes: policy keys, profile fields per audience, functions."""
    return VocabularyOut.model_validate(vocabulary(pack_schema))


@router.post("/policies", status_code=201, response_model=SubmitOut)
def create_policy(body: SubmitIn, officer: ChangingOfficer, session: SessionDep) -> SubmitOut:
    """Submit the text as a new draft version (it must pass `check`)."""
    schema_yaml = body.schema_ or ""
    report = check_report(body.yaml, schema_yaml)
    if not report.ok:
        first = next((d for d in report.diagnostics if d.severity == "error"), None)
        where = f"{first.line}:{first.col}: {first.message}" if first else "its tests fail"
        raise PolicyError(f"the policy does not pass check ({where})")
    assert report.policy is not None
    version = submit(session, officer, body.yaml, f"{report.policy.id}.yaml", schema_yaml)
    out = SubmitOut(policy=version.policy_id, version=version.version, status=version.status)
    session.commit()
    return out


@router.get("/policies", response_model=list[PolicyRowOut])
def policies(officer: CurrentOfficer, session: SessionDep) -> list[PolicyRowOut]:
    """Every policy: the version in force (else the latest), status, window and counts."""
    return [PolicyRowOut.model_validate(row) for row in list_policies(session)]


@router.get("/policies/{policy_id}/versions", response_model=list[VersionOut])
def versions(policy_id: str, officer: CurrentOfficer, session: SessionDep) -> list[VersionOut]:
    names = officer_names(session)
    found = versions_of(session, policy_id)
    if not found:
        find_version(session, policy_id, 0)  # raises the 404
    return [VersionOut.model_validate(version_json(v, names)) for v in found]


@router.get("/policies/{policy_id}/versions/{version}", response_model=VersionDetailOut)
def version_detail(
    policy_id: str, version: int, officer: CurrentOfficer, session: SessionDep
) -> VersionDetailOut:
    v = find_version(session, policy_id, version)
    return VersionDetailOut.model_validate(
        {
            **version_json(v, officer_names(session)),
            "yaml": v.yaml_text,
            "schema": v.schema_yaml,
            "window": WindowOut(**window_of(v)),
        }
    )


@router.get("/policies/{policy_id}/versions/{version}/diff", response_model=DiffOut)
def version_diff(
    policy_id: str, version: int, officer: CurrentOfficer, session: SessionDep
) -> DiffOut:
    """The version against the one in force (side by side, and as a unified diff)."""
    v = find_version(session, policy_id, version)
    base = published_of(session, policy_id)
    if base is not None and base.id == v.id:
        base = None
    unified, rows, schema_diff = diff_against(base, v)
    return DiffOut(
        policy=policy_id,
        version=version,
        base_version=base.version if base else None,
        unified=unified,
        rows=[DiffRowOut(**vars(r)) for r in rows],
        schema_diff=schema_diff,
    )


@router.get("/policies/{policy_id}/versions/{version}/preview", response_model=ImpactOut)
def version_preview(
    policy_id: str,
    version: int,
    officer: CurrentOfficer,
    session: SessionDep,
    as_of: Annotated[str | None, Query(description="YYYY-MM-DD, default today")] = None,
) -> ImpactOut:
    """Impact on the stored population against the stored decisions; writes nothing."""
    v = find_version(session, policy_id, version)
    impact = impact_of(session, compiled(v).policy, v.schema_yaml, as_of_date(as_of))
    session.rollback()  # a preview writes nothing
    return impact_out(impact)


@router.post("/preview", response_model=ImpactOut)
def draft_preview(body: PreviewIn, officer: CurrentOfficer, session: SessionDep) -> ImpactOut:
    """The same preview for text not yet submitted (the editor's); writes nothing."""
    schema_yaml = body.schema_ or ""
    report = check_text(body.yaml, schema_yaml)
    if report.policy is None:
        d = report.diagnostics[0]
        raise PolicyError(f"the policy does not load ({d.line}:{d.col}: {d.message})")
    impact = impact_of(session, report.policy, schema_yaml, as_of_date(body.as_of))
    session.rollback()
    return impact_out(impact)


@router.post("/policies/{policy_id}/versions/{version}/approve", response_model=ApproveOut)
def approve_version(
    policy_id: str,
    version: int,
    officer: ChangingOfficer,
    session: SessionDep,
    settings: SettingsDep,
    body: ReviewIn | None = None,
) -> ApproveOut:
    """Publish a draft (403 for its author) and start the re-evaluation run."""
    as_of = today()
    v = find_version(session, policy_id, version)
    comment = body.comment if body else None
    impact = approve_with_impact(session, officer, v, as_of, settings.allow_self_approval, comment)
    version_id, audience = v.id, v.audience
    session.commit()
    run_id = start_new_run(audience, [version_id], as_of)
    audit(session, officer, "run.start", f"run {run_id}", {"policy": policy_id, "version": version})
    session.commit()
    return ApproveOut(status="published", run=run_id, impact=impact_out(impact))


@router.post("/policies/{policy_id}/versions/{version}/reject", response_model=RejectOut)
def reject_version(
    policy_id: str, version: int, body: RejectIn, officer: ChangingOfficer, session: SessionDep
) -> RejectOut:
    """Send a draft back with a comment."""
    v = find_version(session, policy_id, version)
    reject(session, officer, v, body.comment)
    status = v.status
    session.commit()
    return RejectOut(status=status)
