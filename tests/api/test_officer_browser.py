"""The officer console in a real browser (Debian's Chromium driven by Playwright).

An author signs in, misspells a field and sees it underlined at its line with the
suggestion, fixes it, runs the policy's tests, sees the preview chart, submits; an
approver signs in in another browser, sees the diff, approves and lands on the run;
a run started afterwards is watched to done over Server-Sent Events; the results
open; a profile is looked up and its explanation read.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.api.conftest import POLICY_ID, publish
from tests.api.test_browser import ARGS, CHROMIUM, server  # noqa: F401 - the fixture
from zhida.api.routes import officer_runs
from zhida.clock import today
from zhida.publishing.officers import add_officer
from zhida.settings import Settings
from zhida.store.db import session_scope

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-1"}


@pytest.fixture()
def console(server: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:  # noqa: F811
    from zhida.worker import start_new_run

    monkeypatch.setattr(officer_runs, "RUN_STREAM", officer_runs.RunStreamConfig(0.2, 5, 30))
    version_id = publish(server.database_url)
    start_new_run("enterprise", [version_id], today())
    with session_scope(server.database_url) as s:
        add_officer(s, "alice", "author", password=PASSWORDS["alice"])
        add_officer(s, "bob", "approver", password=PASSWORDS["bob"])
    return server


def watch(page: object, problems: list[str]) -> None:
    """Collect the page's console errors and script errors (the favicon aside)."""
    from playwright.sync_api import ConsoleMessage, Page

    assert isinstance(page, Page)

    def on_console(m: ConsoleMessage) -> None:
        if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico"):
            problems.append(f"{m.text} ({m.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda e: problems.append(str(e)))


def sign_in(page: object, base: str, name: str) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(f"{base}/officer")
    expect(page.locator("h1")).to_have_text("工作人员登录")
    page.get_by_label("账号").fill(name)
    page.get_by_label("密码").fill(PASSWORDS[name])
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base}/officer")
    expect(page.locator(".who")).to_contain_text(name)


