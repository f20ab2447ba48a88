"""The application form behind BASE/a/TOKEN: refusals, prefill, CSRF, re-check, once only."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.conftest import (
    CLOSES,
    POLICY_ID,
    TITLE,
    Web,
    csrf_of,
    form_data,
    policy_text,
    publish,
)
from zhida.api.routes.applications import format_day
from zhida.api.security import SESSION_COOKIE
from zhida.clock import shanghai_date
from zhida.store.db import session_scope
from zhida.store.models import FeedbackEvent, PolicyVersion, Profile, Submission

REFERENCE = re.compile(r"ZD-\d{8}-[A-HJ-NP-Z2-9]{6}")


def submissions(url: str) -> list[Submission]:
    with session_scope(url) as s:
        return list(s.scalars(select(Submission).order_by(Submission.id)))


def feedback(url: str, kind: str) -> list[FeedbackEvent]:
    with session_scope(url) as s:
        return list(s.scalars(select(FeedbackEvent).where(FeedbackEvent.kind == kind)))


def field_values(html: str) -> dict[str, str]:
    """Label -> what its input shows (read-only ones included)."""
    labels = dict(re.findall(r'<label class="field-label" for="(f\d+)">([^<]+)', html))
    shown = {}
    for attrs in re.findall(r"<input\b([^>]*)>", html):
        found = re.search(r'id="(f\d+)"', attrs)
        if found:
            value = re.search(r'value="([^"]*)"', attrs)
            shown[found.group(1)] = value.group(1) if value else ""
    for name, options in re.findall(r'<select id="(f\d+)".*?>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        shown[name] = chosen.group(1) if chosen else ""
    return {labels[name]: value for name, value in sorted(shown.items())}


def test_form_is_prefilled_from_the_profile(web: Web) -> None:
    client = web.client()
    path = web.link("E1")
    r = client.get(path)
    assert r.status_code == 200
    assert field_values(r.text) == {
        "企业名称": "杭州测试科技有限公司",
        "统一社会信用代码": "91330106MA27XK0E8J",
        "上年度营业收入（万元）": "15000",
        "成立日期": "2019-05-01",
        "高新技术企业": "是",
    }
    today = shanghai_date(dt.datetime.now(dt.UTC))
    assert TITLE in r.text and "20万元" in r.text and "一次性奖励" in r.text
    assert f'class="deadline">{format_day(CLOSES, today)}<' in r.text
    assert "您符合本政策的申报条件" in r.text
    assert "上年度营业收入不低于1亿（依据：上年度营业收入 1.5亿元）" in r.text  # why
    assert "成立满3年（依据：成立日期 2019-05-01）" in r.text
    assert csrf_of(r.text) and 'name="csrf_token"' in r.text
    assert r.headers["referrer-policy"] == "no-referrer"  # the token never leaks onward
    assert r.headers["cache-control"] == "no-store"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    client.get(path)  # opened twice: one 'opened' event
    opened = feedback(web.url, "opened")
    assert [(e.profile_id, e.policy_id) for e in opened] == [("E1", POLICY_ID)]
    # the link's session is E1's: its inbox, nobody else's
    assert client.get("/api/inbox").status_code == 200


def test_format_day() -> None:
    assert format_day(dt.date(2026, 6, 30), dt.date(2026, 4, 1)) == "6月30日"
    assert format_day(dt.date(2027, 1, 5), dt.date(2026, 12, 1)) == "2027年1月5日"


def test_unknown_tampered_and_expired_links_are_refused_and_reveal_nothing(web: Web) -> None:
    client = web.client()
    path = web.link("E1")
    token = path.removeprefix("/a/")
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    expired = web.link("E1", now=dt.datetime.now(dt.UTC) - dt.timedelta(days=31), closes=None)
    for bad, status, words in (
        (f"/a/{tampered}", 404, "链接无效"),
        ("/a/abc", 404, "链接无效"),
        ("/a/" + "x" * 300, 404, "链接无效"),
        (expired, 410, "链接已过期"),
    ):
        r = client.get(bad)
        assert r.status_code == status, bad
        assert words in r.text
        for secret in (TITLE, "杭州测试科技有限公司", "E1", POLICY_ID, "20万"):
            assert secret not in r.text
        assert "set-cookie" not in r.headers  # no session from a bad link
    assert client.post(f"/a/{tampered}", data={"csrf_token": "x"}).status_code == 401
    assert feedback(web.url, "opened") == []


def test_submit_needs_session_and_csrf(web_sqlite: Web) -> None:
    web = web_sqlite
    path = web.link("E1")
    stranger = web.client()  # no session
    assert stranger.post(path, data={"f0": "x"}).status_code == 401
    client = web.client()
    csrf = csrf_of(client.get(path).text)
    r = client.post(path, data={"f0": "x"})
    assert r.status_code == 403 and "页面已过期" in r.text
    assert client.post(path, data={"f0": "x", "csrf_token": csrf[::-1]}).status_code == 403
    assert (
        client.post(path, data={"f0": "x"}, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    )
    assert submissions(web.url) == []


def test_submit_stores_once_with_trace_and_version(web: Web) -> None:
    client = web.client()
    path = web.link("E1")
    form = client.get(path).text
    data = form_data(form)
    assert set(data) == {"csrf_token", "form_version", "f0", "f1", "f3", "f4"}  # f2 computed
    data["f0"] = "杭州测试科技有限公司（更名后）"  # edited by the applicant
    data["f2"] = "99999"  # a computed field: whatever is posted, the computed value is kept
    r = client.post(path, data=data)
    assert r.status_code == 200 and "申报已提交" in r.text
    reference = REFERENCE.search(r.text)
    assert reference is not None
    [sub] = submissions(web.url)
    assert sub.reference == reference.group(0)
    assert sub.reference.startswith(
        "ZD-" + shanghai_date(dt.datetime.now(dt.UTC)).strftime("%Y%m%d")
    )
    assert (sub.profile_id, sub.policy_id, sub.policy_version_id, sub.outcome) == (
        "E1",
        POLICY_ID,
        web.version_id,
        "eligible",
    )
    assert sub.values["企业名称"] == "杭州测试科技有限公司（更名后）"
    assert sub.values["上年度营业收入（万元）"] == "15000"
    assert sub.changes == {"企业名称": "杭州测试科技有限公司"}  # for the officer
    assert "结论：符合" in sub.trace and "上年度营业收入不低于1亿" in sub.trace
    applied = feedback(web.url, "applied")
    assert [(e.profile_id, e.detail["reference"]) for e in applied] == [("E1", sub.reference)]

    # a second submission, even through a new link, is refused politely with the reference
    again = client.post(path, data=data)
    assert again.status_code == 409 and "您已提交过本政策的申报" in again.text
    assert sub.reference in again.text
    other_link = web.link("E1")
    page = client.get(other_link)
    assert page.status_code == 200 and sub.reference in page.text and "f0" not in page.text
    r3 = client.post(other_link, data=data)
    assert r3.status_code == 409 and sub.reference in r3.text
    assert len(submissions(web.url)) == 1 and len(feedback(web.url, "applied")) == 1
    mine = client.get("/api/applications").json()["applications"]
    assert [a["reference"] for a in mine] == [sub.reference]
    assert mine[0]["changed"] == ["企业名称"]


def test_submit_rechecks_eligibility_with_current_data(web: Web) -> None:
    client = web.client()
    path = web.link("E1")
    csrf = csrf_of(client.get(path).text)
    with session_scope(web.url) as s:  # the data changed after the message was sent
        profile = s.get(Profile, "E1")
        assert profile is not None
        profile.data = {**profile.data, "revenue": 80000000.0}
    r = client.post(path, data={"f0": "杭州测试科技有限公司", "csrf_token": csrf})
    assert r.status_code == 200
    assert "很抱歉，您目前不符合本政策的申报条件" in r.text and "本次申报未提交" in r.text
    assert "不符合：上年度营业收入不低于1亿（实际：上年度营业收入 8,000万元）" in r.text
    assert submissions(web.url) == [] and feedback(web.url, "applied") == []
    # opening the link now says so at once, without a form
    page = client.get(path)
    assert "很抱歉" in page.text and 'name="f0"' not in page.text


def test_a_link_of_a_retired_version_is_judged_by_the_current_one(web: Web) -> None:
    """Issue 14 item 2: v2 (revenue >= 2亿) retires v1; E1 (1.5亿) qualified under v1.
    Its v1 link neither shows v1's criteria nor stores a submission under v1."""
    client = web.client()
    path = web.link("E1")  # sent under version 1 (revenue >= 1亿)
    form = form_data(client.get(path).text)
    v2 = publish(web.url, policy_text(threshold="2亿"))
    assert v2 != web.version_id
    r = client.post(path, data=form)
    assert r.status_code == 200 and "政策已更新" in r.text and "本次申报未提交" in r.text
    assert "上年度营业收入不低于2亿" in r.text and "不低于1亿" not in r.text
    assert submissions(web.url) == [] and feedback(web.url, "applied") == []
    page = client.get(path)
    assert "政策已更新" in page.text and "您目前不符合申报条件" in page.text
    assert "上年度营业收入不低于2亿" in page.text and 'name="f0"' not in page.text


