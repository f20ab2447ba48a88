"""Twilio webhooks: delivery receipts and inbound SMS.

Both verify `X-Twilio-Signature` with the SDK's `RequestValidator(auth_token)` over
`{settings.base_url}{path}` (plus the query string, if any, as Twilio signs it) and
the form parameters. A request that does not verify gets 403 and changes nothing. A
body over MAX_BODY bytes (Twilio's are well under 2 KB; an inbound SMS of 1,600
characters is under 15 KB encoded) gets 413 before anything of it is parsed: it is
read in pieces and given up on at the limit, whatever Content-Length says.

- `POST /webhooks/twilio/status`: MessageSid + MessageStatus. delivered -> delivered,
  failed/undelivered -> failed (both final), sent -> sent unless final. Duplicate,
  out-of-order and unknown receipts are accepted (200) and change nothing; a receipt
  that arrives before the sender recorded the MessageSid is kept and applied by the
  sender right after it records it.
- `POST /webhooks/twilio/inbound`: From + Body. TD, T, N, 退订, 取消, STOP... opt the
  number out; START, 订阅, 恢复... opt it back in (read as `zhida.channels.optout`
  reads them: punctuation, spaces and courtesy words around the keyword do not
  matter). The change is confirmed by an SMS through the configured provider
  (「您已退订…请回复“订阅”」); the HTTP reply is empty TwiML. A message is acted on
  once by its MessageSid: a replayed signed request changes nothing and sends nothing.

Both always need ZHIDA_TWILIO_AUTH_TOKEN, whatever the SMS provider: without it
every request is refused (403), since an unsigned opt-out or receipt could be
forged by anyone. The file outbox (the embedded default) sends no receipts and
receives no SMS, so nothing calls them there; `zhida serve` says so when it starts
(`startup_note`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from twilio.request_validator import RequestValidator

from zhida.api.deps import SessionDep, SettingsDep
from zhida.channels import optout
from zhida.channels.delivery.receipts import receive_receipt, stash_for
from zhida.channels.delivery.steps import SessionFactory
from zhida.channels.sms.base import mask_phone
from zhida.settings import Settings

log = logging.getLogger("zhida.webhooks")
router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


MAX_BODY = 16 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


async def bounded_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, or 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(status_code=413, detail="request body too large")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise HTTPException(status_code=413, detail="request body too large")
    return bytes(body)


async def verified_form(request: Request, settings: Settings) -> FormData:
    """The form parameters of a request signed by Twilio, or 403 (413 when too large)."""
    signature = request.headers.get("X-Twilio-Signature", "")
    token = settings.twilio_auth_token
    if not signature or not token:
        raise HTTPException(status_code=403, detail="signature required")
    body = await bounded_body(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type != FORM_TYPE:
            raise ValueError(content_type)
        pairs: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        )
        form = FormData(pairs)
    except ValueError as err:  # not a form body (or not UTF-8)
        raise HTTPException(status_code=403, detail="signature does not verify") from err
    url = settings.base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not RequestValidator(token).validate(url, form, signature):
        log.warning("rejected %s: bad X-Twilio-Signature", request.url.path)
        raise HTTPException(status_code=403, detail="signature does not verify")
    return form


def startup_note(settings: Settings) -> str | None:
    """What `zhida serve` says about the webhooks when they cannot work as configured."""
    if settings.twilio_auth_token:
        return None
    why = (
        "the file outbox sends no receipts and receives no SMS, so nothing calls them here"
        if settings.sms_provider == "file"
        else "Twilio's receipts and replies (opt-outs) will be lost"
    )
    return (
        "note: ZHIDA_TWILIO_AUTH_TOKEN is not set: /webhooks/twilio/status and "
        "/webhooks/twilio/inbound refuse every request (403), since they verify "
        f"X-Twilio-Signature with it; {why}"
    )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _session_factory(session: Session) -> SessionFactory:
    @contextmanager
    def sessions() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    return sessions


def _receipt(session: Session, settings: Settings, sid: str, state: str, code: str) -> str:
    return receive_receipt(
        _session_factory(session), stash_for(settings.redis_url), sid, state, code
    )


def _inbound(session: Session, sid: str, phone: str, opted_out: bool, keyword: str) -> bool:
    """Record the opt-out or opt-in, once per inbound message id (False: a replay)."""
    if sid and not optout.first_time(session, sid):
        session.rollback()
        return False
    optout.record(session, phone, opted_out, keyword)
    session.commit()
    return True


@router.post("/status")
async def status(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    form = await verified_form(request, settings)
    sid = _text(form, "MessageSid") or _text(form, "SmsSid")
    state = _text(form, "MessageStatus") or _text(form, "SmsStatus")
    if sid and state:
        result = await run_in_threadpool(
            _receipt, session, settings, sid, state, _text(form, "ErrorCode")
        )
        log.info("receipt %s %s: %s", sid, state, result)
    return Response(status_code=200)


@router.post("/inbound")
async def inbound(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    form = await verified_form(request, settings)
    phone = _text(form, "From").strip()
    action = optout.keyword_action(_text(form, "Body"))
    if phone and action is not None:
        opted_out, keyword = action
        sid = _text(form, "MessageSid") or _text(form, "SmsSid")
        if not await run_in_threadpool(_inbound, session, sid, phone, opted_out, keyword):
            log.info("inbound %s seen before: ignored", sid)
            return Response(content=EMPTY_TWIML, media_type="application/xml")
        log.info("%s %s (%s)", "opt-out" if opted_out else "opt-in", mask_phone(phone), keyword)
        await run_in_threadpool(
            optout.send_confirmation, settings, phone, opted_out, sid or keyword
        )
    return Response(content=EMPTY_TWIML, media_type="application/xml")
