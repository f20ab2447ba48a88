"""The pre-send step: a row no longer true is cancelled, never sent; a true one is
composed at send time under the current version, with a link kept only as its hash."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import re
from typing import Any

from sqlalchemy import event, select, text

from tests.support.factories import notification, true_notifications
from zhida.channels.delivery import batch
from zhida.channels.delivery.steps import Outcome
from zhida.channels.ratelimit import LocalTokenBucket
from zhida.channels.sms.recording import RecordingProvider
from zhida.settings import Settings
from zhida.store.db import get_engine, session_scope
from zhida.store.models import ApplicationToken, Decision, Notification, Officer, PolicyVersion

POLICY = "zj-little-giant"
_profiles = itertools.count(1)
V2 = """id: zj-little-giant
title: 第二版政策
audience: enterprise
benefit: {amount: 30万}
criteria:
  - {id: c1, label: 条件一, when: revenue >= 3亿}
"""


def settings() -> Settings:
    return Settings(quiet_start_hour=0, quiet_end_hour=0, sms_rate_per_second=10_000)


def add(url: str, n: int = 1) -> list[int]:
    with session_scope(url) as s:
        rows = [
            notification(profile_id=f"P{next(_profiles)}", to=f"+8613900000{i:03d}")
            for i in range(n)
        ]
        true_notifications(s, rows)
        return [r.id for r in rows]


def send(url: str, ids: list[int], provider: RecordingProvider) -> list[Outcome]:
    return batch.send_sms_batch(
        ids,
        sessions=functools.partial(session_scope, url),
        provider=provider,
        bucket=LocalTokenBucket(1e6),
        settings=settings(),
    )


def publish_v2(url: str) -> int:
    """v2 of the policy published, v1 retired (as `approve` does)."""
    with session_scope(url) as s:
        for v in s.scalars(select(PolicyVersion).where(PolicyVersion.policy_id == POLICY)):
            v.status = "retired"
        author = s.scalars(select(Officer)).first()
        assert author is not None
        v2 = PolicyVersion(
            policy_id=POLICY,
            version=2,
            status="published",
            audience="enterprise",
            title="第二版政策",
            yaml_text=V2,
            sha256="v2",
            author_id=author.id,
        )
        s.add(v2)
        s.flush()
        return v2.id


def row(url: str, nid: int) -> Notification:
    with session_scope(url) as s:
        found = s.get(Notification, nid)
        assert found is not None
        return found


def profile_of(url: str, nid: int) -> str:
    return row(url, nid).profile_id


def test_superseded_and_not_eligible_under_the_current_version_is_cancelled(
    db_url: str,
) -> None:
    keep, drop, late = add(db_url, 3)
    v2 = publish_v2(db_url)
    with session_scope(db_url) as s:  # v2's run: one stays eligible, one not, one not yet
        kept = s.get(Decision, (profile_of(db_url, keep), POLICY))
        assert kept is not None
        kept.policy_version_id, kept.benefit = v2, 300_000.0
        s.delete(s.get(Decision, (profile_of(db_url, drop), POLICY)))
    provider = RecordingProvider()
    outcomes = send(db_url, [keep, drop, late], provider)
    assert [o.action for o in outcomes] == ["sent", "cancelled", "released"]
    assert [m.reference for m in provider.sent] == [str(keep)]
    dropped = row(db_url, drop)
    assert dropped.status == "cancelled"
    assert dropped.last_error == "no longer eligible under the current version v2"
    # the one eligible under v2 says what v2 says, and its link is bound to v2
    [sent] = provider.sent
    assert "第二版政策" in sent.body and "最高30万元" in sent.body
    with session_scope(db_url) as s:
        token = s.scalars(select(ApplicationToken)).one()
        assert (token.profile_id, token.policy_version_id) == (profile_of(db_url, keep), v2)
    waiting = row(db_url, late)  # its decision is still v1's: checked again later
    assert waiting.status == "queued" and "re-evaluation" in (waiting.last_error or "")
    # a cancelled row is final: a second task does nothing
    assert send(db_url, [drop], provider)[0].action == "not_claimed"
    assert len(provider.sent) == 1


def test_a_decision_gone_or_a_policy_withdrawn_cancels(db_url: str) -> None:
    gone, other = add(db_url, 2)
    with session_scope(db_url) as s:
        s.delete(s.get(Decision, (profile_of(db_url, gone), POLICY)))
    provider = RecordingProvider()
    assert send(db_url, [gone], provider)[0].action == "cancelled"
    assert row(db_url, gone).last_error == "no longer eligible"
    with session_scope(db_url) as s:
        for v in s.scalars(select(PolicyVersion)):
            v.status = "retired"
    assert send(db_url, [other], provider)[0].action == "cancelled"
    assert row(db_url, other).last_error == "policy withdrawn: no published version"
    assert provider.sent == []


def test_no_link_or_text_in_clear_at_rest(db_url: str) -> None:
    """The text is composed at send time; the token is stored only as its hash, the text
    only as its hash; no text column of any table holds the token."""
    ids = add(db_url, 3)
    provider = RecordingProvider()
    assert [o.action for o in send(db_url, ids, provider)] == ["sent"] * 3
    engine = get_engine(db_url)
    for sent in provider.sent:
        nid = int(sent.reference)
        token = re.search(r"/a/([A-Za-z0-9_-]+)", sent.body)
        assert token is not None and sent.meta["link"].endswith(token.group(1))
        stored = row(db_url, nid)
        assert stored.body == "" and stored.segments == sent.meta["segments"]
        assert stored.body_hash == hashlib.sha256(sent.body.encode()).hexdigest()
        with session_scope(db_url) as s:
            hashed = hashlib.sha256(token.group(1).encode()).hexdigest()
            assert s.scalar(
                select(ApplicationToken.id).where(ApplicationToken.token_hash == hashed)
            )
        with engine.connect() as conn:
            for table in ("notifications", "inbox_messages", "application_tokens", "profiles"):
                dump = " ".join(str(r) for r in conn.execute(text(f"SELECT * FROM {table}")))
                assert token.group(1) not in dump, table


def test_the_check_is_one_query_per_batch(db_url: str) -> None:
    """The truth of a batch is read in one query (plus the compiled versions'), whatever
    its size: delivery must stay at hundreds of SMS per second."""
    from zhida.channels.delivery.presend import check_and_compose
    from zhida.channels.delivery.steps import claim_many

    counts: list[int] = []
    selects: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    engine = get_engine(db_url)
    for n in (1, 25):
        ids = add(db_url, n)
        selects.clear()
        with session_scope(db_url) as s:
            claimed = claim_many(s, ids, dt.datetime.now(dt.UTC))
            event.listen(engine, "before_cursor_execute", seen)
            try:
                ready, _ = check_and_compose(s, claimed, dt.datetime.now(dt.UTC), settings())
            finally:
                event.remove(engine, "before_cursor_execute", seen)
        assert len(ready) == n
        counts.append(len(selects))
    assert counts[1] <= counts[0] <= 2  # 25 rows: no more than 1


def test_a_retry_gets_a_fresh_link_and_knows_the_last_texts_hash(db_url: str) -> None:
    """Each attempt composes its text anew (a fresh token); the claim hands the sender
    the hash of the text of the attempt before, for a lookup at the provider."""
    from zhida.channels.delivery.steps import claim_many
    from zhida.channels.sms.base import ProviderError

    class FailsOnce(RecordingProvider):
        def send_sms(self, to: str, body: str, reference: str, *, meta: Any = None) -> Any:
            self.bodies = [*getattr(self, "bodies", []), body]
            if len(self.bodies) == 1:
                raise ProviderError("busy", "429", True)
            return super().send_sms(to, body, reference, meta=meta)

    [nid] = add(db_url)
    provider = FailsOnce()
    assert send(db_url, [nid], provider)[0].action == "retry"
    first = hashlib.sha256(provider.bodies[0].encode()).hexdigest()
    assert row(db_url, nid).body_hash == first
    with session_scope(db_url) as s:
        s.get(Notification, nid).due_at = dt.datetime.now(dt.UTC)  # type: ignore[union-attr]
    with session_scope(db_url) as s:
        [claimed] = claim_many(s, [nid], dt.datetime.now(dt.UTC))
        assert claimed.sent_hash == first
        s.rollback()
    assert send(db_url, [nid], provider)[0].action == "sent"
    assert provider.bodies[0] != provider.bodies[1]  # a fresh link
    assert row(db_url, nid).body_hash == hashlib.sha256(provider.bodies[1].encode()).hexdigest()