def put_cursor(page: object, after: str, length: int = 0) -> None:
    """Select `length` characters right after the first `after` in the editor."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.evaluate(
        """([after, length]) => {
            const v = window.zhidaPolicyEditor.view;
            const at = v.state.doc.toString().indexOf(after) + after.length;
            v.dispatch({selection: {anchor: at, head: at + length}});
            v.focus();
        }""",
        [after, length],
    )


def test_author_checks_previews_submits_and_approver_publishes(
    console: Settings, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = console.base_url
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            author = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
            page = author.new_page()
            watch(page, problems)
            sign_in(page, base, "alice")
            page.goto(f"{base}/officer/editor?policy={POLICY_ID}")
            expect(page.locator("#check-status")).to_have_class("check-status ok", timeout=10_000)

            # misspell the field and raise the threshold, by typing
            put_cursor(page, "when: ", len("revenue >= 1亿"))
            page.keyboard.type("revenu >= 2亿")
            underline = page.locator(".cm-lintRange-error")
            expect(underline).to_have_text("revenu", timeout=10_000)
            marked = page.locator(".cm-line", has=underline)
            expect(marked).to_contain_text("上年度营业收入不低于1亿")  # the criterion's line
            diagnostic = page.locator("#diagnostics li.error")
            expect(diagnostic).to_have_attribute("data-line", "17")
            expect(diagnostic).to_contain_text("unknown field 'revenu'")
            expect(diagnostic).to_contain_text("did you mean 'revenue'?")
            page.screenshot(path=str(tmp_path / "1-error-underlined.png"), full_page=True)

            put_cursor(page, "when: revenu")
            page.keyboard.type("e")
            expect(page.locator("#check-status")).to_have_class("check-status ok", timeout=10_000)
            expect(page.locator(".cm-lintRange-error")).to_have_count(0)

            page.get_by_role("button", name="运行政策测试").click()
            expect(page.locator("#tests-result")).to_have_text("政策测试：1 项通过，0 项未通过")

            page.get_by_role("button", name="影响预览").click()
            bar = page.locator('#chart-city rect[data-series="no_longer_eligible"]')
            expect(bar).to_have_attribute("data-group", "杭州市", timeout=20_000)
            expect(bar).to_have_attribute("data-value", "1")
            expect(page.locator("#samples")).to_contain_text("E1（不再符合）")
            page.screenshot(path=str(tmp_path / "2-preview.png"), full_page=True)

            page.get_by_role("button", name="提交审核").click()
            expect(page.locator("#submit-result")).to_contain_text(f"已提交 {POLICY_ID} v2")
            page.locator("#submitted-link").click()
            expect(page.locator("#own-version")).to_contain_text("须由另一位审核人批准")
            expect(page.locator("#approve")).to_have_count(0)

            approver = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
            page = approver.new_page()
            watch(page, problems)
            sign_in(page, base, "bob")
            page.locator(f'tr[data-policy="{POLICY_ID}"] >> text=1 个待审核').click()
            changed = page.locator("#diff tr.op-replace")
            expect(changed.locator("td.left")).to_contain_text("revenue >= 1亿")
            expect(changed.locator("td.right")).to_contain_text("revenue >= 2亿")
            expect(page.locator("#preview-summary [data-key=no_longer_eligible]")).to_contain_text(
                "1", timeout=20_000
            )
            page.screenshot(path=str(tmp_path / "3-review.png"), full_page=True)
            page.locator("#review-comment").fill("门槛调整与文件一致")
            page.get_by_role("button", name="批准发布").click()
            expect(page).to_have_url(f"{base}/officer/runs/2", timeout=20_000)
            expect(page.locator("#run-status")).to_have_attribute("data-status", "done")
            page.screenshot(path=str(tmp_path / "4-run.png"), full_page=True)

            # a run watched while it works: queued, then its chunks, then done, no reload
            run_id = queue_run(console)
            page.goto(f"{base}/officer/runs/{run_id}")
            expect(page.locator("#run-status")).to_have_text("排队中")
            from zhida.worker import start_run

            start_run(run_id)
            expect(page.locator("#run-status")).to_have_text("已完成", timeout=15_000)
            expect(page.locator("#run-chunks")).to_have_text("3/3 个分片")
            expect(page.locator('#run-counts dd[data-key="profiles"]')).to_have_text("3")

            page.goto(f"{base}/officer/results/{POLICY_ID}")
            expect(page.locator('#kpis dd[data-key="eligible"]')).to_have_text("1")
            page.screenshot(path=str(tmp_path / "5-results.png"), full_page=True)

            page.goto(f"{base}/officer/lookup")
            page.locator("#lookup-q").fill("杭州测试科技")
            page.get_by_role("button", name="查询").click()
            page.locator("#lookup-results a").first.click()
            page.get_by_role("link", name="查看解释").click()
            explanation = page.locator("#explanation")
            expect(explanation).to_contain_text("结论：不符合")
            expect(explanation).to_contain_text("上年度营业收入 1.5亿元")
            page.screenshot(path=str(tmp_path / "6-explanation.png"), full_page=True)

            page.get_by_role("button", name="退出").click()
            expect(page.locator("h1")).to_have_text("工作人员登录")
        finally:
            browser.close()
    assert problems == []  # no CSP refusal, script error or missing asset


def queue_run(settings: Settings) -> int:
    """A run over the published version in three chunks, committed but not started."""
    from zhida.publishing.versions import published_versions
    from zhida.runs.reevaluate import create_run

    with session_scope(settings.database_url) as s:
        [version] = published_versions(s, "enterprise")
        return create_run(s, "manual", "enterprise", [version.id], today(), 1).id


def test_budget_forecast_in_the_editor(console: Settings) -> None:
    """The editor's preview of a policy with `budget:` shows the forecast spend."""
    from playwright.sync_api import expect, sync_playwright
    from sqlalchemy import select

    from tests.api.conftest import policy_text
    from zhida.publishing.versions import submit
    from zhida.store.models import Officer

    url, base = console.database_url, console.base_url
    text = policy_text().replace(POLICY_ID, "zd-budget-grant")
    text = text.replace("department:", "budget: 30万\ndepartment:", 1)
    with session_scope(url) as s:
        alice = s.scalars(select(Officer).where(Officer.name == "alice")).one()
        submit(s, alice, text, "zd-budget-grant.yaml")
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(locale="zh-CN").new_page()
            watch(page, problems)
            sign_in(page, base, "alice")
            page.goto(f"{base}/officer/editor?policy=zd-budget-grant")
            status = page.locator("#check-status")
            expect(status).to_have_class("check-status ok", timeout=10_000)
            page.get_by_role("button", name="影响预览").click()
            spend = page.locator('#preview-forecast [data-key="spend"]')
            expect(spend).to_contain_text("40万元，占预算 133.3%", timeout=20_000)
            expect(page.locator("#preview-forecast")).to_contain_text("超出预算")
        finally:
            browser.close()
    assert problems == []


def test_a_dispute_refused_for_no_comment_then_corrected(console: Settings, tmp_path: Path) -> None:
    """An approver rejects a dispute from the queue page without a comment: the form
    again with the reason beside it; then corrects it (the form posts with its CSRF
    token)."""
    from playwright.sync_api import expect, sync_playwright

    from zhida.channels.selfservice import open_dispute

    url, base = console.database_url, console.base_url
    with session_scope(url) as s:
        open_dispute(s, "E1", "revenue", "营业收入有误", dt.datetime.now(dt.UTC))
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(locale="zh-CN").new_page()
            watch(page, problems)
            sign_in(page, base, "bob")
            page.get_by_role("link", name="数据异议").click()
            row = page.locator("#disputes-table tr[data-dispute]")
            expect(row).to_contain_text("营业收入有误")
            row.get_by_label("更正后的值").fill("100万")
            row.get_by_role("button", name="驳回").click()  # no comment: the form again
            expect(row.locator(".field-error")).to_have_text(
                "驳回异议须填写说明，请在“说明”中写明理由后再驳回。"
            )
            expect(row.get_by_label("更正后的值")).to_have_value("100万")  # kept
            page.screenshot(path=str(tmp_path / "dispute-no-comment.png"), full_page=True)
            row.get_by_role("button", name="更正并重新匹配").click()
            expect(page).to_have_url(f"{base}/officer/disputes")
            expect(row.locator(".status")).to_have_text("已更正")
        finally:
            browser.close()
    # the refused post logs its 422; nothing else may fail
    assert [m for m in problems if "422" not in m] == []
