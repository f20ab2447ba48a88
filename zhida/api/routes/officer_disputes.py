"""`/api/officer/disputes`: 「数据有误」 disputes opened by profiles, and their resolution.

Any officer reads the queue (open first); approvers and admins resolve it, as they are
the ones who sign off what reaches the public. A correction applies the value through
the real-time path (the profile is re-evaluated, its newly eligible planned as after
any live event, as `zhida.worker.resolve_dispute_and_plan` does) and tells the profile
in its inbox; a rejection needs a comment and tells them too
(zhida.channels.selfservice). Both are in the audit log.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from zhida.api.deps import SessionDep, SettingsDep
from zhida.api.officer_auth import ChangingOfficer, CurrentOfficer
from zhida.api.routes.officer_models import DisputeOut, DisputeResolvedOut, DisputeResolveIn
from zhida.channels.selfservice import list_disputes, resolve_dispute
from zhida.clock import today
from zhida.publishing.audit import audit
from zhida.publishing.errors import OfficerForbidden, PublishError, VersionNotFound
from zhida.publishing.officers import MAY_APPROVE
from zhida.publishing.review import iso, officer_names
from zhida.store.models import Dispute, Officer
from zhida.worker import plan_and_queue

router = APIRouter(prefix="/api/officer", tags=["officer"])

Status = Literal["open", "corrected", "rejected"]


def dispute_out(d: Dispute, names: dict[int, str]) -> DisputeOut:
    return DisputeOut(
        id=d.id,
        profile=d.profile_id,
        policy=d.policy_id,
        field=d.field,
        comment=d.comment,
        status=d.status,
        created_at=iso(d.created_at) or "",
        resolved_at=iso(d.resolved_at),
        resolved_by=names.get(d.resolved_by) if d.resolved_by is not None else None,
        resolution=d.resolution,
    )


@router.get("/disputes", response_model=list[DisputeOut])
def disputes(
    officer: CurrentOfficer,
    session: SessionDep,
    status: Annotated[Status | None, Query(description="Only this status; default all")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DisputeOut]:
    """Disputes: open ones first (oldest first), then the resolved (newest first)."""
    names = officer_names(session)
    return [dispute_out(d, names) for d in list_disputes(session, status, limit)]


def require_resolver(officer: Officer) -> None:
    if officer.role not in MAY_APPROVE:
        raise OfficerForbidden(f"officer '{officer.name}' ({officer.role}) cannot resolve disputes")


@router.post("/disputes/{dispute_id}/resolve", response_model=DisputeResolvedOut)
def resolve(
    dispute_id: int,
    body: DisputeResolveIn,
    officer: ChangingOfficer,
    session: SessionDep,
    settings: SettingsDep,
) -> DisputeResolvedOut:
    """Correct (`corrected`: applied and the profile re-evaluated at once) or reject
    (`comment` required); the profile is told in its inbox, and a correction's newly
    eligible are planned and queued as after any live event. Approvers and admins only."""
    require_resolver(officer)
    if session.get(Dispute, dispute_id) is None:
        raise VersionNotFound(f"no dispute {dispute_id}")
    comment = body.comment.strip()
    if body.corrected is None and not comment:
        raise PublishError("a rejected dispute needs a comment")
    made = resolve_dispute(
        session,
        dispute_id,
        officer.id,
        dt.datetime.now(dt.UTC),
        today(),
        corrected=body.corrected,
        comment=comment,
    )
    dispute = session.get(Dispute, dispute_id)
    assert dispute is not None
    audit(
        session,
        officer,
        f"dispute.{dispute.status}",
        dispute.profile_id,
        {"dispute": dispute_id, "field": dispute.field, "transitions": len(made)},
    )
    out = DisputeResolvedOut(
        dispute=dispute_out(dispute, officer_names(session)), transitions=len(made)
    )
    session.commit()
    if made:
        plan_and_queue(settings=settings)
    return out
