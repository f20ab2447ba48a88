"""The officer console's pages under `/officer` (Chinese), and signing in and out.

Each page is rendered from what the JSON API's route function returns for the same
thing (called here as a function, so the checks and the audit entries are the same);
the editor, the review's preview and actions, and a run's progress are drawn by the
page's scripts from `/api/officer/`. A page without a signed-in officer redirects to
`/officer/login` (zhida/api/errors.py). Sign-in is a form with a login CSRF token
(double submit); every other form carries the session's CSRF token.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from zhida.api import csrf, sessions
from zhida.api.deps import SessionDep, SettingsDep
from zhida.api.officer_sessions import OFFICER, OfficerSession, read_officer_session, sign_in
from zhida.api.officer_sessions import sign_out as end_session
from zhida.api.routes import officer_admin, officer_disputes, officer_policies, officer_runs
from zhida.api.routes.officer_labels import LABELS, money, pct, spent_hours
from zhida.api.routes.officer_models import DisputeResolveIn
from zhida.api.security import SECURITY_HEADERS, page
from zhida.channels.selfservice import DisputeNotOpen, SelfServiceError
from zhida.clock import SHANGHAI
from zhida.publishing.errors import OfficerUnauthenticated, SignInThrottled
from zhida.publishing.officers import MAY_APPROVE
from zhida.publishing.review import versions_of
from zhida.publishing.versions import find_version
from zhida.store.models import Officer

router = APIRouter(include_in_schema=False)

NEW_POLICY = """id: new-policy
title: 新政策名称
department: 发文部门
audience: enterprise
window: {opens: 2026-01-01, closes: 2026-12-31}
benefit:
  amount: 10万
  summary: 一次性奖励
criteria:
  - {id: revenue, label: 上年度营业收入不低于1亿元, when: revenue >= 1亿}
tests:
  - name: 合格
    as_of: 2026-04-01
    profile: {revenue: 2亿}
    expect: eligible
