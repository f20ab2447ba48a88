"""`/api/officer/`: results, profile look-up and explanations, the audit log, officers.

Looking at a profile's data or explanation is in the audit log (who looked at whom).
Only admins manage officers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from zhida.api.deps import SessionDep
from zhida.api.officer_auth import AdminOfficer, CurrentAuth, CurrentOfficer
from zhida.api.officer_sessions import end_officer_sessions
from zhida.api.routes.officer_models import (
    AuditOut,
    ExplainOut,
    FoundOut,
    MeOut,
    OfficerChangeIn,
    OfficerCreatedOut,
    OfficerIn,
    OfficerOut,
    ProfileOut,
    ResultsOut,
    TokenIn,
    TokenOut,
)
from zhida.api.routes.officer_policies import as_of_date
from zhida.publishing.audit import audit, audit_entries
from zhida.publishing.lookup import explain_decision, find_profiles, profile_decisions
from zhida.publishing.officers import (
    MAY_APPROVE,
    MAY_SUBMIT,
    Role,
    add_officer,
    find_officer,
    list_officers,
    require_admin,
    rotate_token,
    set_active,
    set_password,
    set_role,
)
from zhida.publishing.results import policy_results
from zhida.publishing.review import iso, versions_of
from zhida.publishing.versions import find_version
from zhida.store.models import Officer

router = APIRouter(prefix="/api/officer", tags=["officer"])


def officer_out(o: Officer) -> OfficerOut:
    return OfficerOut(
        name=o.name,
        role=o.role,
        active=o.active,
        has_password=o.password_hash is not None,
        token_expires_at=iso(o.token_expires_at),
    )


@router.get("/me", response_model=MeOut)
def me(auth: CurrentAuth) -> MeOut:
    o = auth.officer
    return MeOut(
        name=o.name,
        role=o.role,
        may_submit=o.role in MAY_SUBMIT,
        may_approve=o.role in MAY_APPROVE,
        may_manage=o.role == Role.ADMIN,
        csrf_token=auth.csrf_token,
    )


@router.get("/policies/{policy_id}/results", response_model=ResultsOut)
def results(policy_id: str, officer: CurrentOfficer, session: SessionDep) -> ResultsOut:
    """Eligible, reached (知晓覆盖率), opened, applied (申报率), granted (兑现率)."""
    if not versions_of(session, policy_id):
        find_version(session, policy_id, 0)  # raises the 404
    return ResultsOut.model_validate(policy_results(session, policy_id))


@router.get("/profiles", response_model=list[FoundOut])
def lookup(
    officer: CurrentOfficer,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Id, USCC or a name")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[FoundOut]:
    """Profiles by exact id, exact USCC, else by a fuzzy name (best first)."""
    found = find_profiles(session, q, limit)
    audit(session, officer, "profile.search", q[:200], {"found": len(found)})
    session.commit()
    return [FoundOut.model_validate(vars(f)) for f in found]


@router.get("/profiles/{profile_id}", response_model=ProfileOut)
def profile(profile_id: str, officer: CurrentOfficer, session: SessionDep) -> ProfileOut:
    """The profile's data and its decision on every published policy of its audience."""
    out = ProfileOut.model_validate(profile_decisions(session, profile_id))
    audit(session, officer, "profile.view", profile_id, {})
    session.commit()
    return out


@router.get("/profiles/{profile_id}/explain/{policy_id}", response_model=ExplainOut)
def explain(
    profile_id: str,
    policy_id: str,
    officer: CurrentOfficer,
    session: SessionDep,
    as_of: Annotated[str | None, Query(description="YYYY-MM-DD, default today")] = None,
) -> ExplainOut:
    """The whole explanation of one decision, against the version in force."""
    out = ExplainOut.model_validate(
        explain_decision(session, profile_id, policy_id, as_of_date(as_of))
    )
    audit(session, officer, "profile.explain", profile_id, {"policy": policy_id})
    session.commit()
    return out


@router.get("/audit", response_model=list[AuditOut])
def audit_log(
    officer: CurrentOfficer,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    action: Annotated[str | None, Query(max_length=50)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
) -> list[AuditOut]:
    """Who did what, when: newest first; `before` pages back."""
    return [
        AuditOut(
            id=e.id,
            at=iso(e.at) or "",
            officer=name,
            action=e.action,
            subject=e.subject,
            detail=dict(e.detail or {}),
        )
        for e, name in audit_entries(
            session, limit=limit, before=before, action=action, subject=subject
        )
    ]


@router.get("/officers", response_model=list[OfficerOut])
def officers(officer: CurrentOfficer, session: SessionDep) -> list[OfficerOut]:
    """Every officer (admins only)."""
    require_admin(officer)
    return [officer_out(o) for o in list_officers(session)]


@router.post("/officers", status_code=201, response_model=OfficerCreatedOut)
def create_officer(body: OfficerIn, admin: AdminOfficer, session: SessionDep) -> OfficerCreatedOut:
    """A new officer; its bearer token is in the answer, once."""
    new, token = add_officer(
        session,
        body.name,
        body.role,
        password=body.password,
        token_days=body.token_days,
        actor=admin,
    )
    out = OfficerCreatedOut(**officer_out(new).model_dump(), token=token)
    session.commit()
    return out


@router.patch("/officers/{name}", response_model=OfficerOut)
def change_officer(
    name: str, body: OfficerChangeIn, admin: AdminOfficer, session: SessionDep
) -> OfficerOut:
    """Change an officer's role, password, or disable them (their sessions end)."""
    target = find_officer(session, name)
    if body.role is not None:
        set_role(session, target, body.role, admin)
    if body.password is not None:
        set_password(session, target, body.password, admin)
    if body.active is not None:
        set_active(session, target, body.active, admin)
    if body.active is False or body.password is not None:
        end_officer_sessions(session, target)
    out = officer_out(target)
    session.commit()
    return out


@router.post("/officers/{name}/token", response_model=TokenOut)
def new_token(name: str, body: TokenIn, admin: AdminOfficer, session: SessionDep) -> TokenOut:
    """A new bearer token for the officer; the old one stops working."""
    target = find_officer(session, name)
    token = rotate_token(session, target, body.days, admin)
    out = TokenOut(token=token, expires_at=iso(target.token_expires_at))
    session.commit()
    return out
