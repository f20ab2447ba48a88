"""Logs and consoles carry no tokens and no whole phone numbers."""

from __future__ import annotations

import logging

import pytest

from zhida.api.logs import RedactFilter
from zhida.channels.sms import ProviderError
from zhida.redact import mask_phone, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /a/AbCdEf_12-x?x=1 HTTP/1.1", "GET /a/…?x=1 HTTP/1.1"),
        (
            "POST /webhooks/aliyun/report/s3cr3t-X HTTP/1.1",
            "POST /webhooks/aliyun/report/… HTTP/1.1",
        ),
        ("/login/eyJ.abc-Z_9", "/login/…"),
        (
            "The 'To' number +8613812345678 is not valid",
            "The 'To' number +86138****5678 is not valid",
        ),
        ("call 13812345678 now", "call 138****5678 now"),
        ("order 2026120212345678 stays", "order 2026120212345678 stays"),
        ("/api/a/b stays? no: /static/app.js", "/api/a/… stays? no: /static/app.js"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_mask_phone_keeps_the_last_four_digits() -> None:
    assert mask_phone("+8613812345678") == "+86138****5678"
    assert mask_phone("12345") == "****"


def test_the_access_log_line_loses_its_token() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/a/SECRETTOKEN123", "1.1", 200),
        None,
    )
    assert RedactFilter().filter(record)
    assert "SECRETTOKEN123" not in record.getMessage()
    assert record.args == ("127.0.0.1:5", "GET", "/a/…", "1.1", 200)  # still five


def test_a_provider_error_never_carries_the_whole_number() -> None:
    err = ProviderError("The 'To' number +8613812345678 is not a valid phone number", 21211, False)
    assert "+8613812345678" not in str(err) and "5678" in str(err)
