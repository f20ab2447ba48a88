"""Server-Sent Events: a message reaches an open page, through Redis or by polling the table."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from tests.api.conftest import Web, add_profiles, make_app, make_settings, publish
from zhida.api.routes import inbox as inbox_routes
from zhida.channels.inbox import channel_name, push_message
from zhida.store.db import session_scope


def events(text: str) -> list[dict[str, object]]:
    out = []
    for block in text.split("\n\n"):
        lines = dict(
            line.split(": ", 1)
            for line in block.splitlines()
            if ": " in line and not line.startswith(":")
        )
        if lines.get("event") == "inbox":
            data = json.loads(lines["data"])
            assert str(data["id"]) == lines["id"]
            out.append(data)
    return out


def push_later(
    url: str, delay: float, redis_url: str, *pushes: tuple[str, str]
) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        for profile_id, title in pushes:
            with session_scope(url) as s:
                push_message(s, profile_id, "zd-test-grant", title, "正文", redis_url=redis_url)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture()
def fast_stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[inbox_routes.StreamConfig]:
    config = inbox_routes.StreamConfig(
        poll_seconds=0.1, heartbeat_seconds=0.5, lifetime_seconds=1.2, retry_ms=500
    )
    monkeypatch.setattr(inbox_routes, "STREAM", config)
    yield config


def test_stream_delivers_by_polling_without_redis(
    web: Web, fast_stream: inbox_routes.StreamConfig
) -> None:
    client = web.client()
    web.login(client, "E1")
    with session_scope(web.url) as s:  # already on the page: not sent again
        old = push_message(s, "E1", "p", "旧消息", "正文", redis_url="").id
    thread = push_later(web.url, 0.3, "", ("E2", "乙的新消息"), ("E1", "甲的新消息"))
    started = time.monotonic()
    r = client.get("/api/inbox/stream", params={"after": old})
    thread.join()
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    got = events(r.text)
    assert [e["title"] for e in got] == ["甲的新消息"]  # never another profile's
    assert (
        got[0]["unread"] == 2
        and got[0]["link"] == f"/inbox/{got[0]['id']}/apply"
        and got[0]["read"] is False
    )
    assert ": heartbeat" in r.text and r.text.startswith("retry: 500")
    assert time.monotonic() - started < 5  # the connection's lifetime is bounded


def test_stream_resumes_after_last_event_id(
    web: Web, fast_stream: inbox_routes.StreamConfig
) -> None:
    fast_stream.lifetime_seconds = 0.3
    with session_scope(web.url) as s:
        ids = [push_message(s, "E1", "p", f"消息{i}", "正文", redis_url="").id for i in range(3)]
    client = web.client()
    web.login(client, "E1")
    r = client.get(
        "/api/inbox/stream", headers={"Last-Event-ID": str(ids[0])}, params={"after": ids[2]}
    )  # Last-Event-ID (a reconnect) wins
    assert [e["title"] for e in events(r.text)] == ["消息1", "消息2"]
    # a new connection without either starts from now
    assert events(client.get("/api/inbox/stream").text) == []


def test_stream_delivers_through_redis(
    api_db_url: str, redis_url: str, fast_stream: inbox_routes.StreamConfig
) -> None:
    # no polling here: the table is read only when Redis wakes the stream (and at the heartbeat)
    fast_stream.heartbeat_seconds = 60
    fast_stream.lifetime_seconds = 1.5
    add_profiles(api_db_url)
    version_id = publish(api_db_url)
    settings = make_settings(api_db_url, redis_url=redis_url)
    web = Web(api_db_url, settings, make_app(settings), version_id)
    client = web.client()
    web.login(client, "E1")
    listener = redis.Redis.from_url(redis_url).pubsub()
    listener.subscribe(channel_name("E1"))
    assert listener.get_message(timeout=1)["type"] == "subscribe"
    thread = push_later(api_db_url, 0.4, redis_url, ("E2", "乙的新消息"), ("E1", "甲的新消息"))
    r = client.get("/api/inbox/stream")
    thread.join()
    got = events(r.text)
    assert [e["title"] for e in got] == ["甲的新消息"]
    published = listener.get_message(timeout=1)
    assert published is not None and published["type"] == "message"
    assert json.loads(published["data"]) == {"id": got[0]["id"]}  # an id, no content
    listener.close()


def test_event_is_published_only_after_commit(api_db_url: str, redis_url: str) -> None:
    listener = redis.Redis.from_url(redis_url).pubsub()
    listener.subscribe(channel_name("E7"))
    listener.get_message(timeout=1)
    with session_scope(api_db_url) as s:
        push_message(s, "E7", "p", "回滚的消息", "正文", redis_url=redis_url)
        s.rollback()
        message = push_message(s, "E7", "p", "提交的消息", "正文", redis_url=redis_url)
        s.flush()
        assert listener.get_message(timeout=0.3) is None  # not yet committed
    got = listener.get_message(timeout=1)
    assert got is not None and json.loads(got["data"]) == {"id": message.id}
    assert listener.get_message(timeout=0.3) is None  # the rolled back one never went out
    listener.close()


def test_unreachable_redis_does_not_break_push_or_stream(
    web: Web, fast_stream: inbox_routes.StreamConfig
) -> None:
    dead = "redis://127.0.0.1:1/0"
    with session_scope(web.url) as s:  # the row is committed; the event is lost, logged
        push_message(s, "E1", "p", "消息", "正文", redis_url=dead)
    settings = make_settings(web.url, redis_url=dead)
    client = Web(web.url, settings, make_app(settings), web.version_id).client()
    web.login(client, "E1")
    thread = push_later(web.url, 0.3, dead, ("E1", "靠轮询送达"))
    r = client.get("/api/inbox/stream")
    thread.join()
    assert [e["title"] for e in events(r.text)] == ["靠轮询送达"]
