"""Routes: the application form behind `BASE/a/TOKEN`, and the profile's own submissions.

`GET /a/{token}` resolves the link (unknown or tampered: 404, expired: 410, both a
refusal page that names nothing), starts a session for the link's profile (when
another site opened it in a browser signed in as another profile, only after a
confirmation: `POST /a/{token}/switch`, login CSRF), and
shows the policy, the benefit, the deadline, why the profile qualifies and the
`apply.form` fields prefilled from the stored profile (zhida/api/forms.py: data
fields editable and checked, computed ones read-only). `POST /a/{token}` needs
that session and its CSRF token, re-checks eligibility as of today
(Asia/Shanghai), checks every field (errors in Chinese next to the field, the
form keeps what was typed) and stores the submission once per (profile, policy)
with a reference like `ZD-20261129-7F3K9Q`, the fields the applicant changed and
the trace. A policy that excludes one the profile already holds (applied for, granted
or confirmed; either side's `excludes:`) is refused, the form and the submission
alike, with a page naming the other (409 on submit).

Both always judge by the version of the policy in force now (the catalogue of
zhida/publishing), not the one the link was sent under: a link of a retired
version shows the current criteria and form under a "政策已更新" notice, or a
"政策已更新" page when the profile does not qualify under them; a submission is
stored under the current version. A form opened before a new version was
published is shown again, updated, instead of being stored; a policy with no
version in force, or whose current window has closed, refuses the link.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from zhida.api import csrf
from zhida.api.deps import NowDep, SessionDep, SettingsDep
from zhida.api.forms import FormField, check_form, form_fields
from zhida.api.security import (
    SECURITY_HEADERS,
    CsrfSession,
    CurrentProfile,
    WebSession,
    WrongProfile,
    end_session,
    new_session,
    page,
    read_session,
    session_for,
    set_session_cookie,
)
from zhida.channels.held import held_exclusion
from zhida.channels.links import LinkError, LinkExpired, LinkNotFound, resolve_token
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
from zhida.publishing.versions import published_version
from zhida.rules.policy import Policy
from zhida.settings import Settings
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
REASON_STATE = {True: "ok", False: "no", None: "unknown"}  # a criterion's CSS class
VERSION_FIELD = "form_version"  # the version a form was shown under


class PolicyWithdrawn(LinkError):
    """The link's policy has no version in force any more."""


def format_day(day: dt.date, today: dt.date) -> str:
    """6月30日 (this year) or 2027年6月30日."""
    text = f"{day.month}月{day.day}日"
    return text if day.year == today.year else f"{day.year}年{text}"


def new_reference(day: dt.date) -> str:
    tail = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))
    return f"ZD-{day:%Y%m%d}-{tail}"


@dataclass
class Case:
    """One link's profile against the version of its policy in force, on one day."""

    token: ApplicationToken
    version: PolicyVersion  # the version in force now
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

    @property
    def updated(self) -> bool:
        """The link was sent under an earlier version than the one in force."""
        return self.version.id != self.token.policy_version_id

    def fields(self, today: dt.date) -> list[FormField]:
        return form_fields(
            self.policy, self.schema, evaluate_form(self.policy, self.profile, today)
        )


def load_case(session: Session, token: ApplicationToken, today: dt.date) -> Case:
    """The link's profile against the version of its policy in force today (whatever
    version the link was sent under)."""
    version = published_version(session, token.policy_id)
    if version is None:
        raise PolicyWithdrawn(f"no version of {token.policy_id} is in force")
    found = get_profile(session, token.profile_id)
    if found is None:
        raise LinkNotFound("the link's profile is gone")
    catalogued = compiled(version)
    policy, schema = catalogued.policy, catalogued.schema
    kind, data = found
    if kind != policy.audience.value:
        raise LinkNotFound("profile kind does not match the policy")
    if not policy.window.is_open(today):
        raise LinkExpired("the window of the version in force is not open")
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
        "updated": case.updated,
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


def form_context(
    case: Case, context: dict[str, Any], fields: list[FormField], csrf_token: str, token: str
) -> dict[str, Any]:
    return {
        **context,
        "fields": fields,
        "csrf_token": csrf_token,
        "action": f"/a/{token}",
        "version_field": VERSION_FIELD,
        "version_id": case.version.id,
    }


@router.get("/a/{token}", response_class=HTMLResponse, include_in_schema=False)
def application_form(
    token: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep
) -> HTMLResponse:
    row = resolve_token(session, token, now)
    today = shanghai_date(now)
    case = load_case(session, row, today)
    current = read_session(session, request, settings, now)
    if current is not None and current.profile_id != row.profile_id and csrf.cross_site(request):
        return switch_page(request, settings, f"/a/{token}/switch")
    web, is_new = session_for(session, request, settings, row.profile_id, now)
    earlier = existing_submission(session, row.profile_id, row.policy_id)
    context = policy_context(case, today)
    if earlier is not None:
        response = page(
            request, "apply_done.html", {**context, **submission_context(earlier), "already": True}
        )
    elif (held := held_exclusion(session, row.profile_id, case.policy)) is not None:
        response = page(request, "apply_excluded.html", {**context, "held": held})
    elif case.result.outcome == INELIGIBLE:
        response = page(request, "apply_ineligible.html", context)
    else:
        response = page(
            request,
            "apply_form.html",
            form_context(case, context, case.fields(today), web.csrf_token, token),
        )
    record_feedback(
        session,
        row.profile_id,
        row.policy_id,
        FeedbackKind.OPENED,
        {"policy_version_id": row.policy_version_id, "current_version_id": case.version.id},
        once=True,
    )
    session.commit()
    if is_new:
        set_session_cookie(response, settings, web)
    return response


