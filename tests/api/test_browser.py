"""The whole citizen-facing flow in a real browser (Debian's Chromium driven by Playwright).

Sign in with a login link (confirmed by a same-site form post), receive a pushed notification without reloading (the
planner turns a transition into eligibility into an in-app message), follow its
link, see the form prefilled, submit, see the reference; a tampered link is refused.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import (
    CLOSES,
    IN_CI,
    POLICY_ID,
    TITLE,
    add_profiles,
    make_app,
    make_settings,
    policy_text,
    publish,
)
from zhida.api.routes import inbox as inbox_routes
from zhida.api.security import login_url
from zhida.settings import Settings, get_settings
from zhida.store.db import session_scope
from zhida.store.models import Submission

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def need_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message + " (CI=true: the browser test cannot be skipped)")
        pytest.skip(message)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        if IN_CI:
            pytest.fail(f"playwright is not installed: {err}")
        pytest.skip(f"playwright is not installed: {err}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def server(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """uvicorn on a free 127.0.0.1 port in a thread, on a temp SQLite database."""
    import uvicorn

    need_chromium()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(sqlite_url, base_url=base)
    # the planner reads the process settings (base_url of the links it issues)
    monkeypatch.setenv("ZHIDA_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ZHIDA_BASE_URL", base)
    monkeypatch.setenv("ZHIDA_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("ZHIDA_REDIS_URL", "")
    monkeypatch.setenv(
        "ZHIDA_SMS_OUTBOX",
        str(Path(sqlite_url.removeprefix("sqlite:///")).parent / "outbox" / "sms.jsonl"),
    )
    monkeypatch.setenv("ZHIDA_SMS_ECHO", "false")
    monkeypatch.setenv("ZHIDA_QUIET_START_HOUR", "0")  # the SMS side is not under test here
    monkeypatch.setenv("ZHIDA_QUIET_END_HOUR", "0")
    get_settings.cache_clear()
    from zhida.worker import configure

    configure(get_settings())  # eager: a run and its planning happen in this process
    monkeypatch.setattr(
        inbox_routes,
        "STREAM",
        inbox_routes.StreamConfig(
            poll_seconds=0.3, heartbeat_seconds=5, lifetime_seconds=30, retry_ms=500
        ),
    )
    add_profiles(sqlite_url)
    config = uvicorn.Config(
        make_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield settings
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        get_settings.cache_clear()


def notify_eligible(settings: Settings, profile_id: str) -> None:
    """An officer publishes the policy: the run finds the profile eligible (a transition),
    and the planner turns it into an in-app message, which the open page hears of."""
    from zhida.store.models import InboxMessage
    from zhida.worker import plan_and_queue, start_new_run

    version_id = publish(settings.database_url)
    start_new_run("enterprise", [version_id], dt.date.today())
    summary = plan_and_queue()
    assert summary.inapp >= 1
    with session_scope(settings.database_url) as s:
        assert s.query(InboxMessage).filter_by(profile_id=profile_id).count() == 1


def test_inbox_push_form_submit_and_refusal(server: Settings, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(locale="zh-CN", viewport={"width": 960, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))

            page.goto(login_url(server, "E1"))
            expect(page.locator("h1")).to_have_text("确认登录")  # a GET signs no one in
            page.get_by_role("button", name="确认登录").click()
            expect(page).to_have_url(f"{server.base_url}/inbox")
            expect(page.locator("h1")).to_have_text("我的消息")
            expect(page.locator("#unread-count")).to_have_text("0")
            expect(page.locator("#empty")).to_be_visible()

            notify_eligible(server, "E1")  # no reload: the page hears of it
            toast = page.locator(".toast")
            expect(toast).to_contain_text(TITLE, timeout=10_000)
            expect(page.locator("#unread-count")).to_have_text("1")
            expect(page.locator("li.msg.unread")).to_have_count(1)
            expect(page.locator("#empty")).to_be_hidden()
            page.wait_for_timeout(400)  # let the toast finish sliding in
            page.screenshot(path=str(tmp_path / "1-inbox-push.png"), full_page=True)

            page.locator("li.msg a.apply").click()
            page.wait_for_url(re.compile(r"/a/[A-Za-z0-9_-]{22}$"))
            link = page.url
            expect(page.locator("h1.policy-title")).to_have_text(TITLE)
            expect(page.locator('input[name="f0"]')).to_have_value("杭州测试科技有限公司")
            expect(page.locator("#f2")).to_have_value("15000")  # computed: read-only
            expect(page.locator(".benefit")).to_contain_text("20万元")
            page.screenshot(path=str(tmp_path / "2-form.png"), full_page=True)

            page.get_by_role("button", name="确认并提交申报").click()
            reference = page.locator("#reference")
            expect(reference).to_have_text(re.compile(r"^ZD-\d{8}-[A-HJ-NP-Z2-9]{6}$"))
            expect(page.locator("h1.ok-title")).to_have_text("申报已提交")
            page.screenshot(path=str(tmp_path / "3-submitted.png"), full_page=True)
            shown = reference.inner_text()

            token = link.rsplit("/", 1)[1]
            tampered = link[: -len(token)] + token[:-1] + ("A" if token[-1] != "A" else "B")
            response = page.goto(tampered)
            assert response is not None and response.status == 404
            expect(page.locator("h1")).to_have_text("链接无效")
            assert TITLE not in page.content() and "杭州测试科技有限公司" not in page.content()
            page.screenshot(path=str(tmp_path / "4-refused.png"), full_page=True)

            # back in the inbox, the message has been read (clicking it marked it)
            page.goto(f"{server.base_url}/inbox")
            expect(page.locator("#unread-count")).to_have_text("0")
        finally:
            browser.close()
    with session_scope(server.database_url) as s:
        [sub] = s.query(Submission).all()
        assert (sub.profile_id, sub.reference) == ("E1", shown)
    # a refused link logs a 404 in the console; nothing else may fail (CSP, scripts, assets)
    assert [m for m in problems if "404" not in m] == []


def test_form_edits_are_checked_and_flagged_in_the_browser(
    server: Settings, tmp_path: Path
) -> None:
    """Issue 14 item 6 in Chromium: a computed field cannot be edited, an edited field
    says it will be shown to the officer, bad values are refused in Chinese next to
    their field with what was typed kept, and the corrected form is stored with the
    changes flagged."""
    from playwright.sync_api import expect, sync_playwright

    from zhida.channels.links import issue_link

    version_id = publish(server.database_url)
    with session_scope(server.database_url) as s:
        link, other = (
            issue_link(
                s, p, POLICY_ID, version_id, CLOSES, dt.datetime.now(dt.UTC), settings=server
            )
            for p in ("E1", "E2")
        )
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(locale="zh-CN", viewport={"width": 960, "height": 1400})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(link)
            revenue = page.locator("#f2")  # 上年度营业收入（万元）: revenue / 1万, computed
            expect(revenue).to_have_value("15000")
            expect(revenue).not_to_be_editable()
            expect(page.locator('[data-field="f2"]')).to_contain_text("不可修改")

            uscc = page.locator("#f1")
            note = page.locator('[data-field="f1"] .changed-note')
            expect(note).to_be_hidden()
            uscc.fill("")
            expect(note).to_be_visible()  # the applicant sees the officer will be told
            page.locator("#f3").fill("2019-02-30")
            page.locator("#f4").select_option("否")
            page.screenshot(path=str(tmp_path / "5-edited.png"), full_page=True)
            page.get_by_role("button", name="确认并提交申报").click()

            expect(page.locator("#form-errors")).to_contain_text("有 2 项信息需要修改")
            expect(page.locator("#f1-error")).to_have_text("此项为必填项")
            expect(page.locator("#f3-error")).to_contain_text("须为有效日期")
            expect(page.locator("#f3")).to_have_value("2019-02-30")  # kept as typed
            expect(page.locator("#f4")).to_have_value("否")
            expect(page.locator("#f1")).to_be_focused()  # the first wrong field
            page.screenshot(path=str(tmp_path / "6-errors.png"), full_page=True)

            uscc.fill("91330106MA27XK0E8J")
            page.locator("#f3").fill("2019-05-01")
            page.get_by_role("button", name="确认并提交申报").click()
            expect(page.locator("h1.ok-title")).to_have_text("申报已提交")

            # issue 14 item 2: E2's link, sent under v1, after a v2 that excludes E2
            page.goto(other)
            expect(page.locator("#f0")).to_have_value("宁波示例制造有限公司")
            publish(server.database_url, policy_text(threshold="4亿"))
            page.get_by_role("button", name="确认并提交申报").click()
            expect(page.locator("#policy-updated h1")).to_have_text("政策已更新")
            expect(page.locator("#policy-updated")).to_contain_text("上年度营业收入不低于4亿")
            page.screenshot(path=str(tmp_path / "7-policy-updated.png"), full_page=True)
        finally:
            browser.close()
    with session_scope(server.database_url) as s:
        [sub] = s.query(Submission).all()
        assert (
            sub.values["成立日期"] == "2019-05-01"
            and sub.values["上年度营业收入（万元）"] == "15000"
        )
        assert sub.changes == {"高新技术企业": "是"}
    # the refused post logs its 422 (and the favicon a 404); nothing else may fail
    assert [m for m in problems if "422" not in m and "404" not in m] == []
