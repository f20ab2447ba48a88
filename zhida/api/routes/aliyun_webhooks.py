"""Alibaba Cloud SMS receipts: the HTTP batch push of SmsReport.

`POST /webhooks/aliyun/report/{secret}`: Aliyun pushes a JSON array of reports
(`biz_id`, `out_id`, `success`, `err_code`, ...) to the URL configured in its console.
Aliyun does not sign these pushes, so the URL carries a secret
(`ZHIDA_ALIYUN_REPORT_TOKEN`, compared in constant time): a request without it gets
403 and changes nothing, as does any request while no secret is configured. A body
over MAX_BODY bytes gets 413 before it is parsed. Each report is a receipt for its
BizId (success -> delivered, else failed with err_code); OutId is the notification id,
so a report for a row whose BizId was never recorded (found by a lookup, or left
unsure) still finds its row. The answer is Aliyun's expected `{"code": 0}`.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from zhida.api.deps import SessionDep, SettingsDep
from zhida.api.routes.webhooks import _session_factory, bounded_body
from zhida.channels.delivery.receipts import apply_receipt, receive_receipt, stash_for
from zhida.settings import Settings

log = logging.getLogger("zhida.webhooks")
router = APIRouter(prefix="/webhooks/aliyun", tags=["webhooks"])

#: a push carries at most a few hundred reports of ~300 bytes
MAX_BODY = 256 * 1024


def _apply(session: Session, settings: Settings, reports: list[dict[str, Any]]) -> list[str]:
    sessions = _session_factory(session)
    stash = stash_for(settings.redis_url)
    results = []
    for report in reports:
        biz_id = str(report.get("biz_id") or "")
        out_id = str(report.get("out_id") or "")
        if not biz_id:
            continue
        status = "delivered" if report.get("success") is True else "failed"
        code = str(report.get("err_code") or "")
        if out_id:  # a row found by a lookup carries OUT + OutId, not the BizId
            with sessions() as s:
                found = apply_receipt(s, f"OUT{out_id}", status, code)
            if found != "unknown":
                results.append(found)
                continue
        nid = int(out_id) if out_id.isdigit() and len(out_id) < 19 else None
        results.append(
            receive_receipt(sessions, stash, biz_id, status, code, nid, provider="aliyun")
        )
    return results


@router.post("/report/{secret}")
async def report(
    secret: str, request: Request, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    expected = settings.aliyun_report_token
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        log.warning("rejected an Aliyun report: wrong or unset secret")
        raise HTTPException(status_code=403, detail="forbidden")
    body = await bounded_body(request, MAX_BODY)
    try:
        reports = json.loads(body.decode("utf-8"))
        if not isinstance(reports, list) or not all(isinstance(r, dict) for r in reports):
            raise ValueError("not a list of reports")
    except ValueError as err:
        raise HTTPException(status_code=400, detail="a JSON array of reports") from err
    results = await run_in_threadpool(_apply, session, settings, reports)
    log.info("aliyun reports: %s", results)
    return JSONResponse({"code": 0, "msg": "接收成功"})