def test_a_link_of_a_retired_version_submits_under_the_current_one(web: Web) -> None:
    """E2 (3亿) qualifies under both: the v1 link shows v2's criteria and the submission
    is stored under v2 with v2's trace; a form shown under v1 is not stored as is."""
    client = web.client()
    path = web.link("E2")
    stale = form_data(client.get(path).text)
    v2 = publish(web.url, policy_text(threshold="2亿", benefit="30万"))
    again = client.post(path, data=stale)  # the form was filled in under v1
    assert again.status_code == 409 and "政策已更新" in again.text and "重新提交" in again.text
    assert submissions(web.url) == []
    page = client.get(path)
    assert page.status_code == 200 and "政策已更新" in page.text
    assert "上年度营业收入不低于2亿" in page.text and "30万元" in page.text
    r = client.post(path, data=form_data(page.text))
    assert r.status_code == 200 and "申报已提交" in r.text
    [sub] = submissions(web.url)
    assert sub.policy_version_id == v2 and "上年度营业收入不低于2亿" in sub.trace
    [applied] = feedback(web.url, "applied")
    assert applied.detail["policy_version_id"] == v2
    assert applied.detail["link_version_id"] == web.version_id


def test_a_link_of_a_policy_whose_current_window_closed_is_refused(web_sqlite: Web) -> None:
    web = web_sqlite
    path = web.link("E1")
    yesterday = shanghai_date(dt.datetime.now(dt.UTC)) - dt.timedelta(days=1)
    text = policy_text().replace(f"closes: {CLOSES.isoformat()}", f"closes: {yesterday}")
    publish(
        web.url,
        text.replace(
            "tests:\n  - name: 合格\n    as_of: 2026-04-01",
            "tests:\n  - name: 合格\n    as_of: " + str(yesterday),
        ),
    )
    r = web.client().get(path)
    assert r.status_code == 410 and "链接已过期" in r.text and TITLE not in r.text


