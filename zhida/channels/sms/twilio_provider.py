"""Twilio through the official SDK (`twilio.rest.Client`).

Credentials and URLs are read from settings when a `TwilioProvider` is constructed,
never at import. When `settings.twilio_base_url` is set (tests, benchmarks), the SDK's
`http_client` hook is a `TwilioHttpClient` subclass that rewrites
`https://api.twilio.com` to that base URL; everything else (request building, Basic
auth, error parsing) is the SDK's own.

Every message carries `StatusCallback = {base_url}/webhooks/twilio/status`, so
delivery receipts come back to `zhida.api.routes.webhooks`.

Error mapping (SDK exceptions -> `ProviderError`):
HTTP 429, 5xx, timeouts, connection errors -> retryable; 21211 (invalid number),
21610 (unsubscribed recipient) and any other 4xx -> permanent. A read timeout or a
connection dropped after the request was sent is also `unsure` (Twilio may have
accepted it); a refused connection or a connect timeout is not (nothing was sent).

`find_sent` asks whether Twilio holds a message: the Messages list filtered by `To`
and `DateSent>` (the SDK's `messages.list(to, date_sent_after)`, following its pages),
matched on the text. The status callback carries the notification id (`?n=ID`, inside
the signed URL), so a receipt for a row whose reference was never recorded (the
sender died, or it timed out) still finds its row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from zhida.channels.sms.base import (
    INVALID_NUMBER,
    UNSUBSCRIBED,
    ProviderError,
    SendResult,
    same_text,
)
from zhida.errors import ConfigError
from zhida.settings import Settings

TWILIO_API = "https://api.twilio.com"
STATUS_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/inbound"
#: messages to one number since an unsure claim that a lookup reads at most
LOOKUP_LIMIT = 500


def status_callback_url(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + STATUS_PATH


class BaseUrlHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, sending `https://api.twilio.com/...` to `base_url/...`."""

    def __init__(
        self,
        base_url: str = "",
        *,
        timeout: float | None = 10.0,
        pool_maxsize: int = 32,
        **kwargs: Any,
    ):
        super().__init__(timeout=timeout, **kwargs)
        self.base_url = base_url.rstrip("/")
        if self.session is not None:  # one pool shared by a worker's threads
            self.session.mount("http://", HTTPAdapter(pool_maxsize=pool_maxsize))
            self.session.mount("https://", HTTPAdapter(pool_maxsize=pool_maxsize))
            if self.base_url:  # a local server: no proxy, .netrc or CA lookups per request
                self.session.trust_env = False

    def rewrite(self, url: str) -> str:
        if self.base_url and url.startswith(TWILIO_API):
            return self.base_url + url[len(TWILIO_API) :]
        return url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return super().request(method, self.rewrite(url), *args, **kwargs)


def map_error(err: BaseException) -> ProviderError:
    """One `ProviderError` for whatever the SDK or the transport raised."""
    if isinstance(err, ProviderError):
        return err
    if isinstance(err, requests.ConnectTimeout):  # nothing was sent
        return ProviderError(f"connect timeout: {err}", "timeout", True)
    if isinstance(err, requests.Timeout):  # sent, no answer: it may have been accepted
        return ProviderError(f"timeout: {err}", "timeout", True, unsure=True)
    if isinstance(err, requests.ConnectionError):
        refused = "NewConnectionError" in repr(err) or "Connection refused" in str(err)
        return ProviderError(f"connection error: {err}", "connection", True, unsure=not refused)
    if isinstance(err, requests.RequestException):
        return ProviderError(f"transport error: {err}", "transport", True, unsure=True)
    status = getattr(err, "status", None)
    if isinstance(err, TwilioException) and isinstance(status, int):
        code = getattr(err, "code", None) or status
        message = str(getattr(err, "msg", "") or getattr(err, "title", "") or type(err).__name__)
        if str(code) in (INVALID_NUMBER, UNSUBSCRIBED):
            return ProviderError(message, code, False)
        if status == 429 or status >= 500:
            return ProviderError(message, code, True)
        return ProviderError(message, code, False)
    if isinstance(err, TwilioException):  # e.g. an unreadable answer: try again later
        return ProviderError(f"{type(err).__name__}: {err}", "twilio", True)
    return ProviderError(f"{type(err).__name__}: {err}", "unexpected", True)


class TwilioProvider:
    """`send_sms` through `client.messages.create(to, from_, body, status_callback)`.

    One SDK client, built (and its lazily imported API modules warmed) at construction,
    shared by a worker's threads: its requests session keeps a pool of connections
    (urllib3's pool is thread-safe; nothing else in it is per-request state)."""

    name = "twilio"

    def __init__(
        self, settings: Settings, *, timeout: float | None = None, http_client: Any | None = None
    ):
        self.account_sid = settings.twilio_account_sid
        self.auth_token = settings.twilio_auth_token
        self.from_ = settings.twilio_from
        self.base_url = settings.twilio_base_url
        self.status_callback = status_callback_url(settings)
        self.timeout = timeout = timeout or settings.sms_timeout_seconds
        missing = [
            name
            for name, value in (
                ("twilio_account_sid", self.account_sid),
                ("twilio_auth_token", self.auth_token),
                ("twilio_from", self.from_),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                "Twilio is not configured: set " + ", ".join("ZHIDA_" + m.upper() for m in missing)
            )
        http = http_client or BaseUrlHttpClient(self.base_url, timeout=timeout)
        self.client = Client(self.account_sid, self.auth_token, http_client=http)
        self._messages = self.client.messages  # imports the SDK's API modules now

    def send_sms(
        self, to: str, body: str, reference: str, *, meta: Mapping[str, Any] | None = None
    ) -> SendResult:
        try:
            message = self._messages.create(
                to=to,
                from_=self.from_,
                body=body,
                status_callback=f"{self.status_callback}?n={reference}",
            )
        except Exception as err:  # every failure becomes one ProviderError
            raise map_error(err) from err
        sid = str(message.sid or "")
        if not sid:
            raise ProviderError("Twilio answered without a message sid", "twilio", False)
        return SendResult(
            provider_ref=sid, status=str(message.status or "queued"), provider=self.name
        )

    def find_sent(
        self, to: str, body: str, reference: str, since: dt.datetime
    ) -> SendResult | None:
        try:
            for message in self._messages.stream(
                to=to, date_sent_after=since.astimezone(dt.UTC), page_size=50, limit=LOOKUP_LIMIT
            ):
                if same_text(str(message.body or ""), body):
                    return SendResult(
                        provider_ref=str(message.sid),
                        status=str(message.status or "sent"),
                        provider=self.name,
                    )
        except Exception as err:  # every failure becomes one ProviderError
            raise map_error(err) from err
        return None
