"""The step between a claim and the provider: is the message still true, and what is it?

A row planned under one policy version may wait for hours (quiet hours, backoff)
while a stricter version is published or the profile's data changes. So, for the rows
a sender has just claimed, one query per batch reads the policy's current published
version and the profile's current decision:

- no published version of the policy (withdrawn), no profile, no eligible decision,
  or the current version's window closed: the row is **cancelled** (final; the reason
  in `last_error`), never sent;
- a decision not yet brought to the current version (its run is still going): the
  row is given back, due again in RECHECK_SECONDS;
- otherwise the text is composed now, under the CURRENT version (its title, benefit,
  deadline and template, the decision's benefit, the profile's name), with a link
  minted now: a fresh random token bound to the profile, the policy and the current
  version, stored only as its hash (`application_tokens`). The row keeps the
  SHA-256 of the text (`body_hash`) and its segment count; never the text.

So a row of a superseded version goes out only when the profile is eligible under
the version in force, and says what that version says. Every write is conditional
on the row still being `sending`, in the claim's transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Integer, Table, and_, any_, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from zhida.channels.delivery.digest import CANCEL_MEMBER, compose_digest, hand_over, members_of
from zhida.channels.delivery.steps import Claimed, N, Outcome, SendAction
from zhida.channels.links import new_link, new_tokens
from zhida.channels.plan_texts import context, display_name
from zhida.channels.templates import SmsText, sms_text
from zhida.clock import shanghai_date
from zhida.publishing.catalogue import CompiledVersion, compiled_by_id
from zhida.publishing.versions import VersionStatus
from zhida.settings import Settings
from zhida.store.models import ApplicationToken, Decision, PolicyVersion, Profile
from zhida.store.models import NotificationStatus as Status

#: a row whose decision is not yet at the current version waits this long, then is
#: checked again
RECHECK_SECONDS = 60.0
ELIGIBLE = 2

_TOKENS: Table = ApplicationToken.__table__  # type: ignore[assignment]

_CANCEL = (
    update(N)
    .where(N.c.id == bindparam("p_id"), N.c.status == Status.SENDING)
    .values(
        status=Status.CANCELLED,
        last_error=bindparam("p_reason"),
        updated_at=bindparam("p_now"),
    )
)
_RELEASE = (
    update(N)
    .where(N.c.id == bindparam("p_id"), N.c.status == Status.SENDING)
    .values(
        status=Status.QUEUED,
        due_at=bindparam("p_due"),
        last_error=bindparam("p_reason"),
        updated_at=bindparam("p_now"),
    )
)
_COMPOSED = (
    update(N)
    .where(N.c.id == bindparam("p_id"), N.c.status == Status.SENDING)
    .values(body_hash=bindparam("p_hash"), segments=bindparam("p_segments"))
)


def body_hash(text: str) -> str:
    """What a row keeps of the text it was sent with."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _truth_stmt(postgresql: bool) -> Any:
    current = select(PolicyVersion.id, PolicyVersion.policy_id, PolicyVersion.version).where(
        PolicyVersion.status == VersionStatus.PUBLISHED
    )
    cur = current.subquery("cur")
    ids = (
        N.c.id == any_(bindparam("p_ids", type_=ARRAY(Integer)))
        if postgresql  # one statement text whatever the batch size: prepared once
        else N.c.id.in_(bindparam("p_ids", expanding=True))
    )
    return (
        select(
            N.c.id,
            N.c.policy_version_id,
            cur.c.id.label("current_id"),
            cur.c.version.label("current_version"),
            Profile.id.label("found"),
            Profile.data["name"].as_string().label("name"),
            Decision.outcome,
            Decision.policy_version_id.label("decided_id"),
            Decision.benefit,
        )
        .select_from(N)
        .outerjoin(cur, cur.c.policy_id == N.c.policy_id)
        .outerjoin(Profile, Profile.id == N.c.profile_id)
        .outerjoin(
            Decision,
            and_(Decision.profile_id == N.c.profile_id, Decision.policy_id == N.c.policy_id),
        )
        .where(ids)
        .order_by(N.c.id, cur.c.id)
    )