def test_a_link_of_a_policy_with_no_version_in_force_says_the_policy_changed(
    web_sqlite: Web,
) -> None:
    web = web_sqlite
    path = web.link("E1")
    with session_scope(web.url) as s:
        version = s.get(PolicyVersion, web.version_id)
        assert version is not None
        version.status = "retired"
    r = web.client().get(path)
    assert r.status_code == 410 and "政策已更新" in r.text and TITLE not in r.text


def test_bad_edits_are_refused_in_chinese_next_to_the_field(web: Web) -> None:
    """Issue 14 item 6: an empty 统一社会信用代码, an impossible date, a yes/no that is
    neither: nothing is stored, each field says why, the form keeps what was typed."""
    client = web.client()
    path = web.link("E1")
    data = form_data(client.get(path).text)
    bad = {**data, "f0": "新名称有限公司", "f1": "  ", "f3": "2019-13-01", "f4": "也许"}
    r = client.post(path, data=bad)
    assert r.status_code == 422 and "有 3 项信息需要修改" in r.text
    assert submissions(web.url) == [] and feedback(web.url, "applied") == []
    boxes = dict(re.findall(r'data-field="(f\d)">(.*?)</div>', r.text, re.S))
    assert "此项为必填项" in boxes["f1"] and 'aria-invalid="true"' in boxes["f1"]
    assert "须为有效日期" in boxes["f3"] and 'value="2019-13-01"' in boxes["f3"]
    assert "请选择“是”或“否”" in boxes["f4"]
    assert "field-error" not in boxes["f0"] and 'value="新名称有限公司"' in boxes["f0"]
    assert 'value="15000" readonly' in boxes["f2"]  # computed: shown, never editable
    good = {**bad, "f1": "91330106ma27xk0e8j", "f3": "2019-05-01", "f4": "否"}
    r = client.post(path, data=good)
    assert r.status_code == 200 and "申报已提交" in r.text
    [sub] = submissions(web.url)
    assert sub.values["统一社会信用代码"] == "91330106MA27XK0E8J"
    assert sub.changes == {"企业名称": "杭州测试科技有限公司", "高新技术企业": "是"}


