"""Alibaba Cloud SMS (阿里云短信服务) through the official SDK
(`alibabacloud_dysmsapi20170525`, API version 2017-05-25).

Aliyun sends approved templates only: a message is `SendSms(PhoneNumbers, SignName,
TemplateCode, TemplateParam, OutId)`. zhida's text goes into one approved template
whose single variable carries it (`ZHIDA_ALIYUN_TEMPLATE_CODE`, variable
`ZHIDA_ALIYUN_TEMPLATE_PARAM`, default `content`); the signature is Aliyun's own
`SignName` (`ZHIDA_ALIYUN_SIGN_NAME`, default 浙里办), which it prefixes as 【浙里办】,
so the text's own 【...】 prefix is not sent twice. `OutId` is the notification id:
receipts and lookups carry it back. A mainland number is sent as its 11 digits.

Credentials (`ZHIDA_ALIYUN_ACCESS_KEY_ID`, `_SECRET`) and the endpoint are read when
the provider is built, never at import. `ZHIDA_ALIYUN_ENDPOINT` (default
dysmsapi.aliyuncs.com, HTTPS) points the SDK elsewhere: `http://127.0.0.1:PORT` for the
local fake in tests; everything else (ACS3-HMAC-SHA256 signing, error parsing) is the
SDK's.

Error mapping (-> `ProviderError`): the answer's `Code` when not "OK" (Aliyun answers
most refusals with HTTP 200): isv.MOBILE_NUMBER_ILLEGAL (invalid number, as Twilio's
21211), template, signature and content refusals -> permanent; flow control
(isv.BUSINESS_LIMIT_CONTROL, Throttling.*), isp.SYSTEM_ERROR, isv.AMOUNT_NOT_ENOUGH
(the account, not the message) -> retryable. SDK exceptions: HTTP 429 / 5xx,
ThrottlingException -> retryable; other 4xx -> permanent; the transport (the SDK
wraps every requests error in a RetryError) -> retryable, and unsure unless the
connection was refused or never made.

`find_sent` is QuerySendDetails (PhoneNumber, SendDate yyyyMMdd in Asia/Shanghai, one
query per day since the claim, paged), matched on OutId, else on the text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import Any

from zhida.channels.sms.base import INVALID_NUMBER, ProviderError, SendResult, same_text
from zhida.clock import SHANGHAI
from zhida.errors import ConfigError
from zhida.settings import Settings

ALIYUN_ENDPOINT = "dysmsapi.aliyuncs.com"
#: Aliyun's answer codes that a later try can get past
RETRYABLE_CODES = frozenset(
    {
        "isp.SYSTEM_ERROR",
        "isv.BUSINESS_LIMIT_CONTROL",
        "isv.AMOUNT_NOT_ENOUGH",
        "isv.OUT_OF_SERVICE",
        "SignatureNonceUsed",
        "ServiceUnavailable",
        "InternalError",
    }
)
INVALID_CODES = frozenset({"isv.MOBILE_NUMBER_ILLEGAL", "isv.INVALID_PARAMETERS"})
#: SendStatus of QuerySendDetails -> our status words
SEND_STATUS = {1: "sent", 2: "failed", 3: "delivered"}
PAGE_SIZE = 50
MAX_PAGES = 10


def national(phone: str) -> str:
    """+8613800000001 -> 13800000001 (Aliyun's form for a mainland number)."""
    phone = phone.strip()
    for prefix in ("+86", "0086"):
        if phone.startswith(prefix):
            return phone[len(prefix) :]
    return phone


def code_error(code: str, message: str) -> ProviderError:
    """The ProviderError of an answer whose Code is not OK."""
    if code in INVALID_CODES:
        return ProviderError(f"{code}: {message}", INVALID_NUMBER, False)
    retryable = code in RETRYABLE_CODES or code.startswith("Throttling")
    return ProviderError(f"{code}: {message}", code, retryable)


def map_error(err: BaseException) -> ProviderError:
    """One ProviderError for whatever the SDK raised."""
    if isinstance(err, ProviderError):
        return err
    from alibabacloud_tea_openapi.exceptions import ThrottlingException
    from darabonba.exceptions import ResponseException, UnretryableException

    if isinstance(err, ThrottlingException):
        return ProviderError(f"throttled: {err.message}", err.code or "Throttling", True)
    if isinstance(err, ResponseException):
        status = int(getattr(err, "status_code", 0) or 0)
        code = str(getattr(err, "code", "") or status)
        message = str(getattr(err, "message", "") or type(err).__name__)
        if code in INVALID_CODES:
            return ProviderError(message, INVALID_NUMBER, False)
        retryable = status == 429 or status >= 500 or code in RETRYABLE_CODES
        return ProviderError(message, code, retryable or code.startswith("Throttling"))
    if isinstance(err, UnretryableException):  # the transport, text only
        text = str(getattr(err, "inner_exception", "") or err)
        refused = any(
            s in text for s in ("Connection refused", "Failed to establish", "connect timeout")
        )
        code = "timeout" if "timed out" in text else "connection"
        return ProviderError(f"transport error: {text}", code, True, unsure=not refused)
    return ProviderError(f"{type(err).__name__}: {err}", "unexpected", True, unsure=True)


class AliyunProvider:
    """`send_sms` through `Client.send_sms_with_options(SendSmsRequest)`; one SDK client
    shared by a worker's threads."""

    name = "aliyun"

    def __init__(self, settings: Settings, *, timeout: float | None = None):
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi.utils_models import Config

        self.sign_name = settings.aliyun_sign_name
        self.template_code = settings.aliyun_template_code
        self.template_param = settings.aliyun_template_param
        missing = [
            name
            for name, value in (
                ("aliyun_access_key_id", settings.aliyun_access_key_id),
                ("aliyun_access_key_secret", settings.aliyun_access_key_secret),
                ("aliyun_template_code", self.template_code),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                "Aliyun SMS is not configured: set "
                + ", ".join("ZHIDA_" + m.upper() for m in missing)
            )
        endpoint = settings.aliyun_endpoint or ALIYUN_ENDPOINT
        protocol = "HTTPS"
        for scheme in ("http://", "https://"):
            if endpoint.startswith(scheme):
                protocol, endpoint = scheme[:-3].upper(), endpoint[len(scheme) :]
        millis = int(1000 * (timeout or settings.sms_timeout_seconds))
        self.client = Client(
            Config(
                access_key_id=settings.aliyun_access_key_id,
                access_key_secret=settings.aliyun_access_key_secret,
                endpoint=endpoint.rstrip("/"),
                protocol=protocol,
                read_timeout=millis,
                connect_timeout=min(millis, 5000),
            )
        )

    def _runtime(self) -> Any:
        from darabonba.runtime import RuntimeOptions

        return RuntimeOptions(autoretry=False)

    def text_of(self, body: str) -> str:
        """The template variable: the text without the signature Aliyun adds itself."""
        prefix = f"【{self.sign_name}】"
        return body[len(prefix) :] if body.startswith(prefix) else body

    def send_sms(
        self, to: str, body: str, reference: str, *, meta: Mapping[str, Any] | None = None
    ) -> SendResult:
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest

        request = SendSmsRequest(
            phone_numbers=national(to),
            sign_name=self.sign_name,
            template_code=self.template_code,
            template_param=json.dumps(
                {self.template_param: self.text_of(body)}, ensure_ascii=False
            ),
            out_id=reference,
        )
        try:
            answer = self.client.send_sms_with_options(request, self._runtime()).body
        except Exception as err:  # every failure becomes one ProviderError
            raise map_error(err) from err
        if answer is None or answer.code != "OK":
            code = (answer.code if answer else "") or "aliyun"
            raise code_error(code, (answer.message if answer else "") or "no answer")
        if not answer.biz_id:
            raise ProviderError("Aliyun answered OK without a BizId", "aliyun", False)
        return SendResult(provider_ref=str(answer.biz_id), status="queued", provider=self.name)

    def _details(self, to: str, day: dt.date) -> Iterator[Any]:
        from alibabacloud_dysmsapi20170525.models import QuerySendDetailsRequest

        for page in range(1, MAX_PAGES + 1):
            request = QuerySendDetailsRequest(
                phone_number=national(to),
                send_date=day.strftime("%Y%m%d"),
                page_size=PAGE_SIZE,
                current_page=page,
            )
            answer = self.client.query_send_details_with_options(request, self._runtime()).body
            if answer is None or answer.code != "OK":
                code = (answer.code if answer else "") or "aliyun"
                raise code_error(code, (answer.message if answer else "") or "no answer")
            dtos = answer.sms_send_detail_dtos
            items = list(dtos.sms_send_detail_dto or []) if dtos else []
            yield from items
            if len(items) < PAGE_SIZE or page * PAGE_SIZE >= int(answer.total_count or 0):
                return

    def find_sent(
        self, to: str, body: str, reference: str, since: dt.datetime
    ) -> SendResult | None:
        """Messages to this number on each Shanghai day since `since`: the one whose
        OutId is the reference, else the one with this text. Its reference is `OUT` +
        OutId (the details carry no BizId); receipts name the row by OutId too."""
        first = since.astimezone(SHANGHAI).date()
        last = dt.datetime.now(SHANGHAI).date()
        ours = f"【{self.sign_name}】{self.text_of(body)}"
        try:
            for k in range((last - first).days + 1):
                for item in self._details(to, first + dt.timedelta(days=k)):
                    if item.out_id == reference or (
                        not item.out_id and same_text(str(item.content or ""), ours)
                    ):
                        return SendResult(
                            provider_ref=f"OUT{reference}",
                            status=SEND_STATUS.get(int(item.send_status or 1), "sent"),
                            provider=self.name,
                        )
        except Exception as err:  # every failure becomes one ProviderError
            raise map_error(err) from err
        return None

    def pull_receipt(
        self, to: str, provider_ref: str, sent_at: dt.datetime
    ) -> tuple[str, str] | None:
        """The receipt of a sent message, pulled (QuerySendDetails by number, the day it
        was sent and its BizId; OUT + OutId for a row a lookup found): (delivered |
        failed, ErrCode), or None while Aliyun waits for the handset's report. Answers
        come from Aliyun's signed API, so they are as good as a pushed receipt."""
        from alibabacloud_dysmsapi20170525.models import QuerySendDetailsRequest

        out_id = provider_ref[3:] if provider_ref.startswith("OUT") else ""
        request = QuerySendDetailsRequest(
            phone_number=national(to),
            send_date=sent_at.astimezone(SHANGHAI).strftime("%Y%m%d"),
            page_size=PAGE_SIZE,
            current_page=1,
            biz_id=None if out_id else provider_ref,
        )
        try:
            answer = self.client.query_send_details_with_options(request, self._runtime()).body
        except Exception as err:  # every failure becomes one ProviderError
            raise map_error(err) from err
        if answer is None or answer.code != "OK":
            code = (answer.code if answer else "") or "aliyun"
            raise code_error(code, (answer.message if answer else "") or "no answer")
        dtos = answer.sms_send_detail_dtos
        for item in list(dtos.sms_send_detail_dto or []) if dtos else []:
            if out_id and item.out_id != out_id:
                continue
            status = SEND_STATUS.get(int(item.send_status or 1), "sent")
            return None if status == "sent" else (status, str(item.err_code or ""))
        return None
