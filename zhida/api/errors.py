"""Domain errors -> HTTP, in one place.

Every user-facing error is a `ZhidaError`. The table below gives its status and
the Chinese title and text shown to people; pages get a plain refusal page, `/api/`
and `/webhooks/` callers get JSON `{"error": CODE, "message": TEXT}`. The texts
reveal nothing about whose link or message it was. An error type not in the table
is a 400 with its own message.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from zhida.api.routes.applications import PolicyWithdrawn
from zhida.api.security import (
    CsrfRejected,
    LoginLinkInvalid,
    NotAuthenticated,
    WrongProfile,
    page,
)
from zhida.channels.followup import FollowupRefused
from zhida.channels.grants import GrantExcluded, GrantRefused
from zhida.channels.inbox import MessageNotFound
from zhida.channels.links import LinkExpired, LinkNotFound
from zhida.channels.portal import ProfileNotFound
from zhida.channels.selfservice import CorrectionInvalid, DisputeNotOpen, SelfServiceError
from zhida.errors import PolicyError, ZhidaError
from zhida.publishing.errors import (
    OfficerForbidden,
    OfficerUnauthenticated,
    PublishError,
    SignInThrottled,
    VersionConflict,
    VersionNotFound,
)
from zhida.runs.reevaluate import RunError


@dataclass(frozen=True)
class ErrorView:
    status: int
    code: str
    title: str
    text: str
    detail: bool = False  # JSON also carries the error's own message (officer-facing)


ERRORS: dict[type[ZhidaError], ErrorView] = {
    LinkNotFound: ErrorView(
        404,
        "link_not_found",
        "链接无效",
        "该申报链接无法识别，可能已失效或不完整。请在“浙里办”消息中心查看最新消息，"
        "或登录“浙里办”后办理。",
    ),
    LinkExpired: ErrorView(
        410,
        "link_expired",
        "链接已过期",
        "该申报链接已超过有效期（申报截止，或发出已满30天）。如仍需办理，"
        "请登录“浙里办”查看最新政策。",
    ),
    NotAuthenticated: ErrorView(
        401,
        "not_signed_in",
        "请先登录",
        "请通过“浙里办”登录，或打开短信、消息中的申报链接后再访问本页面。",
    ),
    LoginLinkInvalid: ErrorView(
        403,
        "login_link_invalid",
        "登录链接无效",
        "登录链接无效、已使用或已过期，请重新通过“浙里办”登录。",
    ),
    CsrfRejected: ErrorView(
        403,
        "csrf_rejected",
        "页面已过期",
        "为保护您的信息，本次提交未被受理。请刷新页面后重新提交。",
    ),
    WrongProfile: ErrorView(
        403,
        "forbidden",
        "无权办理",
        "当前登录的账号无权办理此事项。请从发给您的消息中重新打开申报链接。",
    ),
    PolicyWithdrawn: ErrorView(
        410,
        "policy_withdrawn",
        "政策已更新",
        "该申报链接对应的政策已调整或停止受理，链接不再有效。请登录“浙里办”查看最新政策。",
    ),
    MessageNotFound: ErrorView(404, "not_found", "消息不存在", "未找到这条消息。"),
    # the officer console and its API: the message says what was refused and why
    OfficerUnauthenticated: ErrorView(
        401, "officer_unauthenticated", "请先登录", "请使用工作人员账号登录。", True
    ),
    OfficerForbidden: ErrorView(403, "forbidden", "无权操作", "当前账号无权进行此操作。", True),
    VersionNotFound: ErrorView(404, "not_found", "未找到", "未找到所请求的对象。", True),
    VersionConflict: ErrorView(409, "conflict", "状态不符", "该版本当前的状态不允许此操作。", True),
    SignInThrottled: ErrorView(
        429, "too_many", "请稍后再试", "登录失败次数过多，请稍后再试。", True
    ),
    RunError: ErrorView(404, "not_found", "未找到", "未找到该评估任务。", True),
    PolicyError: ErrorView(422, "policy_invalid", "政策未通过检查", "政策文本未通过检查。", True),
    PublishError: ErrorView(400, "refused", "操作未执行", "操作未执行。", True),
    GrantExcluded: ErrorView(
        409,
        "grant_excluded",
        "无法确认",
        "您已申报或领取了与该政策不可同时享受的政策，本次确认未提交。",
    ),
    GrantRefused: ErrorView(
        409, "grant_refused", "无法确认", "该政策目前无法一键确认领取，请刷新页面后查看最新情况。"
    ),
    FollowupRefused: ErrorView(
        409, "followup_refused", "无法提交", "该政策暂无需要您回答的问题，请刷新页面后查看。"
    ),
    CorrectionInvalid: ErrorView(
        422, "invalid_value", "更正值有误", "更正后的值不符合该字段的要求。", True
    ),
    SelfServiceError: ErrorView(
        422, "invalid_value", "填写有误", "您填写的内容格式不正确，请返回修改后重新提交。"
    ),
    DisputeNotOpen: ErrorView(
        409, "conflict", "状态不符", "该数据异议已处理或不存在，无需再次处理。", True
    ),
    ProfileNotFound: ErrorView(404, "not_found", "未找到您的信息", "未找到您的企业或个人信息。"),
}
FALLBACK = ErrorView(400, "bad_request", "请求无法处理", "请求无法处理，请稍后重试。")


def view_of(err: ZhidaError) -> ErrorView:
    for cls in type(err).__mro__:
        if cls in ERRORS:
            return ERRORS[cls]
    return FALLBACK


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/webhooks/"))


async def handle_domain_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, ZhidaError)
    view = view_of(err)
    if isinstance(err, OfficerUnauthenticated) and request.url.path.startswith("/officer"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(
            f"/officer/login?next={quote(target, safe='')}",
            status_code=303,
            headers={"Cache-Control": "no-store"},
        )
    if wants_json(request):
        message = view.text if view is not FALLBACK else str(err)
        body = {"error": view.code, "message": message}
        if view.detail:
            body["detail"] = str(err).removeprefix(ZhidaError.prefix)
        headers = {"Cache-Control": "no-store"}
        if view.status == 401 and view.detail:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(body, status_code=view.status, headers=headers)
    return page(
        request,
        "error.html",
        {"title": view.title, "text": view.text, "status": view.status},
        status_code=view.status,
    )


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ZhidaError, handle_domain_error)