def test_missing_data_is_not_submitted(web_sqlite: Web) -> None:
    web = web_sqlite
    with session_scope(web.url) as s:
        profile = s.get(Profile, "E1")
        assert profile is not None
        profile.data = {k: v for k, v in profile.data.items() if k != "established"}
    client = web.client()
    path = web.link("E1")
    page = client.get(path)
    assert "您可能符合本政策，需补充信息" in page.text and "需补充：成立日期" in page.text
    r = client.post(path, data={"csrf_token": csrf_of(page.text)})
    assert "暂时无法确认您的申报资格" in r.text and submissions(web.url) == []


def test_no_profile_can_use_another_profiles_form_or_submissions(web: Web) -> None:
    mine, theirs = web.link("E1"), web.link("E2")
    client = web.client()
    csrf = csrf_of(client.get(mine).text)  # signed in as E1 through E1's link
    r = client.post(theirs, data={"f0": "冒名", "csrf_token": csrf, "form_version": "1"})
    assert r.status_code == 403 and "无权办理" in r.text and "宁波示例制造有限公司" not in r.text
    assert submissions(web.url) == []
    # E2 applies; E1 sees none of it
    other = web.client()
    their_form = form_data(other.get(theirs).text)
    other_csrf = their_form["csrf_token"]
    assert other.post(theirs, data=their_form).status_code == 200
    assert client.get("/api/applications").json() == {"applications": []}
    assert len(other.get("/api/applications").json()["applications"]) == 1
    # E2's session and CSRF token do not submit E1's form either
    assert other.post(mine, data={"csrf_token": other_csrf}).status_code == 403


def test_opening_a_link_switches_the_session_to_its_profile(web_sqlite: Web) -> None:
    web = web_sqlite
    client = web.client()
    web.login(client, "E2")
    with session_scope(web.url) as s:
        from zhida.channels.inbox import push_message

        push_message(s, "E1", POLICY_ID, "甲的消息", "正文", redis_url="")
        push_message(s, "E2", POLICY_ID, "乙的消息", "正文", redis_url="")
    assert [m["title"] for m in client.get("/api/inbox").json()["messages"]] == ["乙的消息"]
    client.get(web.link("E1"))
    assert [m["title"] for m in client.get("/api/inbox").json()["messages"]] == ["甲的消息"]


