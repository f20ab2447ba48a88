"""A local Alibaba Cloud SMS (Dysmsapi 2017-05-25) server for tests and benchmarks.

`FakeAliyun` speaks the RPC calls that `alibabacloud_dysmsapi20170525.client.Client`
makes (point the SDK at it with `Config(endpoint="127.0.0.1:PORT", protocol="HTTP")`):

    POST /?PhoneNumbers=&SignName=&TemplateCode=&TemplateParam=&OutId=
         x-acs-action: SendSms, x-acs-version: 2017-05-25,
         Authorization: ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=...,Signature=...
    -> 200 {"Code": "OK", "Message": "OK", "BizId": "...", "RequestId": "..."}
    POST /?PhoneNumber=&SendDate=yyyyMMdd&PageSize=&CurrentPage=[&BizId=]  (QuerySendDetails)
    -> 200 {"Code": "OK", "TotalCount": N, "SmsSendDetailDTOs": {"SmsSendDetailDTO": [...]}}

The signature is checked with the SDK's own algorithm (its `Utils.get_authorization`)
over the request as received: a wrong secret gets 400 SignatureDoesNotMatch. Refusals
come as Aliyun sends them: most with HTTP 200 and a Code (isv.MOBILE_NUMBER_ILLEGAL,
isv.BUSINESS_LIMIT_CONTROL...), some as HTTP errors. Scripted by number (11 digits):

- `fail(phone, code, times=None)`: answer Code `code` (HTTP 200);
- `fail_http(phone, status, times=None)`: answer HTTP `status` (500, 503, 429...);
- `slow(phone, seconds, times=None)`: hang, then accept (the client may have gone);
- `outcome(phone, success=True, err_code="DELIVERED")`: the receipt pushed.

Built in: 10000000000 is always isv.MOBILE_NUMBER_ILLEGAL.

With `report_url` empty no receipt is pushed and messages keep SendStatus 1 until
`settle(phone)` gives them their outcome (for receipts pulled with QuerySendDetails).
Accepted messages are pushed as receipts (Aliyun's HTTP batch push of SmsReport: a
JSON array of {phone_number, send_time, report_time, success, err_code, err_msg,
sms_size, biz_id, out_id}) to `report_url`, `report_delay` after acceptance. It runs
in daemon threads on a free 127.0.0.1 port and stops by itself after `lifetime`.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

from tests.support.fake_http import JsonHandler

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
INVALID_PHONE = "10000000000"


@dataclass
class Message:
    biz_id: str
    phone: str
    sign_name: str
    template_code: str
    params: dict[str, str]
    out_id: str
    at: float
    status: int = 1  # 1 waiting for a receipt, 2 failed, 3 delivered
    err_code: str = ""

    @property
    def content(self) -> str:
        return f"【{self.sign_name}】" + "".join(self.params.values())


@dataclass
class Attempt:
    phone: str
    action: str
    answer: str  # "OK", a Code, or an HTTP status
    at: float


@dataclass
class Report:
    url: str
    items: list[dict[str, Any]]
    http_status: int
    at: float


@dataclass
class _Script:
    value: Any
    times: int | None

    def take(self) -> bool:
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass
class FakeAliyun:
    access_key_id: str = "LTAI" + "0" * 16
    access_key_secret: str = field(default_factory=lambda: secrets.token_hex(15))
    report_url: str = ""
    report_delay: float = 0.05
    lifetime: float = 300.0
    messages: list[Message] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._codes: dict[str, _Script] = {
            INVALID_PHONE: _Script("isv.MOBILE_NUMBER_ILLEGAL", None)
        }
        self._http: dict[str, _Script] = {}
        self._slow: dict[str, _Script] = {}
        self._outcomes: dict[str, tuple[bool, str]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._seq = 0

    # --- scripting ----------------------------------------------------------------------

    def fail(self, phone: str, code: str, times: int | None = None) -> None:
        with self._lock:
            self._codes[phone] = _Script(code, times)

    def fail_http(self, phone: str, status: int, times: int | None = None) -> None:
        with self._lock:
            self._http[phone] = _Script(status, times)

    def slow(self, phone: str, seconds: float, times: int | None = None) -> None:
        with self._lock:
            self._slow[phone] = _Script(seconds, times)

    def outcome(self, phone: str, success: bool = True, err_code: str = "DELIVERED") -> None:
        with self._lock:
            self._outcomes[phone] = (success, err_code)

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeAliyun:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.request_queue_size = 256
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True).start()
        threading.Thread(target=self._watchdog, daemon=True).start()
        return self

    def _watchdog(self) -> None:
        if not self._stopped.wait(self.lifetime):
            self.stop()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeAliyun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def messages_to(self, phone: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.phone == phone]

    def attempts_to(self, phone: str, action: str = "SendSms") -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.phone == phone and a.action == action]

    # --- the API ------------------------------------------------------------------------

    def verify(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> bool:
        from alibabacloud_tea_openapi.utils import Utils

        auth = headers.get("authorization", "")
        kind, _, rest = auth.partition(" ")
        parts = dict(p.split("=", 1) for p in rest.split(",") if "=" in p)
        if kind != "ACS3-HMAC-SHA256" or parts.get("Credential") != self.access_key_id:
            return False
        signed = parts.get("SignedHeaders", "").split(";")
        request = SimpleNamespace(
            method=method,
            pathname=path,
            query=query,
            headers={name: headers.get(name, "") for name in signed},
        )
        expected = Utils.get_authorization(
            request,
            kind,
            headers.get("x-acs-content-sha256", ""),
            self.access_key_id,
            self.access_key_secret,
        )
        return secrets.compare_digest(expected, auth)

    def handle(self, action: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if action == "SendSms":
            return self._send(query)
        if action == "QuerySendDetails":
            return self._details(query)
        return 404, _error("InvalidAction.NotFound", f"Specified api {action} is not found.")

    def _send(self, q: dict[str, str]) -> tuple[int, dict[str, Any]]:
        phone = q.get("PhoneNumbers", "")
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not q.get(name):
                return 400, _error("MissingParameter", f"{name} is mandatory for this action.")
        with self._lock:
            slow = self._slow.get(phone)
            delay = float(slow.value) if slow is not None and slow.take() else 0.0
        if delay:
            time.sleep(delay)
        now = time.time()
        with self._lock:
            http = self._http.get(phone)
            if http is not None and http.take():
                self.attempts.append(Attempt(phone, "SendSms", str(http.value), now))
                code = {429: "Throttling.User", 503: "ServiceUnavailable"}.get(
                    int(http.value), "InternalError"
                )
                return int(http.value), _error(code, "scripted")
            scripted = self._codes.get(phone)
            if scripted is not None and scripted.take():
                self.attempts.append(Attempt(phone, "SendSms", str(scripted.value), now))
                return 200, _error(str(scripted.value), "scripted")
            try:
                params = json.loads(q.get("TemplateParam") or "{}")
            except ValueError:
                return 200, _error("isv.INVALID_JSON_PARAM", "JSON参数不合法")
            self._seq += 1
            biz_id = f"{int(now * 1000) % 10**9}{self._seq:06d}^0"
            message = Message(
                biz_id, phone, q["SignName"], q["TemplateCode"], params, q.get("OutId", ""), now
            )
            self.messages.append(message)
            self.attempts.append(Attempt(phone, "SendSms", "OK", now))
            success, err_code = self._outcomes.get(phone, (True, "DELIVERED"))
        if self.report_url:
            threading.Timer(self.report_delay, self._report, (message, success, err_code)).start()
        return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": _request_id()}

    def _details(self, q: dict[str, str]) -> tuple[int, dict[str, Any]]:
        phone, day = q.get("PhoneNumber", ""), q.get("SendDate", "")
        size = max(1, min(50, int(q.get("PageSize") or 10)))
        page = max(1, int(q.get("CurrentPage") or 1))
        with self._lock:
            self.attempts.append(Attempt(phone, "QuerySendDetails", "OK", time.time()))
            chosen = [
                m
                for m in self.messages
                if m.phone == phone
                and dt.datetime.fromtimestamp(m.at, SHANGHAI).strftime("%Y%m%d") == day
                and (not q.get("BizId") or m.biz_id == q["BizId"])
            ]
        items = chosen[(page - 1) * size : page * size]
        return 200, {
            "Code": "OK",
            "Message": "OK",
            "RequestId": _request_id(),
            "TotalCount": len(chosen),
            "SmsSendDetailDTOs": {
                "SmsSendDetailDTO": [
                    {
                        "PhoneNum": m.phone,
                        "SendStatus": m.status,
                        "ErrCode": m.err_code or ("DELIVERED" if m.status == 3 else ""),
                        "TemplateCode": m.template_code,
                        "Content": m.content,
                        "SendDate": _stamp(m.at),
                        "ReceiveDate": _stamp(m.at) if m.status != 1 else "",
                        "OutId": m.out_id,
                    }
                    for m in items
                ]
            },
        }

    def settle(self, phone: str) -> None:
        """The handset's report arrives for this number's messages (no push)."""
        with self._lock:
            success, err_code = self._outcomes.get(phone, (True, "DELIVERED"))
            for m in self.messages:
                if m.phone == phone:
                    m.status, m.err_code = (3 if success else 2), err_code

    def _report(self, message: Message, success: bool, err_code: str) -> None:
        if self._stopped.is_set():
            return
        with self._lock:
            message.status, message.err_code = (3 if success else 2), err_code
        items = [
            {
                "phone_number": message.phone,
                "send_time": _stamp(message.at),
                "report_time": _stamp(time.time()),
                "success": success,
                "err_code": err_code,
                "err_msg": "用户接收成功" if success else "失败",
                "sms_size": "1",
                "biz_id": message.biz_id,
                "out_id": message.out_id,
            }
        ]
        request = urllib.request.Request(
            self.report_url,
            data=json.dumps(items, ensure_ascii=False).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        status = 0
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as err:
            status = err.code
        except OSError:
            status = 0
        with self._lock:
            self.reports.append(Report(self.report_url, items, status, time.time()))


def _stamp(at: float) -> str:
    return dt.datetime.fromtimestamp(at, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _request_id() -> str:
    return secrets.token_hex(16).upper()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"Code": code, "Message": message, "RequestId": _request_id()}


class _Handler(JsonHandler):
    fake: FakeAliyun
    content_type = "application/json;charset=utf-8"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path, _, raw = self.path.partition("?")
        query = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not self.fake.verify("POST", path or "/", query, headers):
            self._send_json(
                400,
                _error(
                    "SignatureDoesNotMatch",
                    "Specified signature is not matched with our calculation.",
                ),
            )
            return
        status, payload = self.fake.handle(headers.get("x-acs-action", ""), query)
        self._send_json(status, payload)