_TRUTH = {True: _truth_stmt(True), False: _truth_stmt(False)}
#: PostgreSQL: the links and the rows' hashes in one statement (one round trip)
_COMPOSED_PG = text(
    "WITH links AS (INSERT INTO application_tokens (token_hash, profile_id, policy_id, "
    "policy_version_id, expires_at, created_at) SELECT * FROM unnest(CAST(:th AS text[]), "
    "CAST(:pr AS text[]), CAST(:po AS text[]), CAST(:pv AS int[]), "
    "CAST(:ex AS timestamptz[]), CAST(:cr AS timestamptz[]))) "
    "UPDATE notifications AS n SET body_hash = v.h, segments = v.s "
    "FROM unnest(CAST(:ids AS int[]), CAST(:hs AS text[]), CAST(:ss AS int[])) AS v(id, h, s) "
    "WHERE n.id = v.id AND n.status = 'sending'"
)


#: compiled versions the sender asked for lately: (database, version id) -> (when,
#: compiled); a published version's text does not change, and this spares a query of
#: the catalogue (which reads and hashes the text) per batch
_RECENT: dict[tuple[str, int], tuple[float, CompiledVersion]] = {}
RECENT_SECONDS = 30.0


def _compiled(session: Session, version_ids: set[int]) -> dict[int, CompiledVersion]:
    now, db = time.monotonic(), str(session.connection().engine.url)
    out: dict[int, CompiledVersion] = {}
    for v in version_ids:
        found = _RECENT.get((db, v))
        if found is not None and now - found[0] < RECENT_SECONDS:
            out[v] = found[1]
    missing = version_ids - out.keys()
    if missing:
        fresh = compiled_by_id(session, missing)
        _RECENT.update({(db, v): (now, c) for v, c in fresh.items()})
        out.update(fresh)
    return out


def _truth(session: Session, ids: list[int]) -> dict[int, Any]:
    """Per row: its version, the policy's current published version (and number), the
    profile's name (None: no such profile) and its stored decision. One query."""
    conn = session.connection()
    stmt = _TRUTH[conn.dialect.name == "postgresql"]
    return {r.id: r for r in conn.execute(stmt, {"p_ids": ids})}  # newest published last


def _write_composed(
    session: Session, links: list[dict[str, Any]], composed: list[dict[str, Any]]
) -> None:
    if session.connection().dialect.name != "postgresql":
        session.execute(insert(_TOKENS), links)
        session.execute(_COMPOSED, composed)
        return
    session.execute(
        _COMPOSED_PG,
        {
            "th": [r["token_hash"] for r in links],
            "pr": [r["profile_id"] for r in links],
            "po": [r["policy_id"] for r in links],
            "pv": [r["policy_version_id"] for r in links],
            "ex": [r["expires_at"] for r in links],
            "cr": [r["created_at"] for r in links],
            "ids": [r["p_id"] for r in composed],
            "hs": [r["p_hash"] for r in composed],
            "ss": [r["p_segments"] for r in composed],
        },
    )


def check_and_compose(
    session: Session, claimed: Sequence[Claimed], now: dt.datetime, settings: Settings
) -> tuple[list[Claimed], dict[int, Outcome]]:
    """The claimed rows still true, with their text and link composed (in order), and
    an Outcome for each of the others (cancelled, or given back to wait for its run).
    A digest's lead is checked with its members (`zhida.channels.delivery.digest`)."""
    if not claimed:
        return [], {}
    members = members_of(session, claimed)
    ids = [c.id for c in claimed] + [m for group in members.values() for m, _ in group]
    truth = _truth(session, ids)
    versions = _compiled(
        session, {t.current_id for t in truth.values() if t.current_id is not None}
    )
    step = _Compose(session, truth, versions, now, settings, len(claimed))
    for c in claimed:
        step.one(c, members.get(c.id, []))
    return step.finish()


True_ = tuple[int, str, Any, CompiledVersion]  # a row still true: id, policy, truth, version


