"""Application links: random (>= 96 bits), hashed at rest, bound, expiring, tamper-proof."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets

import pytest
from sqlalchemy import select

from zhida.channels.links import (
    TOKEN_BYTES,
    LinkExpired,
    LinkNotFound,
    issue_link,
    link_expiry,
    new_tokens,
    resolve_token,
)
from zhida.settings import Settings
from zhida.store.db import session_scope
from zhida.store.models import ApplicationToken

NOW = dt.datetime(2026, 6, 20, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
SETTINGS = Settings(base_url="https://zlb.example.gov.cn/zd", link_ttl_days=30)


def token_of(url: str) -> str:
    prefix = "https://zlb.example.gov.cn/zd/a/"
    assert url.startswith(prefix)
    return url.removeprefix(prefix)


def test_link_is_random_hashed_and_carries_nothing_personal(db_url: str) -> None:
    with session_scope(db_url) as s:
        urls = [
            issue_link(
                s, "E0000001", "zj-little-giant", 7, dt.date(2026, 6, 30), NOW, settings=SETTINGS
            )
            for _ in range(20)
        ]
    tokens = [token_of(u) for u in urls]
    assert len(set(tokens)) == 20
    for token in tokens:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert len(raw) * 8 >= 96
        assert "E0000001" not in token and "little" not in token
    with session_scope(db_url) as s:
        rows = list(s.scalars(select(ApplicationToken).order_by(ApplicationToken.id)))
        assert [r.token_hash for r in rows] == [
            hashlib.sha256(t.encode()).hexdigest() for t in tokens
        ]
        for row in rows:  # the token itself is nowhere in the row
            assert all(tokens[0] not in str(v) for v in vars(row).values())
            assert (row.profile_id, row.policy_id, row.policy_version_id) == (
                "E0000001",
                "zj-little-giant",
                7,
            )
        found = resolve_token(s, tokens[3], NOW)
        assert found.id == rows[3].id


def test_batch_tokens_are_what_token_urlsafe_makes() -> None:
    """new_tokens (one CSPRNG read per batch): 128 bits each, URL-safe, no padding, the
    shape token_urlsafe gives, all distinct within and across batches."""
    batches = [new_tokens(500), new_tokens(500), new_tokens(1)]
    tokens = [t for batch in batches for t in batch]
    assert [len(b) for b in batches] == [500, 500, 1] and new_tokens(0) == []
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)
        assert len(base64.urlsafe_b64decode(token + "==")) == TOKEN_BYTES
    assert {len(secrets.token_urlsafe(TOKEN_BYTES))} == {len(t) for t in tokens}


def test_link_expires_at_end_of_closing_day_in_shanghai(db_url: str) -> None:
    with session_scope(db_url) as s:
        token = token_of(issue_link(s, "E1", "p", 1, dt.date(2026, 6, 30), NOW, settings=SETTINGS))
    day_end = dt.datetime(2026, 6, 30, 16, 0, tzinfo=dt.UTC)  # 2026-07-01 00:00 +08:00
    with session_scope(db_url) as s:
        assert resolve_token(s, token, day_end - dt.timedelta(seconds=1)).profile_id == "E1"
        with pytest.raises(LinkExpired):
            resolve_token(s, token, day_end)
        with pytest.raises(LinkExpired):
            resolve_token(s, token, day_end + dt.timedelta(days=3))


def test_link_expires_after_ttl_when_that_comes_first(db_url: str) -> None:
    short = Settings(base_url=SETTINGS.base_url, link_ttl_days=5)
    with session_scope(db_url) as s:
        far = token_of(issue_link(s, "E1", "p", 1, dt.date(2027, 1, 1), NOW, settings=short))
        none = token_of(issue_link(s, "E1", "p", 1, None, NOW, settings=short))
    limit = NOW + dt.timedelta(days=5)
    with session_scope(db_url) as s:
        for token in (far, none):
            resolve_token(s, token, limit - dt.timedelta(seconds=1))
            with pytest.raises(LinkExpired):
                resolve_token(s, token, limit)


def test_unknown_tampered_and_malformed_tokens_are_not_found(db_url: str) -> None:
    with session_scope(db_url) as s:
        token = token_of(issue_link(s, "E1", "p", 1, None, NOW, settings=SETTINGS))
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    with session_scope(db_url) as s:
        for bad in (
            flipped,
            token[:-1],
            token + "x",
            token.upper() if token.upper() != token else token.lower(),
            "",
            "../../etc/passwd",
            "a" * 500,
            "短信链接无效令牌令牌令牌令牌令牌",
        ):
            with pytest.raises(LinkNotFound):
                resolve_token(s, bad, NOW)
        # expired links stay "expired", not "not found"; nothing else about them leaks
        with pytest.raises(LinkExpired):
            resolve_token(s, token, NOW + dt.timedelta(days=31))


def test_link_expiry_rule_without_database() -> None:
    naive_now = dt.datetime(2026, 6, 29, 20, 0)  # naive means UTC (as SQLite returns it)
    assert link_expiry(dt.date(2026, 6, 30), naive_now, 30) == dt.datetime(
        2026, 6, 30, 16, 0, tzinfo=dt.UTC
    )
    assert link_expiry(None, naive_now, 30) == dt.datetime(2026, 7, 29, 20, 0, tzinfo=dt.UTC)
    # a window already closed gives a link that is already expired
    assert link_expiry(dt.date(2026, 6, 1), NOW, 30) < NOW
