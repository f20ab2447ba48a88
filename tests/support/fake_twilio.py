"""A local Twilio-compatible server for tests and benchmarks.

`FakeTwilio` speaks the part of the Messages API that `twilio.rest.Client` uses to send
and to list:

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json
         form: To, From, Body, StatusCallback; HTTP Basic auth (AccountSid:AuthToken)
    -> 201 Twilio-shaped JSON, sid "SM" + 32 hex, status "queued"
    GET  /2010-04-01/Accounts/{AccountSid}/Messages.json?To=&From=&DateSent>=&PageSize=&Page=
    -> 200 a page as Twilio pages it: {"messages": [...], "page", "page_size", "start",
       "end", "uri", "first_page_uri", "next_page_uri", "previous_page_uri"}, newest
       first; next_page_uri carries Page and PageToken, which the SDK follows

Errors are Twilio-shaped too (`{"code", "message", "more_info", "status"}`), which the
SDK turns into `TwilioRestException`. Behaviour is scripted by recipient:

- `fail(to, http_status, code, times=None)`: the next `times` requests (all when None)
  fail, e.g. 429/20429 three times then success, 500/20500, 400/21211;
- `outcome(to, final, duplicate=..., out_of_order=...)`: the status callbacks sent;
- `slow(to, seconds, times=None)`: answer late (client timeouts). The message is still
  created after the wait, whether or not the client is still there: a hang, then an
  acceptance the client never hears of (the "hang-then-accept" of a real provider);
- `fail_lookups(http_status, times)`: the next `times` list calls fail;
- `outage(http_status)`: every create fails with that status until `outage(None)`;
  `latency`: seconds every create takes (a busy provider).

Built in: +15005550001 is always 21211 (invalid number) and +15005550004 always
21610 (unsubscribed), like Twilio's magic test numbers.

After accepting a message with a StatusCallback, it POSTs the callbacks later
(`callback_delay` apart: queued -> sent -> delivered, or -> undelivered / failed),
signed as Twilio does (`X-Twilio-Signature`: the SDK's RequestValidator algorithm
with the auth token over the callback URL and the form parameters), optionally
duplicated and out of order. It records every request (`requests`), every accepted
message (`messages`) and every callback (`callbacks`).

It runs in daemon threads on a free 127.0.0.1 port and stops by itself after
`lifetime` seconds (or at `stop()`); records are bounded by `max_records`.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import heapq
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from twilio.request_validator import RequestValidator

from tests.support.fake_http import JsonHandler

INVALID_NUMBER = "+15005550001"
UNSUBSCRIBED_NUMBER = "+15005550004"


@dataclass
class Failure:
    http_status: int
    code: int
    message: str
    times: int | None  # None: always


@dataclass
class Outcome:
    final: str | None = "delivered"  # delivered | undelivered | failed | None (no callbacks)
    error_code: str = ""
    duplicate: bool = False
    out_of_order: bool = False


@dataclass
class Message:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str
    at: float
    status: str = "queued"


@dataclass
class Attempt:
    to: str
    http_status: int
    at: float
    sid: str = ""


@dataclass
class Callback:
    url: str
    params: dict[str, str]
    http_status: int  # 0: the request failed
    at: float


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    url: str = field(compare=False)
    params: dict[str, str] = field(compare=False)


class FakeTwilio:
    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "",
        *,
        callback_delay: float = 0.05,
        callbacks: bool = True,
        lifetime: float = 300.0,
        max_records: int = 1_000_000,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token or secrets.token_hex(16)
        self.callback_delay = callback_delay
        self.callbacks_enabled = callbacks
        self.lifetime = lifetime
        self.max_records = max_records
        self.messages: list[Message] = []
        self.requests: list[Attempt] = []
        self.callbacks: list[Callback] = []
        self._failures: dict[str, Failure] = {
            INVALID_NUMBER: Failure(
                400, 21211, f"The 'To' number {INVALID_NUMBER} is not a valid phone number.", None
            ),
            UNSUBSCRIBED_NUMBER: Failure(
                400, 21610, "Attempt to send to unsubscribed recipient", None
            ),
        }
        self._outcomes: dict[str, Outcome] = {}
        self._slow: dict[str, tuple[float, int | None]] = {}
        self._lookup_failures: list[int] = []  # http statuses of the next list calls
        self._outage: int | None = None
        self.latency = 0.0
        self.lookups: list[dict[str, str]] = []  # the query of every list call
        self._lock = threading.Lock()
        self._due: list[_Due] = []
        self._due_cv = threading.Condition()
        self._seq = 0
        self._stopped = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self.port = 0

    # --- scripting ----------------------------------------------------------------------

    def fail(
        self,
        to: str,
        http_status: int,
        code: int | None = None,
        *,
        times: int | None = None,
        message: str = "",
    ) -> None:
        code = code or {429: 20429, 500: 20500, 503: 20503}.get(http_status, http_status)
        with self._lock:
            self._failures[to] = Failure(http_status, code, message or f"scripted {code}", times)

    def outcome(
        self,
        to: str,
        final: str | None = "delivered",
        *,
        error_code: str = "",
        duplicate: bool = False,
        out_of_order: bool = False,
    ) -> None:
        with self._lock:
            self._outcomes[to] = Outcome(final, error_code, duplicate, out_of_order)

    def slow(self, to: str, seconds: float, times: int | None = None) -> None:
        with self._lock:
            self._slow[to] = (seconds, times)

    def outage(self, http_status: int | None) -> None:
        with self._lock:
            self._outage = http_status

    def fail_lookups(self, http_status: int, times: int = 1) -> None:
        with self._lock:
            self._lookup_failures.extend([http_status] * times)

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeTwilio:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.request_queue_size = 256
        self.port = self._server.server_address[1]
        for target in (self._serve, self._deliver_callbacks, self._watchdog):
            thread = threading.Thread(
                target=target, daemon=True, name=f"fake-twilio-{target.__name__}"
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        with self._due_cv:
            self._due_cv.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._server is not None
        self._server.serve_forever(poll_interval=0.1)

    def _watchdog(self) -> None:
        if not self._stopped.wait(self.lifetime):
            self.stop()

    # --- queries ------------------------------------------------------------------------

    def messages_to(self, to: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.to == to]

    def requests_to(self, to: str) -> list[Attempt]:
        with self._lock:
            return [r for r in self.requests if r.to == to]

    def callbacks_for(self, sid: str) -> list[Callback]:
        with self._lock:
            return [c for c in self.callbacks if c.params.get("MessageSid") == sid]

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    # --- the API ------------------------------------------------------------------------

    def handle_create(
        self, account: str, auth: str, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        refused = self._check(account, auth)
        if refused is not None:
            return refused
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return 400, _error(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return 400, _error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return 400, _error(400, 21602, "Message body is required.")
        with self._lock:
            delay, times = self._slow.get(to, (0.0, None))
            if delay and times is not None:
                self._slow[to] = (delay, times - 1) if times > 1 else (0.0, None)
        if delay or self.latency:
            time.sleep(delay + self.latency)
        now = time.time()
        with self._lock:
            failure = self._failures.get(to)
            if self._outage is not None:
                failure = Failure(self._outage, 20000 + self._outage, "outage", 1)
            if failure is not None and (failure.times is None or failure.times > 0):
                if failure.times is not None:
                    failure.times -= 1
                self._record(self.requests, Attempt(to, failure.http_status, now))
                return failure.http_status, _error(
                    failure.http_status, failure.code, failure.message
                )
            sid = "SM" + secrets.token_hex(16)
            callback = form.get("StatusCallback", "")
            self._record(self.requests, Attempt(to, 201, now, sid))
            self._record(self.messages, Message(sid, to, from_, body, callback, now))
            outcome = self._outcomes.get(to, Outcome())
        if callback and self.callbacks_enabled and outcome.final:
            self._schedule_callbacks(sid, to, from_, callback, outcome)
        return 201, self._resource(Message(sid, to, from_, body, callback, now), sent=False)

    def _check(self, account: str, auth: str) -> tuple[int, dict[str, Any]] | None:
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        if auth != expected:
            return 401, _error(401, 20003, "Authenticate")
        if account != self.account_sid:
            return 404, _error(404, 20404, f"Account {account} was not found")
        return None

    def _resource(self, m: Message, *, sent: bool = True) -> dict[str, Any]:
        stamp = email.utils.formatdate(m.at, usegmt=True)
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": m.body,
            "date_created": stamp,
            "date_sent": stamp if sent else None,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": m.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": m.sid,
            "status": m.status if sent else "queued",
            "to": m.to,
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{m.sid}/Media.json"
            },
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{m.sid}.json",
        }

    def handle_list(
        self, account: str, auth: str, query: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """The Messages list as Twilio pages it: filters To, From, DateSent (a day),
        DateSent> / DateSent< (ISO 8601 or a day; on or after / before), newest first."""
        refused = self._check(account, auth)
        if refused is not None:
            return refused
        with self._lock:
            self._record(self.lookups, dict(query))
            if self._lookup_failures:
                status = self._lookup_failures.pop(0)
                return status, _error(status, {429: 20429}.get(status, 20500), "scripted")
            chosen = [
                m
                for m in self.messages
                if (not query.get("To") or m.to == query["To"])
                and (not query.get("From") or m.from_ == query["From"])
                and _date_matches(m.at, query)
            ]
        chosen.sort(key=lambda m: m.at, reverse=True)
        size = max(1, min(1000, int(query.get("PageSize") or 50)))
        page = max(0, int(query.get("Page") or 0))
        items = chosen[page * size : (page + 1) * size]
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        keep = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(n: int, token: str = "") -> str:
            params = {**keep, "PageSize": str(size), "Page": str(n)}
            if token:
                params["PageToken"] = token
            return base + "?" + urllib.parse.urlencode(params)

        more = (page + 1) * size < len(chosen)
        return 200, {
            "messages": [self._resource(m) for m in items],
            "end": page * size + max(0, len(items) - 1),
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1, "PA" + items[-1].sid) if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": uri(page - 1, "PB" + items[0].sid) if page and items else None,
            "start": page * size,
            "uri": uri(page, query.get("PageToken", "")),
        }

    def _record(self, records: list[Any], item: Any) -> None:
        if len(records) < self.max_records:
            records.append(item)

    # --- status callbacks ---------------------------------------------------------------

    def _schedule_callbacks(
        self, sid: str, to: str, from_: str, url: str, outcome: Outcome
    ) -> None:
        assert outcome.final is not None
        states = ["sent", outcome.final]
        if outcome.out_of_order:
            states.reverse()
        if outcome.duplicate:
            states.append(states[-1] if not outcome.out_of_order else outcome.final)
        start = time.time()
        with self._due_cv:
            for i, state in enumerate(states, start=1):
                params = {
                    "MessageSid": sid,
                    "SmsSid": sid,
                    "AccountSid": self.account_sid,
                    "From": from_,
                    "To": to,
                    "MessageStatus": state,
                    "SmsStatus": state,
                    "ApiVersion": "2010-04-01",
                }
                if state in ("undelivered", "failed"):
                    params["ErrorCode"] = outcome.error_code or "30003"
                self._seq += 1
                heapq.heappush(
                    self._due, _Due(start + i * self.callback_delay, self._seq, url, params)
                )
            self._due_cv.notify()

    def _deliver_callbacks(self) -> None:
        while not self._stopped.is_set():
            with self._due_cv:
                while not self._stopped.is_set() and (
                    not self._due or self._due[0].at > time.time()
                ):
                    timeout = (self._due[0].at - time.time()) if self._due else 0.5
                    self._due_cv.wait(max(0.001, min(timeout, 0.5)))
                if self._stopped.is_set():
                    return
                due = heapq.heappop(self._due)
            self._post(due.url, due.params)

    def _post(self, url: str, params: dict[str, str]) -> None:
        with self._lock:
            for m in self.messages[::-1]:
                if m.sid == params["MessageSid"]:
                    m.status = params["MessageStatus"]
                    break
        data = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": self.sign(url, params),
                "User-Agent": "TwilioProxy/1.1",
            },
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
            self._record(self.callbacks, Callback(url, params, status, time.time()))


def _when(text: str) -> float:
    """A DateSent filter's value (ISO 8601 with Z, or a day) as a timestamp."""
    if len(text) == 10:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _date_matches(at: float, query: dict[str, str]) -> bool:
    if query.get("DateSent>") and at < _when(query["DateSent>"]):
        return False
    if query.get("DateSent<") and at >= _when(query["DateSent<"]) + (
        86_400 if len(query["DateSent<"]) == 10 else 0
    ):
        return False
    day = query.get("DateSent")
    return not day or dt.datetime.fromtimestamp(at, dt.UTC).date().isoformat() == day[:10]


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Handler(JsonHandler):
    fake: FakeTwilio
    disable_nagle_algorithm = True
    wbufsize = 65536  # headers and body leave in one segment (flushed after each request)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        parts = self.path.split("?")[0].strip("/").split("/")
        # 2010-04-01 / Accounts / {sid} / Messages.json
        if (
            len(parts) == 4
            and parts[0] == "2010-04-01"
            and parts[1] == "Accounts"
            and parts[3] == "Messages.json"
        ):
            form = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
            status, payload = self.fake.handle_create(
                parts[2], self.headers.get("Authorization", ""), form
            )
            self._send_json(status, payload)
            return
        self._send_json(
            404, _error(404, 20404, f"The requested resource {self.path} was not found")
        )

    def do_GET(self) -> None:
        path, _, raw = self.path.partition("?")
        parts = path.strip("/").split("/")
        if (
            len(parts) == 4
            and parts[0] == "2010-04-01"
            and parts[1] == "Accounts"
            and parts[3] == "Messages.json"
        ):
            query = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
            status, payload = self.fake.handle_list(
                parts[2], self.headers.get("Authorization", ""), query
            )
            self._send_json(status, payload)
            return
        self._send_json(
            404, _error(404, 20404, f"The requested resource {self.path} was not found")
        )