class _Compose:
    """One batch of check_and_compose: the writes gathered, then done in few statements."""

    def __init__(
        self,
        session: Session,
        truth: dict[int, Any],
        versions: dict[int, CompiledVersion],
        now: dt.datetime,
        settings: Settings,
        n: int,
    ):
        self.session, self.truth, self.versions = session, truth, versions
        self.now, self.settings, self.today = now, settings, shanghai_date(now)
        self.tokens = iter(new_tokens(n))
        self.ready: list[Claimed] = []
        self.outcomes: dict[int, Outcome] = {}
        self.cancels: list[dict[str, Any]] = []
        self.member_cancels: list[dict[str, Any]] = []
        self.waits: list[dict[str, Any]] = []
        self.links: list[dict[str, Any]] = []
        self.composed: list[dict[str, Any]] = []

    def verdict(self, nid: int, policy_id: str) -> tuple[str, Any]:
        """("cancel", reason) | ("wait", reason) | ("ok", (truth row, current version))."""
        t = self.truth.get(nid)
        version = self.versions.get(t.current_id) if t is not None else None
        reason = _cancel_reason(t, version, self.today)
        if reason is not None:
            return "cancel", reason
        assert t is not None and version is not None
        if t.decided_id != t.current_id:
            return "wait", f"waiting for re-evaluation under {policy_id}@v{t.current_version}"
        return "ok", (t, version)

    def one(self, c: Claimed, members: list[tuple[int, str]]) -> None:
        verdicts = [
            (nid, pid, *self.verdict(nid, pid)) for nid, pid in [(c.id, c.policy_id), *members]
        ]
        waiting = [v for v in verdicts if v[2] == "wait"]
        if waiting:
            self.wait(c, waiting[0][3])
            return
        true: list[True_] = []
        for nid, pid, kind, value in verdicts:
            if kind == "cancel":
                rows = self.cancels if nid == c.id else self.member_cancels
                rows.append({"p_id": nid, "p_reason": value, "p_now": self.now})
            else:
                true.append((nid, pid, *value))
        if not true or true[0][0] != c.id:
            self.outcomes[c.id] = Outcome(c.id, SendAction.CANCELLED, detail=verdicts[0][3])
            if not true:
                return
            handed = hand_over(self.session, c, true[0][:2], [t[0] for t in true[1:]], self.now)
            if handed is None:
                return
            c = handed
        if len(true) == 1:
            self.compose_one(c, true[0][2], true[0][3])
            return
        ready, sms, link = compose_digest(
            c, true, self.today, self.now, self.settings, next(self.tokens)
        )
        self.links.append(link)
        self.add(ready, sms)

    def wait(self, c: Claimed, reason: str) -> None:
        due = self.now + dt.timedelta(seconds=RECHECK_SECONDS)
        self.waits.append({"p_id": c.id, "p_due": due, "p_reason": reason, "p_now": self.now})
        self.outcomes[c.id] = Outcome(
            c.id, SendAction.RELEASED, retry_in=RECHECK_SECONDS, detail=reason
        )

    def compose_one(self, c: Claimed, t: Any, version: CompiledVersion) -> None:
        policy = version.policy
        link, row = new_link(
            c.profile_id,
            c.policy_id,
            version.version_id,
            policy.window.closes,
            self.now,
            self.settings,
            next(self.tokens),
        )
        self.links.append(row._asdict())
        ctx = replace(
            context(t.name, policy, t.benefit, link, self.today), name=display_name(t.name, policy)
        )
        settings = self.settings
        sms = sms_text(ctx, settings.sms_signature, settings.sms_opt_out_hint, policy.sms_template)
        self.add(c._replace(body=sms.text, segments=sms.segments, link=link), sms)

    def add(self, c: Claimed, sms: SmsText) -> None:
        self.composed.append(
            {"p_id": c.id, "p_hash": body_hash(sms.text), "p_segments": sms.segments}
        )
        self.ready.append(c)

    def finish(self) -> tuple[list[Claimed], dict[int, Outcome]]:
        session = self.session
        if self.cancels:
            session.execute(_CANCEL, self.cancels)
        if self.member_cancels:
            session.execute(CANCEL_MEMBER, self.member_cancels)
        if self.waits:
            session.execute(_RELEASE, self.waits)
        if self.links:
            _write_composed(session, self.links, self.composed)
        return self.ready, self.outcomes


def _cancel_reason(t: Any, version: Any, today: dt.date) -> str | None:
    """Why a row can no longer be sent, or None."""
    if t is None:
        return "row gone"
    if t.current_id is None or version is None:
        return "policy withdrawn: no published version"
    superseded = t.policy_version_id != t.current_id
    where = f" under the current version v{t.current_version}" if superseded else ""
    if t.found is None:
        return "profile gone"
    if t.outcome != ELIGIBLE:
        return f"no longer eligible{where}"
    closes = version.policy.window.closes
    if closes is not None and today > closes:
        return "application window closed"
    return None
