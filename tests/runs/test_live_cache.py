"""The live matchers the API shares: one per set of published versions, used at once
after a publish, built once whatever the threads, bounded."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest

from tests.support.factories import make_frame, store_profiles
from zhida.channels.selfservice import declare
from zhida.profiles.schema import builtin_schema
from zhida.publishing.officers import add_officer
from zhida.publishing.versions import approve, submit
from zhida.runs import live
from zhida.runs.live import live_matcher
from zhida.store.db import session_scope
from zhida.store.models import Decision, PolicyVersion

AS_OF = dt.date(2026, 4, 1)
NOW = dt.datetime(2026, 4, 1, 10, 0, tzinfo=dt.UTC)


def _policy(pid: str, threshold: str) -> str:
    return (
        f"id: {pid}\ntitle: 营收奖励\naudience: enterprise\nbenefit: {{amount: 5万}}\n"
        f"criteria:\n  - {{id: rev, label: 营收达标, when: revenue >= {threshold}}}\n"
    )


def _publish(url: str, text: str, pid: str) -> int:
    with session_scope(url) as s:
        author, _ = add_officer(s, f"a-{pid}-{hash(text) & 0xFFFF}", "author")
        approver, _ = add_officer(s, f"b-{pid}-{hash(text) & 0xFFFF}", "approver")
        version = submit(s, author, text, f"{pid}.yaml")
        approve(s, approver, version, None)
        return version.id


def _declare(url: str, revenue: str) -> Decision | None:
    with session_scope(url) as s:
        declare(s, "E1", "revenue", revenue, NOW, AS_OF)
    with session_scope(url) as s:
        found = s.get(Decision, ("E1", "rev"))
        if found is not None:
            s.expunge(found)
        return found


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    live.clear_live_matchers()
    yield
    live.clear_live_matchers()


@pytest.fixture()
def url(db_url: str) -> str:
    with session_scope(db_url) as s:
        store_profiles(
            s,
            make_frame([{"id": "E1", "name": "甲", "revenue": 1e6}], builtin_schema("enterprise")),
        )
    return db_url


def test_a_newly_published_version_decides_the_next_declaration(url: str) -> None:
    v1 = _publish(url, _policy("rev", "1000万"), "rev")
    made = _declare(url, "1500万")
    assert made is not None and (made.outcome, made.policy_version_id) == (2, v1)
    with session_scope(url) as s:
        first = live_matcher(s)
        assert live_matcher(s) is first  # the same versions: the same matcher
    v2 = _publish(url, _policy("rev", "2000万"), "rev")  # v1 retired
    assert _declare(url, "1800万") is None  # ineligible under v2 at once: no decision
    made = _declare(url, "2500万")
    assert made is not None and (made.outcome, made.policy_version_id) == (2, v2)
    with session_scope(url) as s:
        now = live_matcher(s)
        assert now is not first and now.version_ids == {"rev": v2}


def _edit_published(url: str, **values: str) -> None:
    """Publish a policy, see it used, then change its row in place."""
    v1 = _publish(url, _policy("rev", "1000万"), "rev")
    assert _declare(url, "1500万") is not None
    with session_scope(url) as s:
        version = s.get(PolicyVersion, v1)
        assert version is not None
        for name, value in values.items():
            setattr(version, name, value)


def test_a_retired_version_is_no_longer_judged(url: str) -> None:
    _edit_published(url, status="retired")
    with session_scope(url) as s:
        assert live_matcher(s).policies == {}


def test_a_version_edited_in_place_is_not_served_stale(url: str) -> None:
    _edit_published(url, yaml_text=_policy("rev", "3000万"))  # same id, new text
    assert _declare(url, "1600万") is None


def test_concurrent_first_requests_build_one_matcher(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish(url, _policy("rev", "1000万"), "rev")
    builds: list[int] = []
    build = live._build

    def counted(versions):  # type: ignore[no-untyped-def]
        builds.append(1)
        return build(versions)

    monkeypatch.setattr(live, "_build", counted)
    start = threading.Barrier(4)
    got: list[object] = []

    def ask() -> None:
        with session_scope(url) as s:
            start.wait()
            got.append(live_matcher(s))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(m is got[0] for m in got)
    assert builds == [1]


def test_the_cache_is_bounded_and_a_dropped_matcher_still_serves_its_holder(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "CACHE_SIZE", 2)
    with session_scope(url) as s:
        held = live_matcher(s)  # no policy published yet
    for k in range(3):
        _publish(url, _policy(f"p{k}", "1000万"), f"p{k}")
        with session_scope(url) as s:
            live_matcher(s)
    assert len(live._cache) == 2
    assert held not in live._cache.values()
    assert held.matcher.match({"id": "E1"}, "enterprise", AS_OF) == []  # still open