SWITCH_TEXT = (
    "您打开的申报链接属于另一个账号。当前浏览器已登录其他账号，"
    "确认后将退出当前账号，并以该链接的账号继续办理。"
)


def switch_page(
    request: Request, settings: Settings, action: str, text: str = SWITCH_TEXT
) -> HTMLResponse:
    """Another site opened a link of another profile than the signed-in one: ask before
    switching (login CSRF), with a double-submit token; the form posts to `action`."""
    form = csrf.form_token(request, settings)
    shown = page(
        request,
        "login_confirm.html",
        {
            "heading": "切换账号",
            "text": text,
            "button": "切换账号并继续",
            "csrf_token": form.value,
            "action": action,
        },
    )
    form.set_on(shown, settings)
    return shown


@router.post("/a/{token}/switch", include_in_schema=False)
async def application_switch(
    token: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    """The switch page's form: end the current session, start the link's, -> the form."""
    await csrf.verify_form(request, settings)
    return await run_in_threadpool(_switch, token, request, session, settings, now)


def _switch(
    token: str, request: Request, session: Session, settings: Settings, now: dt.datetime
) -> Response:
    row = resolve_token(session, token, now)
    response = RedirectResponse(f"/a/{token}", status_code=303)
    return switch_to(session, request, settings, row.profile_id, now, response)


def switch_to(
    session: Session,
    request: Request,
    settings: Settings,
    profile_id: str,
    now: dt.datetime,
    response: Response,
) -> Response:
    """The switch confirmed: end the current session, start `profile_id`'s, set its
    cookie on `response` (a redirect)."""
    response.headers.update(SECURITY_HEADERS)
    earlier = read_session(session, request, settings, now)
    if earlier is not None and earlier.profile_id == profile_id:
        return response  # switched already (a second click)
    if earlier is not None:
        end_session(session, earlier, now)
    web = new_session(session, settings, profile_id, now)
    session.commit()
    set_session_cookie(response, settings, web)
    return response


@dataclass
class Outcome:
    page: str
    context: dict[str, Any]
    status: int = 200


def submit_application(
    session: Session,
    web: WebSession,
    token: str,
    raw: dict[str, str],
    now: dt.datetime,
) -> Outcome:
    """Re-check and store one submission (the page to show, whatever happened)."""
    profile_id = web.profile_id
    row = resolve_token(session, token, now)
    if row.profile_id != profile_id:
        raise WrongProfile("the link belongs to another profile")
    policy_id = row.policy_id
    today = shanghai_date(now)
    case = load_case(session, row, today)
    version_id = case.version.id
    context = policy_context(case, today)
    earlier = existing_submission(session, profile_id, policy_id)
    if earlier is not None:
        return Outcome(
            "apply_done.html", {**context, **submission_context(earlier), "already": True}, 409
        )
    held = held_exclusion(session, profile_id, case.policy)
    if held is not None:  # the other of an excluding pair is held already
        return Outcome("apply_excluded.html", {**context, "held": held, "at_submit": True}, 409)
    if case.result.outcome != ELIGIBLE:
        return Outcome("apply_ineligible.html", {**context, "at_submit": True})
    fields = case.fields(today)
    if raw.get(VERSION_FIELD) != str(version_id):  # shown under another version
        shown = form_context(case, context, fields, web.csrf_token, token)
        return Outcome("apply_form.html", {**shown, "updated": True, "resubmit": True}, 409)
    checked = check_form(fields, raw)
    if checked.errors:
        shown = form_context(case, context, checked.fields, web.csrf_token, token)
        return Outcome("apply_form.html", {**shown, "errors": checked.errors}, 422)
    trace = case.trace()
    for _ in range(5):
        sub = Submission(
            reference=new_reference(today),
            profile_id=profile_id,
            policy_id=policy_id,
            policy_version_id=version_id,
            values=checked.values,
            changes=checked.changes,
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
            {
                "policy_version_id": version_id,
                "link_version_id": row.policy_version_id,
                "reference": sub.reference,
                "changed": sorted(checked.changes),
            },
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
    outcome = await run_in_threadpool(submit_application, session, web, token, raw, now)
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
                "changed": sorted(s.changes or {}),
                "outcome": s.outcome,
                "submitted_at": submission_context(s)["submitted_at"],
            }
            for s in subs
        ]
    }
