"""/me in a real browser (Chromium driven by Playwright): a business signs in and sees
the policies it can enjoy ranked, the unknown one with what is missing, the near miss
with its day, the automatic one marked 免申即享, and the better of two excluding ones
first; it confirms the automatic one in one tap, supplies the missing value and sees
that policy become eligible, and flags a value as wrong."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.api.routes.me_policies import publish_all
from tests.api.test_browser import ARGS, CHROMIUM, server  # noqa: F401  (the fixture)
from zhida.api.security import login_url
from zhida.settings import Settings

SHOTS = os.environ.get("ZHIDA_SCREENSHOTS")  # a folder to keep the screenshots in


def test_me_page_shows_ranked_policies(server: Settings, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    publish_all(server.database_url)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(locale="zh-CN", viewport={"width": 960, "height": 900})
            page.on(
                "console",
                lambda m: (
                    problems.append(f"{m.text} {m.location.get('url')}")
                    if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on(
                "response",
                lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            page.goto(login_url(server, "E1"))
            page.get_by_role("button", name="确认登录").click()
            expect(page).to_have_url(f"{server.base_url}/inbox")
            page.goto(f"{server.base_url}/me")
            expect(page.locator("h1")).to_contain_text("法人专区")
            cards = page.locator("li.my-policy")
            expect(cards).to_have_count(5)
            ranks = [int(r) for r in cards.locator(".rank").all_inner_texts()]
            assert ranks == [1, 2, 3, 4, 5]
            titles = cards.locator(".msg-title").all_inner_texts()
            assert titles.index("测试市高企奖励（乙）") < titles.index("测试市高企奖励（甲）")
            assert titles[-1] == "测试市研发投入补助"  # the unknown one, last
            unknown = page.locator('li[data-policy="t-rd"]')
            expect(unknown.locator(".missing")).to_have_text("需补充：研发费用")
            expect(unknown.locator(".tag").first).to_have_text("可能符合，需补充信息")
            auto = page.locator('li[data-policy="t-auto"]')
            expect(auto.locator(".tag").nth(1)).to_have_text("免申即享")
            expect(page.locator('li[data-policy="t-one"] .exclusion')).to_have_text(
                "与测试市高企奖励（乙）不可同时享受，选择测试市高企奖励（乙）可多得15万元"
            )
            near = page.locator("li.near-miss")
            expect(near).to_have_count(1)
            expect(near.locator(".gap")).to_contain_text("2029年5月1日起成立满10年")
            expect(page.locator(".ask-first")).to_have_text("研发费用")
            # 30万 + 25万 + 3万: of the two excluding ones only the better counts
            expect(page.locator(".page-head .benefit")).to_have_text("58万元")
            shots = [tmp_path / "me.png", tmp_path / "me-confirmed.png"]
            page.screenshot(path=str(shots[0]), full_page=True)
            # 免申即享: one tap, and the page says it is done
            auto.get_by_role("button", name="一键确认领取").click()
            expect(page).to_have_url(f"{server.base_url}/me#p-t-auto")
            done = page.locator('li[data-policy="t-auto"] .grant-done')
            expect(done).to_have_text("已确认领取，资金将由主管部门直接发放")
            expect(page.locator('li[data-policy="t-auto"] .state')).to_have_text("已申报")
            page.screenshot(path=str(shots[1]), full_page=True)
            # supply the missing value: the unknown policy becomes eligible at once
            page.get_by_label("研发费用", exact=True).fill("2000000")
            page.get_by_role("button", name="提交（自行申报）").click()
            rd = page.locator('li[data-policy="t-rd"]')
            expect(rd.locator(".tag").first).to_have_text("符合条件")
            expect(rd.locator(".benefit")).to_contain_text("20万元")
            expect(page.locator(".declared")).to_contain_text("研发费用")
            # 数据有误 on the near miss's value
            page.locator("li.near-miss").get_by_role("button", name="数据有误").click()
            expect(page.locator(".disputed")).to_contain_text("已收到您的反馈")
            shots.append(tmp_path / "me-declared.png")
            page.screenshot(path=str(shots[2]), full_page=True)
            if SHOTS:
                for shot in shots:
                    shutil.copy(shot, Path(SHOTS) / shot.name)
        finally:
            browser.close()
    assert problems == [], problems
