"""Routes: the application form behind `BASE/a/TOKEN`, and the profile's own submissions.

`GET /a/{token}` resolves the link (unknown or tampered: 404, expired: 410, both a
refusal page that names nothing), starts a session for the link's profile, and
shows the policy, the benefit, the deadline, why the profile qualifies and the
`apply.form` fields prefilled from the stored profile (editable). `POST /a/{token}`
needs that session and its CSRF token, re-checks eligibility as of today
(Asia/Shanghai) with the policy version bound to the link, and stores the
submission once per (profile, policy) with a reference like `ZD-20261129-7F3K9Q`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from zhida.api.deps import NowDep, SessionDep, SettingsDep
from zhida.api.security import (
    CsrfSession,
    CurrentProfile,
    WrongProfile,
    page,
    session_for,
    set_session_cookie,
)
from zhida.channels.links import LinkNotFound, resolve_token
from zhida.clock import SHANGHAI, shanghai_date, utcnow
from zhida.matcher.explain import criterion_text, explain_text, format_amount, mark_of, missing_text
from zhida.matcher.explanation import build_explanation
from zhida.matcher.reference import (
    ELIGIBLE,
    INELIGIBLE,
    PolicyResult,
    evaluate_define_values,
    evaluate_form,
    evaluate_policy,
)
from zhida.profiles.schema import ProfileSchema
from zhida.publishing.catalogue import compiled
from zhida.rules.policy import Policy
from zhida.store.models import (
    ApplicationToken,
    FeedbackEvent,
    FeedbackKind,
    PolicyVersion,
    Submission,
)
from zhida.store.profiles import frame_from_json, get_profile

router = APIRouter()
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
MAX_VALUE_CHARS = 500
REASON_STATE = {True: "ok", False: "no", None: "unknown"}  # a criterion's CSS class


def format_day(day: dt.date, today: dt.date) -> str:
    """6月30日 (this year) or 2027年6月30日."""
    text = f"{day.month}月{day.day}日"
    return text if day.year == today.year else f"{day.year}年{text}"


def form_text(value: Any) -> str:
    """A prefilled value as the text of an input."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    return str(value)


def new_reference(day: dt.date) -> str:
    tail = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))
    return f"ZD-{day:%Y%m%d}-{tail}"


@dataclass
class Case:
    """One link's profile against the policy version bound to the link, on one day."""

    token: ApplicationToken
    version: PolicyVersion
    policy: Policy
    schema: ProfileSchema
    profile: dict[str, Any]
    result: PolicyResult
    defines: dict[str, Any]

    def reasons(self) -> list[dict[str, Any]]:
        """The criteria of the explanation, from its structure: depth, state (the CSS
        class), mark (✓ ✗ ?) and the rendered text of each, then the missing data (no
        mark) if any."""
        explanation = build_explanation(self.result, self.schema)
        out: list[dict[str, Any]] = [
            {
                "depth": depth + 1,
                "state": REASON_STATE[line.holds],
                "mark": mark_of(line),
                "text": criterion_text(line),
            }
            for depth, line in explanation.lines()
        ]
        missing = missing_text(explanation)
        if missing:
            out.append({"depth": 0, "state": "", "mark": "", "text": missing})
        return out

    def trace(self) -> str:
        return explain_text(self.result, self.schema, self.token.profile_id, self.defines)


def load_case(session: Session, token: ApplicationToken, today: dt.date) -> Case:
    version = session.get(PolicyVersion, token.policy_version_id)
    found = get_profile(session, token.profile_id)
    if version is None or found is None or version.policy_id != token.policy_id:
        raise LinkNotFound("the link's policy version or profile is gone")
    catalogued = compiled(version)
    policy, schema = catalogued.policy, catalogued.schema
    kind, data = found
    if kind != policy.audience.value:
        raise LinkNotFound("profile kind does not match the policy")
    profile = frame_from_json([data], schema).to_dicts()[0]
    profile["id"] = token.profile_id
    return Case(
        token,
        version,
        policy,
        schema,
        profile,
        evaluate_policy(policy, profile, today),
        evaluate_define_values(policy, profile, today),
    )


def existing_submission(session: Session, profile_id: str, policy_id: str) -> Submission | None:
    return session.scalar(
        select(Submission).where(
            Submission.profile_id == profile_id, Submission.policy_id == policy_id
        )
    )


def record_feedback(
    session: Session,
    profile_id: str,
    policy_id: str,
    kind: FeedbackKind,
    detail: dict[str, Any],
    once: bool = False,
) -> None:
    if (
        once
        and session.scalar(
            select(FeedbackEvent.id)
            .where(
                FeedbackEvent.profile_id == profile_id,
                FeedbackEvent.policy_id == policy_id,
                FeedbackEvent.kind == kind,
            )
            .limit(1)
        )
        is not None
    ):
        return
    session.add(
        FeedbackEvent(
            profile_id=profile_id, policy_id=policy_id, kind=kind, detail=detail, at=utcnow()
        )
    )


