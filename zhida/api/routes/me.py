"""Routes: `/me` (the 法人专区 / 个人专区 page) and `GET /api/me/policies`.

Everything is for the session's profile only; no route takes a profile id. The page
and the JSON come from the same service, `zhida.channels.portal.my_policies`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from zhida.api.deps import NowDep, SessionDep, SettingsDep
from zhida.api.security import CsrfSession, CurrentProfile, CurrentSession, page
from zhida.channels.followup import ANSWERS, answer
from zhida.channels.grants import DECISIONS, GrantRefused, decide
from zhida.channels.portal import MyPolicy, deadline_text, my_policies, total_amount
from zhida.channels.selfservice import declare, open_dispute
from zhida.clock import today
from zhida.matcher.explain import format_amount, format_value
from zhida.profiles.schema import Audience, SchemaSet
from zhida.settings import Settings
from zhida.worker import plan_and_queue

router = APIRouter()

OUTCOME_TAG = {"eligible": "符合条件", "unknown": "可能符合，需补充信息", "ineligible": "差一步"}


@router.get("/api/me/policies")
def api_my_policies(
    profile: CurrentProfile, session: SessionDep, now: NowDep, settings: SettingsDep
) -> list[dict[str, Any]]:
    """Every eligible and unknown policy of the signed-in profile by rank, then its near
    misses (rank null)."""
    mine = my_policies(session, profile, today(), _ask_before(now, settings))
    return [p.as_json() for p in mine.policies]


def _ask_before(now: dt.datetime, settings: Settings) -> dt.datetime:
    return now - dt.timedelta(days=settings.followup_days)


def _view(item: MyPolicy) -> dict[str, Any]:
    return {
        **item.as_json(),
        "tag": OUTCOME_TAG[item.outcome],
        "amount_text": format_amount(item.benefit) if item.benefit else None,
        "summary": item.summary,
        "department": item.department,
        "deadline_text": deadline_text(item.deadline),
        "missing_labels": [m.label for m in item.missing],
        "in_window": item.near_miss_in_window,
        "values": [
            {"name": v.name, "label": v.label, "text": format_value(v.value, v.unit)}
            for v in item.values
        ],
    }


def _label(kind: str, name: str) -> str:
    field = SchemaSet.builtin()[Audience(kind)].get(name)
    return field.label if field is not None else name


@router.get("/me", response_class=HTMLResponse, include_in_schema=False)
def me_page(
    request: Request, web: CurrentSession, session: SessionDep, now: NowDep, settings: SettingsDep
) -> HTMLResponse:
    mine = my_policies(session, web.profile_id, today(), _ask_before(now, settings))
    listed = [_view(p) for p in mine.policies if p.outcome != "ineligible"]
    near = [_view(p) for p in mine.policies if p.outcome == "ineligible"]
    total = total_amount(mine)
    return page(
        request,
        "me.html",
        {
            "name": mine.name or "",
            "kind": mine.kind,
            "listed": listed,
            "near": near,
            "total_text": format_amount(total) if total else None,
            "questions": [
                {
                    "name": q.name,
                    "label": q.label,
                    "amount_text": format_amount(q.amount) if q.amount else None,
                }
                for q in mine.questions
            ],
            "declared": [_label(mine.kind, f) for f in sorted(mine.declared)],
            "disputed": request.query_params.get("disputed") == "1",
            "csrf_token": web.csrf_token,
            "answers": [(code, label) for code, (label, _, _) in ANSWERS.items()],
        },
    )


def _decide(session: SessionDep, profile_id: str, policy_id: str, decision: str, now: Any) -> Any:
    if decision not in DECISIONS:
        raise GrantRefused(f"unknown decision '{decision}'")
    grant = decide(session, profile_id, policy_id, DECISIONS[decision], now)
    session.commit()
    return grant


@router.post("/api/me/grants/{policy_id}")
def api_decide_grant(
    policy_id: str, body: dict[str, str], web: CsrfSession, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    """免申即享: {"decision": "confirm"|"decline"}; the stored decision (the first one)."""
    grant = _decide(session, web.profile_id, policy_id, body.get("decision", ""), now)
    return {"policy": policy_id, "decision": grant.decision, "benefit": grant.benefit}


@router.post("/me/grants/{policy_id}", include_in_schema=False)
def decide_grant(
    policy_id: str,
    web: CsrfSession,
    session: SessionDep,
    now: NowDep,
    decision: str = Form(""),
) -> RedirectResponse:
    """The page's one-tap form: decide, then back to /me."""
    _decide(session, web.profile_id, policy_id, decision, now)
    return RedirectResponse(f"/me#p-{policy_id}", status_code=303)


@router.post("/api/me/followup/{policy_id}")
def api_answer_followup(
    policy_id: str, body: dict[str, str], web: CsrfSession, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    """The follow-up question: {"answer": applied|not_interested|not_eligible|too_hard|
    already_enjoyed}; the stored answer (the first one)."""
    stored = answer(session, web.profile_id, policy_id, body.get("answer", ""), now)
    session.commit()
    return {"policy": policy_id, "answer": stored}


@router.post("/me/followup/{policy_id}", include_in_schema=False)
def answer_followup(
    policy_id: str, web: CsrfSession, session: SessionDep, now: NowDep, code: str = Form("")
) -> RedirectResponse:
    """The page's one tap on the follow-up question, then back to /me."""
    answer(session, web.profile_id, policy_id, code, now)
    session.commit()
    return RedirectResponse(f"/me#p-{policy_id}", status_code=303)


@router.post("/me/declare", include_in_schema=False)
def declare_value(
    web: CsrfSession,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
    field: str = Form(""),
    value: str = Form(""),
) -> RedirectResponse:
    """A missing value the profile supplies itself: applied and re-evaluated at once
    (the real-time path), marked self-declared; the newly eligible are then planned
    as after any live event (`zhida events post`)."""
    made = declare(session, web.profile_id, field, value, now, today())
    session.commit()
    if made:
        plan_and_queue(now, settings)
    return RedirectResponse("/me", status_code=303)


@router.post("/me/disputes", include_in_schema=False)
def dispute_value(
    web: CsrfSession,
    session: SessionDep,
    now: NowDep,
    field: str = Form(""),
    comment: str = Form(""),
    policy: str = Form(""),
) -> RedirectResponse:
    """「数据有误」: stored for an officer (zhida.channels.selfservice.resolve_dispute)."""
    open_dispute(session, web.profile_id, field, comment, now, policy or None)
    session.commit()
    return RedirectResponse("/me?disputed=1", status_code=303)
