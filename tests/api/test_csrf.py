"""zhida/api/csrf.py: session-bound tokens and the double-submit token of sign-in forms."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import Response
from starlette.requests import Request

from tests.api.conftest import make_settings
from zhida.api import csrf

SETTINGS = make_settings("sqlite://")


def request_with(headers: dict[str, str], body: bytes = b"") -> Request:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "headers": raw}, receive)


def test_a_session_token_is_bound_to_its_session() -> None:
    token = csrf.token_for(SETTINGS, "session-a")
    assert token != csrf.token_for(SETTINGS, "session-b")
    assert token != csrf.token_for(
        make_settings("sqlite://").model_copy(update={"secret_key": "another"}), "session-a"
    )
    asyncio.run(csrf.verify(request_with({"X-CSRF-Token": token}), token))
    form = f"csrf_token={token}".encode()
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    asyncio.run(csrf.verify(request_with(ctype, form), token))
    for headers in (
        {},
        {"X-CSRF-Token": csrf.token_for(SETTINGS, "session-b")},
        {"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"},
    ):
        with pytest.raises(csrf.CsrfRejected):
            asyncio.run(csrf.verify(request_with(headers), token))


def test_the_sign_in_form_token_must_match_the_browsers_cookie() -> None:
    first = csrf.form_token(request_with({}), SETTINGS)
    assert first.cookie is not None
    response = Response()
    first.set_on(response, SETTINGS)
    set_cookie = response.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "samesite=strict" in set_cookie.lower()
    cookie = {"Cookie": f"{csrf.PRE_COOKIE}={first.cookie}"}
    again = csrf.form_token(request_with(cookie), SETTINGS)
    assert again.cookie is None and again.value == first.value  # one per browser
    asyncio.run(csrf.verify_form(request_with({**cookie, "X-CSRF-Token": first.value}), SETTINGS))
    other = {"Cookie": f"{csrf.PRE_COOKIE}={'x' * 32}"}
    for headers in (
        {"X-CSRF-Token": first.value},  # no cookie
        {**other, "X-CSRF-Token": first.value},  # another browser's cookie
        {**cookie},  # no token
    ):
        with pytest.raises(csrf.CsrfRejected):
            asyncio.run(csrf.verify_form(request_with(headers), SETTINGS))