"""


def signed_in(request: Request, session: SessionDep, settings: SettingsDep) -> OfficerSession:
    found = read_officer_session(request, session, settings)
    if found is None:
        raise OfficerUnauthenticated("sign in to the console")
    return found


PageOfficer = Annotated[OfficerSession, Depends(signed_in)]


def render(
    request: Request,
    name: str,
    who: OfficerSession | None,
    context: dict[str, Any],
    style_nonce: bool = False,
) -> HTMLResponse:
    """A console page. `style_nonce`: the page's code editor inserts its own <style>
    element, allowed by a nonce drawn for this response alone (scripts stay 'self')."""
    nonce = secrets.token_urlsafe(16) if style_nonce else None
    response = page(
        request,
        f"officer/{name}",
        {
            **LABELS,
            "officer": who.officer if who else None,
            "csrf_token": who.csrf_token if who else None,
            "style_nonce": nonce,
            "money": money,
            "pct": pct,
            "hours": spent_hours,
            **context,
        },
    )
    if nonce is not None:
        policy = response.headers["Content-Security-Policy"]
        response.headers["Content-Security-Policy"] = policy.replace(
            "style-src 'self'", f"style-src 'self' 'nonce-{nonce}'"
        )
    return response


def safe_next(target: str | None) -> str:
    """Only a path of the console (never another site) after signing in."""
    if target and target.startswith("/officer") and not target.startswith("//"):
        return target
    return "/officer"


# --- signing in and out -------------------------------------------------------------------


@router.get("/officer/login")
def login_page(
    request: Request, session: SessionDep, settings: SettingsDep, next: str | None = None
) -> Response:
    if read_officer_session(request, session, settings) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return login_form(request, settings, next, "", None, 200)


def login_form(
    request: Request,
    settings: SettingsDep,
    next_path: str | None,
    name: str,
    error: str | None,
    status: int,
) -> Response:
    token = csrf.form_token(request, settings)
    response = render(
        request,
        "login.html",
        None,
        {"form_csrf": token.value, "next": safe_next(next_path), "name": name, "error": error},
    )
    response.status_code = status
    token.set_on(response, settings)
    return response


@router.post("/officer/login")
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    name: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/officer",
) -> Response:
    await csrf.verify_form(request, settings)
    previous = sessions.read(session, settings, request, OFFICER, dt.datetime.now(dt.UTC))
    if previous is not None:  # never carry a session across a sign-in
        sessions.revoke(session, previous, dt.datetime.now(dt.UTC))
    try:
        current = sign_in(session, settings, name, password)
    except SignInThrottled:
        return login_form(request, settings, next, name, "登录失败次数过多，请15分钟后再试。", 429)
    except OfficerUnauthenticated:
        return login_form(request, settings, next, name, "账号或密码不正确。", 401)
    session.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    sessions.set_cookie(response, settings, OFFICER, current.active)
    response.headers.update(SECURITY_HEADERS)
    return response


@router.post("/officer/logout")
async def logout(request: Request, who: PageOfficer, session: SessionDep) -> Response:
    await csrf.verify(request, who.csrf_token)
    end_session(session, who)
    session.commit()
    response = RedirectResponse("/officer/login", status_code=303)
    sessions.clear_cookie(response, OFFICER)
    response.headers.update(SECURITY_HEADERS)
    return response


# --- pages --------------------------------------------------------------------------------


@router.get("/officer")
def policies_page(request: Request, who: PageOfficer, session: SessionDep) -> HTMLResponse:
    rows = officer_policies.policies(who.officer, session)
    return render(
        request,
        "policies.html",
        who,
        {"rows": [r.model_dump() for r in rows], "section": "policies"},
    )


@router.get("/officer/editor")
def editor_page(
    request: Request, who: PageOfficer, session: SessionDep, policy: str | None = None
) -> HTMLResponse:
    base = versions_of(session, policy)[-1] if policy and versions_of(session, policy) else None
    context = {
        "base": base,
        "yaml": base.yaml_text if base else NEW_POLICY,
        "section": "editor",
    }
    return render(request, "editor.html", who, context, style_nonce=True)


@router.get("/officer/review/{policy_id}/{version}")
def review_page(
    request: Request,
    policy_id: str,
    version: int,
    who: PageOfficer,
    session: SessionDep,
    settings: SettingsDep,
) -> HTMLResponse:
    detail = officer_policies.version_detail(policy_id, version, who.officer, session)
    diff = officer_policies.version_diff(policy_id, version, who.officer, session)
    row = find_version(session, policy_id, version)
    officer: Officer = who.officer
    context = {
        "version": detail.model_dump(),
        "diff": diff.model_dump(),
        "versions": [
            v.model_dump() for v in officer_policies.versions(policy_id, officer, session)
        ],
        "may_approve": officer.role in MAY_APPROVE,
        "own": row.author_id == officer.id and not settings.allow_self_approval,
        "section": "policies",
    }
    return render(request, "review.html", who, context)


@router.get("/officer/runs")
def runs_page(request: Request, who: PageOfficer, session: SessionDep) -> HTMLResponse:
    runs = officer_runs.runs(who.officer, session, 50)
    return render(
        request, "runs.html", who, {"runs": [r.model_dump() for r in runs], "section": "runs"}
    )


@router.get("/officer/runs/{run_id}")
def run_page(request: Request, run_id: int, who: PageOfficer, session: SessionDep) -> HTMLResponse:
    run = officer_runs.run(run_id, who.officer, session)
    return render(request, "run.html", who, {"run": run.model_dump(), "section": "runs"})


@router.get("/officer/lookup")
def lookup_page(
    request: Request,
    who: PageOfficer,
    session: SessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    found = officer_admin.lookup(who.officer, session, q.strip(), 20) if q.strip() else []
    context = {"q": q, "found": [f.model_dump() for f in found], "section": "lookup"}
    return render(request, "lookup.html", who, context)


@router.get("/officer/profiles/{profile_id}")
def profile_page(
    request: Request,
    profile_id: str,
    who: PageOfficer,
    session: SessionDep,
    policy: str | None = None,
) -> HTMLResponse:
    from zhida.profiles.schema import builtin_schema

    profile = officer_admin.profile(profile_id, who.officer, session)
    explained = (
        officer_admin.explain(profile_id, policy, who.officer, session).model_dump()
        if policy
        else None
    )
    labels = {n: f.label for n, f in builtin_schema(profile.kind).fields.items()}
    context = {
        "profile": profile.model_dump(),
        "explained": explained,
        "labels": labels,
        "section": "lookup",
    }
    return render(request, "profile.html", who, context)


@router.get("/officer/results/{policy_id}")
def results_page(
    request: Request, policy_id: str, who: PageOfficer, session: SessionDep
) -> HTMLResponse:
    results = officer_admin.results(policy_id, who.officer, session)
    title = versions_of(session, policy_id)[-1].title
    context = {"results": results.model_dump(), "title": title, "section": "policies"}
    return render(request, "results.html", who, context)


@router.get("/officer/audit")
def audit_page(
    request: Request,
    who: PageOfficer,
    session: SessionDep,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    action: Annotated[str | None, Query(max_length=50)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    limit = 100
    entries = officer_admin.audit_log(who.officer, session, limit, before, action, subject)
    rows = []
    for e in entries:
        at = dt.datetime.fromisoformat(e.at).astimezone(SHANGHAI)
        rows.append(
            {
                **e.model_dump(),
                "at_text": at.strftime("%Y-%m-%d %H:%M:%S"),
                "detail_text": json.dumps(e.detail, ensure_ascii=False)[:300] if e.detail else "",
            }
        )
    context = {
        "entries": rows,
        "more": rows[-1]["id"] if len(rows) == limit else None,
        "action": action,
        "subject": subject,
        "section": "audit",
    }
    return render(request, "audit.html", who, context)


@router.get("/officer/disputes")
def disputes_page(
    request: Request,
    who: PageOfficer,
    session: SessionDep,
    status: Annotated[officer_disputes.Status | None, Query()] = None,
) -> HTMLResponse:
    return _disputes(request, who, session, status)


def _disputes(
    request: Request,
    who: OfficerSession,
    session: SessionDep,
    status: officer_disputes.Status | None,
    form_error: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The queue; `form_error` (a refused resolution: the dispute, the message and what
    was typed) shows the form again with the message."""
    rows = officer_disputes.disputes(who.officer, session, status, 200)
    context = {
        "disputes": [r.model_dump() for r in rows],
        "status": status,
        "may_resolve": who.officer.role in MAY_APPROVE,
        "section": "disputes",
        "form_error": form_error,
    }
    return render(request, "disputes.html", who, context)


