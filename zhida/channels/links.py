"""Application links: `BASE/a/TOKEN`, random, stored hashed, bound to one profile and version.

The token is `secrets.token_urlsafe(16)` (128 random bits, 22 URL-safe characters).
Only its SHA-256 is stored, so a copy of the database cannot be turned into working
links. The URL carries nothing but the token: no profile id, no policy, no name.

A link expires at the end of the policy window's closing day (Asia/Shanghai), or
`link_ttl_days` after it was issued, whichever comes first.

A digest SMS links to the recipient's policy page instead: `BASE/m/TOKEN`, a token
of the same kind in the same table, bound to one profile and to no policy
(`policy_id` is ME_LINK), expiring when the last of the digest's windows closes (or
after `link_ttl_days`). `resolve_token` tells the two apart: an application token
does not open `/m/`, nor a page token `/a/`.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import re
import secrets
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhida.clock import SHANGHAI
from zhida.errors import ZhidaError
from zhida.redact import hash_token
from zhida.settings import Settings, get_settings
from zhida.store.models import ApplicationToken

TOKEN_BYTES = 16  # 128 bits >= the 96 the design asks for
#: characters of a token (URL-safe base64 of TOKEN_BYTES, unpadded): always this many
TOKEN_CHARS = 22
# what token_urlsafe can produce; anything else is refused before touching the database
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: `policy_id` of a token that opens the profile's policy page (/me), not a form
ME_LINK = "*me"
APPLY_PATH, ME_PATH = "a", "m"


class LinkError(ZhidaError):
    """An application link that cannot be used (the page says nothing about whose it was)."""


class LinkNotFound(LinkError):
    """Unknown, tampered or malformed token."""


class LinkExpired(LinkError):
    """A genuine token past its expiry."""


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@functools.lru_cache(maxsize=1024)
def link_expiry(window_closes: dt.date | None, now: dt.datetime, ttl_days: int) -> dt.datetime:
    """End of the closing day in Asia/Shanghai, or now + ttl_days, whichever is first (UTC)."""
    expires = as_utc(now) + dt.timedelta(days=ttl_days)
    if window_closes is not None:
        day_end = dt.datetime.combine(
            window_closes + dt.timedelta(days=1), dt.time(0), tzinfo=SHANGHAI
        ).astimezone(dt.UTC)
        expires = min(expires, day_end)
    return expires


class LinkRow(NamedTuple):
    """An application_tokens row (the token only as its SHA-256)."""

    token_hash: str
    profile_id: str
    policy_id: str
    policy_version_id: int
    expires_at: dt.datetime
    created_at: dt.datetime


LINK_COLUMNS = LinkRow._fields


def new_tokens(n: int) -> list[str]:
    """n tokens as `secrets.token_urlsafe(TOKEN_BYTES)` makes them, from one read of the
    OS's CSPRNG (one read per token took 15 µs here, a third of planning's Python time)."""
    raw = secrets.token_bytes(TOKEN_BYTES * n)
    return [
        base64.urlsafe_b64encode(raw[i : i + TOKEN_BYTES]).rstrip(b"=").decode("ascii")
        for i in range(0, len(raw), TOKEN_BYTES)
    ]


def placeholder_link(settings: Settings, path: str = APPLY_PATH) -> str:
    """A link as long as every real one (tokens have TOKEN_CHARS characters, ASCII), to
    count an SMS's segments before its link is minted."""
    return f"{settings.base_url.rstrip('/')}/{path}/{'0' * TOKEN_CHARS}"


def new_link(
    profile_id: str,
    policy_id: str,
    policy_version_id: int,
    window_closes: dt.date | None,
    now: dt.datetime,
    settings: Settings,
    token: str | None = None,
) -> tuple[str, LinkRow]:
    """A link and the ApplicationToken row to store for it. `token`: one of `new_tokens`,
    else a new one."""
    token = token or secrets.token_urlsafe(TOKEN_BYTES)
    row = LinkRow(
        hash_token(token),
        profile_id,
        policy_id,
        policy_version_id,
        link_expiry(window_closes, now, settings.link_ttl_days),
        as_utc(now),
    )
    path = ME_PATH if policy_id == ME_LINK else APPLY_PATH
    return f"{settings.base_url.rstrip('/')}/{path}/{token}", row


def new_me_link(
    profile_id: str,
    closes: dt.date | None,
    now: dt.datetime,
    settings: Settings,
    token: str | None = None,
) -> tuple[str, LinkRow]:
    """A link to the profile's policy page (`BASE/m/TOKEN`) and its row; `closes`: the
    last closing day of what the message names (None: none closes)."""
    return new_link(profile_id, ME_LINK, 0, closes, now, settings, token)


def issue_link(
    session: Session,
    profile_id: str,
    policy_id: str,
    policy_version_id: int,
    window_closes: dt.date | None,
    now: dt.datetime,
    *,
    settings: Settings | None = None,
) -> str:
    """A new link `{base_url}/a/{token}`; the token is stored only as its SHA-256."""
    url, row = new_link(
        profile_id, policy_id, policy_version_id, window_closes, now, settings or get_settings()
    )
    session.add(ApplicationToken(**row._asdict()))
    session.flush()
    return url


def resolve_token(
    session: Session, token: str, now: dt.datetime, *, me: bool = False
) -> ApplicationToken:
    """The stored token row; LinkNotFound (unknown, tampered, or of the other kind:
    `me` asks for a policy-page token, else an application token) or LinkExpired."""
    if not _TOKEN_SHAPE.fullmatch(token or ""):
        raise LinkNotFound("unknown application link")
    row = session.scalar(
        select(ApplicationToken).where(ApplicationToken.token_hash == hash_token(token))
    )
    if row is None or (row.policy_id == ME_LINK) != me:
        raise LinkNotFound("unknown application link")
    if as_utc(now) >= as_utc(row.expires_at):
        raise LinkExpired("application link expired")
    return row