def test_a_cross_site_link_of_another_profile_asks_before_switching(web: Web) -> None:
    """Login CSRF through an application link: another site makes the browser of a
    signed-in E1 open E2's link; E1 stays signed in until they confirm here."""
    client = web.client()
    web.login(client, "E1")
    mine = client.cookies[SESSION_COOKIE]
    theirs = web.link("E2")
    r = client.get(theirs, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 200 and "切换账号" in r.text and 'name="f0"' not in r.text
    assert "宁波示例制造有限公司" not in r.text and client.cookies[SESSION_COOKIE] == mine
    assert feedback(web.url, "opened") == []
    token = csrf_of(r.text)
    for headers, data in (({"Sec-Fetch-Site": "cross-site"}, {"csrf_token": token}), ({}, {})):
        refused = client.post(f"{theirs}/switch", data=data, headers=headers)
        assert refused.status_code == 403 and client.cookies[SESSION_COOKIE] == mine
    ok = client.post(f"{theirs}/switch", data={"csrf_token": token})
    assert ok.status_code == 303 and ok.headers["location"] == theirs
    copy = web.client()
    copy.cookies.set(SESSION_COOKIE, mine)
    assert copy.get("/api/inbox").status_code == 401  # E1's session ended
    form = client.get(theirs)
    assert form.status_code == 200 and 'value="宁波示例制造有限公司"' in form.text
    # E1's own link from another site, or E2's tapped in an SMS: no question asked
    assert 'name="f0"' in client.get(theirs, headers={"Sec-Fetch-Site": "cross-site"}).text


def test_ineligible_profile_sees_a_polite_page(web_sqlite: Web) -> None:
    web = web_sqlite
    client = web.client()
    r = client.get(web.link("E3"))
    assert r.status_code == 200 and "很抱歉，您目前不符合本政策的申报条件" in r.text
    assert "成立满3年" in r.text and 'name="f0"' not in r.text


def test_concurrent_second_submission_loses_to_the_unique_key(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two submissions racing past the 'already submitted?' check: the database decides."""
    from zhida.api.routes import applications

    path = web.link("E1")
    client = web.client()
    form = form_data(client.get(path).text)
    first = client.post(path, data=form)
    [sub] = submissions(web.url)
    calls = []
    real = applications.existing_submission

    def blind_first_time(session: Session, profile_id: str, policy_id: str) -> Submission | None:
        calls.append(profile_id)
        return None if len(calls) == 1 else real(session, profile_id, policy_id)

    monkeypatch.setattr(applications, "existing_submission", blind_first_time)
    second = client.post(path, data=form)
    assert first.status_code == 200 and second.status_code == 409
    assert sub.reference in second.text and len(calls) == 2
    assert len(submissions(web.url)) == 1 and len(feedback(web.url, "applied")) == 1


def test_reasons_come_from_the_structure_not_the_wording(
    web_sqlite: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rewording or re-indenting the text explanation leaves the page's reasons alone."""
    from zhida.matcher import explain

    client = web_sqlite.client()
    before = client.get(web_sqlite.link("E1")).text
    monkeypatch.setattr(explain, "INDENT", "\t")
    monkeypatch.setattr(explain, "render_lines", lambda e: ["说明已改写"])
    after = client.get(web_sqlite.link("E1")).text
    reasons = re.compile(r'<ul class="reasons">.*?</ul>', re.S)
    [was], [now] = reasons.findall(before), reasons.findall(after)
    assert now == was
    assert (
        '<li class="reason depth-1 ok"><span class="mark" aria-hidden="true">✓</span>'
        "符合：成立满3年（依据：成立日期 2019-05-01）</li>"
    ) in now


RIVAL = """id: t-rival
title: 测试市同类奖励
audience: enterprise
excludes: [zd-test-grant]
benefit: {amount: 5万}
criteria:
  - {id: revenue, label: 营业收入不低于1亿, when: revenue >= 1亿}
"""


def _hold_rival(url: str, how: str) -> None:
    """E1 holds t-rival: applied for, granted, or confirmed (免申即享)."""
    from zhida.store.models import Grant

    with session_scope(url) as s:
        if how == "applied":
            s.add(Submission(reference="ZD-RIVAL-1", profile_id="E1", policy_id="t-rival",
                             policy_version_id=1, outcome="eligible"))  # fmt: skip
        elif how == "granted":
            s.add(FeedbackEvent(profile_id="E1", policy_id="t-rival", kind="granted"))
        else:
            s.add(Grant(profile_id="E1", policy_id="t-rival", policy_version_id=1,
                        decision="confirmed"))  # fmt: skip


@pytest.mark.parametrize(("how", "state"), [("applied", "已申报"), ("granted", "已领取"),
                                            ("confirmed", "已申报")])  # fmt: skip
def test_a_policy_excluding_one_already_held_is_refused_politely(
    web: Web, how: str, state: str
) -> None:
    """t-rival lists zd-test-grant under `excludes:` (this one does not list it back):
    E1's form is refused once E1 holds t-rival, and the submission too."""
    from zhida.publishing.officers import add_officer
    from zhida.publishing.versions import approve, submit

    client = web.client()
    path = web.link("E1")
    data = form_data(client.get(path).text)  # the form, shown before E1 held the other
    with session_scope(web.url) as s:
        officer = add_officer(s, "rival", "admin")[0]
        approve(s, officer, submit(s, officer, RIVAL, "t-rival.yaml"), None, True)
    assert client.get(path).status_code == 200  # not held yet: the form
    _hold_rival(web.url, how)
    shown = client.get(path)
    assert shown.status_code == 200 and 'id="excluded"' in shown.text
    assert f'您{state}「<span class="held-title">测试市同类奖励</span>」' in shown.text
    assert "不可同时享受" in shown.text and "f0" not in shown.text
    r = client.post(path, data=data)
    assert r.status_code == 409 and "本次申报未提交" in r.text and "测试市同类奖励" in r.text
    assert [s.policy_id for s in submissions(web.url)] == (["t-rival"] if how == "applied" else [])
    assert feedback(web.url, "applied") == []