@router.post("/officer/disputes/{dispute_id}/resolve")
async def resolve_dispute_form(
    request: Request,
    dispute_id: int,
    who: PageOfficer,
    session: SessionDep,
    settings: SettingsDep,
    action: Annotated[str, Form(max_length=16)] = "",
    corrected: Annotated[str, Form(max_length=200)] = "",
    comment: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The page's form: correct with the value typed, or reject with the comment. A
    refusal (no value, no comment, a value that does not fit the field, a dispute
    resolved meanwhile) shows the queue again with the message and what was typed."""
    await csrf.verify(request, who.csrf_token)
    value = corrected.strip() if action == "correct" else None
    problem: str | None = None
    if action == "correct" and not value:
        problem = DISPUTE_FORM_PROBLEMS["no_value"]
    elif action != "correct" and not comment.strip():
        problem = DISPUTE_FORM_PROBLEMS["no_comment"]
    else:
        body = DisputeResolveIn(corrected=value, comment=comment)
        try:
            officer_disputes.resolve(dispute_id, body, who.officer, session, settings)
        except SelfServiceError as err:
            session.rollback()
            problem = (
                DISPUTE_FORM_PROBLEMS["not_open"]
                if isinstance(err, DisputeNotOpen)
                else DISPUTE_FORM_PROBLEMS["bad_value"].format(value=value)
            )
    if problem is not None:
        typed = {"id": dispute_id, "text": problem, "corrected": corrected, "comment": comment}
        shown = _disputes(request, who, session, None, typed)
        shown.status_code = 409 if problem == DISPUTE_FORM_PROBLEMS["not_open"] else 422
        return shown
    response = RedirectResponse("/officer/disputes", status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


DISPUTE_FORM_PROBLEMS = {
    "no_value": "请填写更正后的值，再点击“更正并重新匹配”。",
    "no_comment": "驳回异议须填写说明，请在“说明”中写明理由后再驳回。",
    "bad_value": "更正后的值“{value}”不符合该字段的格式，请检查后重新填写。",
    "not_open": "该数据异议已由其他人员处理，无需再次处理。",
}