def policy_context(case: Case, today: dt.date) -> dict[str, Any]:
    policy = case.policy
    benefit = format_amount(case.result.benefit) if case.result.benefit is not None else None
    closes = policy.window.closes
    return {
        "title": policy.title,
        "department": policy.department or "",
        "benefit": benefit,
        "benefit_summary": policy.benefit_summary or "",
        "deadline": format_day(closes, today) if closes else None,
        "outcome": case.result.outcome,
        "reasons": case.reasons(),
    }


def submission_context(sub: Submission) -> dict[str, Any]:
    created = (
        sub.created_at.replace(tzinfo=dt.UTC) if sub.created_at.tzinfo is None else sub.created_at
    )
    return {
        "reference": sub.reference,
        "submitted_at": created.astimezone(SHANGHAI).strftime("%Y年%m月%d日 %H:%M"),
    }


# --- the form -----------------------------------------------------------------------------


@router.get("/a/{token}", response_class=HTMLResponse, include_in_schema=False)
def application_form(
    token: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep
) -> HTMLResponse:
    row = resolve_token(session, token, now)
    today = shanghai_date(now)
    case = load_case(session, row, today)
    web, is_new = session_for(session, request, settings, row.profile_id, now)
    earlier = existing_submission(session, row.profile_id, row.policy_id)
    context = policy_context(case, today)
    if earlier is not None:
        response = page(
            request, "apply_done.html", {**context, **submission_context(earlier), "already": True}
        )
    elif case.result.outcome == INELIGIBLE:
        response = page(request, "apply_ineligible.html", context)
    else:
        form = evaluate_form(case.policy, case.profile, today)
        fields = [
            {"name": f"f{i}", "label": label, "value": form_text(value)}
            for i, (label, value) in enumerate(form.items())
        ]
        response = page(
            request,
            "apply_form.html",
            {**context, "fields": fields, "csrf_token": web.csrf_token, "action": f"/a/{token}"},
        )
    record_feedback(
        session,
        row.profile_id,
        row.policy_id,
        FeedbackKind.OPENED,
        {"policy_version_id": row.policy_version_id},
        once=True,
    )
    session.commit()
    if is_new:
        set_session_cookie(response, settings, web)
    return response


@dataclass
class Outcome:
    page: str
    context: dict[str, Any]
    status: int = 200


def submit_application(
    session: Session, profile_id: str, token: str, raw: dict[str, str], now: dt.datetime
) -> Outcome:
    """Re-check and store one submission (the page to show, whatever happened)."""
    row = resolve_token(session, token, now)
    if row.profile_id != profile_id:
        raise WrongProfile("the link belongs to another profile")
    policy_id, version_id = row.policy_id, row.policy_version_id
    today = shanghai_date(now)
    case = load_case(session, row, today)
    context = policy_context(case, today)
    earlier = existing_submission(session, profile_id, policy_id)
    if earlier is not None:
        return Outcome(
            "apply_done.html", {**context, **submission_context(earlier), "already": True}, 409
        )
    if case.result.outcome != ELIGIBLE:
        return Outcome("apply_ineligible.html", {**context, "at_submit": True})
    values = {
        label: raw.get(f"f{i}", "").strip()[:MAX_VALUE_CHARS]
        for i, label in enumerate(case.policy.form)
    }
    trace = case.trace()
    for _ in range(5):
        sub = Submission(
            reference=new_reference(today),
            profile_id=profile_id,
            policy_id=policy_id,
            policy_version_id=version_id,
            values=values,
            outcome=ELIGIBLE,
            trace=trace,
            created_at=utcnow(),
        )
        session.add(sub)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            earlier = existing_submission(session, profile_id, policy_id)
            if earlier is not None:  # a concurrent submission won
                return Outcome(
                    "apply_done.html",
                    {**context, **submission_context(earlier), "already": True},
                    409,
                )
            continue  # a reference collision: draw another
        record_feedback(
            session,
            profile_id,
            policy_id,
            FeedbackKind.APPLIED,
            {"policy_version_id": version_id, "reference": sub.reference},
        )
        session.commit()
        return Outcome("apply_done.html", {**context, **submission_context(sub), "already": False})
    raise RuntimeError("could not draw a free submission reference")


@router.post("/a/{token}", response_class=HTMLResponse, include_in_schema=False)
async def application_submit(
    token: str, request: Request, web: CsrfSession, session: SessionDep, now: NowDep
) -> HTMLResponse:
    form = await request.form()
    raw = {k: v for k, v in form.items() if isinstance(v, str)}
    outcome = await run_in_threadpool(submit_application, session, web.profile_id, token, raw, now)
    return page(request, outcome.page, outcome.context, status_code=outcome.status)


# --- the profile's own submissions (JSON) -------------------------------------------------


@router.get("/api/applications")
def api_applications(profile: CurrentProfile, session: SessionDep) -> dict[str, Any]:
    subs = session.scalars(
        select(Submission).where(Submission.profile_id == profile).order_by(Submission.id.desc())
    )
    return {
        "applications": [
            {
                "reference": s.reference,
                "policy_id": s.policy_id,
                "policy_version_id": s.policy_version_id,
                "values": s.values,
                "outcome": s.outcome,
                "submitted_at": submission_context(s)["submitted_at"],
            }
            for s in subs
        ]
    }
