"""The disputes queue of the officer console through HTTP, on SQLite and PostgreSQL:
open first, approvers and admins resolve, a correction re-evaluates the profile and
tells it in its inbox, a rejection needs a comment, refused credentials change nothing,
and every resolution is in the audit log."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from tests.api.conftest import policy_text, publish
from tests.api.routes.test_officer_api import API, Console
from tests.api.routes.test_officer_api import console as console  # the fixture
from tests.api.routes.test_officer_sessions import form_token, sign_in
from zhida.channels.selfservice import open_dispute
from zhida.store.db import session_scope
from zhida.store.models import AuditLog, Decision, Dispute, InboxMessage

NOW = dt.datetime(2026, 5, 1, 9, tzinfo=dt.UTC)


def open_one(url: str, profile: str = "E1", field: str = "revenue") -> int:
    with session_scope(url) as s:
        return open_dispute(s, profile, field, "营业收入有误，应为100万", NOW, "test-policy").id


def state(url: str) -> tuple[list[str], int, int, str | None]:
    """Dispute statuses, inbox messages, dispute audit entries, E1's decision outcome."""
    with session_scope(url) as s:
        statuses = list(s.scalars(select(Dispute.status).order_by(Dispute.id)))
        inbox = s.scalar(select(func.count()).select_from(InboxMessage)) or 0
        logged = (
            s.scalar(
                select(func.count()).select_from(AuditLog).where(AuditLog.action.like("dispute.%"))
            )
            or 0
        )
        outcome = s.scalar(select(Decision.outcome).where(Decision.profile_id == "E1"))
        return statuses, inbox, logged, None if outcome is None else str(outcome)


def test_queue_lists_open_first_and_filters(console: Console) -> None:
    url = console.web.url
    first, second = open_one(url), open_one(url, "E2", "employees")
    with session_scope(url) as s:
        s.get_one(Dispute, first).status = "rejected"
    client = console.client("alice")  # any officer reads the queue
    rows = client.get(f"{API}/disputes").json()
    assert [(r["id"], r["status"]) for r in rows] == [(second, "open"), (first, "rejected")]
    only_open = client.get(f"{API}/disputes", params={"status": "open"}).json()
    assert [r["id"] for r in only_open] == [second]
    assert client.get(f"{API}/disputes", params={"status": "x"}).status_code == 422


def test_correction_re_evaluates_and_tells_the_profile(console: Console) -> None:
    url = console.web.url
    dispute = open_one(url)
    before = state(url)
    assert before[3] == "2"  # E1 (revenue 1.5亿) is eligible under 1亿
    r = console.client("bob").post(
        f"{API}/disputes/{dispute}/resolve", json={"corrected": "100万", "comment": "已核实"}
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["dispute"]["status"] == "corrected" and out["dispute"]["resolved_by"] == "bob"
    assert out["transitions"] >= 1
    statuses, inbox, logged, outcome = state(url)
    assert statuses == ["corrected"] and inbox == before[1] + 1 and logged == 1
    assert outcome != "2"  # not eligible any more
    with session_scope(url) as s:
        notice = s.scalars(
            select(InboxMessage).where(
                InboxMessage.profile_id == "E1", InboxMessage.kind == "notice"
            )
        ).one()
        assert notice.kind == "notice" and "更正" in notice.body
    again = console.client("root").post(f"{API}/disputes/{dispute}/resolve", json={"comment": "x"})
    assert again.status_code == 409  # not open any more: a conflict, in officer wording
    assert again.json()["error"] == "conflict"
    assert again.json()["message"] == "该数据异议已处理或不存在，无需再次处理。"
    assert again.json()["detail"] == f"dispute {dispute} is not open"
    assert state(url)[:3] == (statuses, inbox, logged)


def test_rejection_needs_a_comment_and_tells_the_profile(console: Console) -> None:
    url = console.web.url
    dispute = open_one(url)
    client = console.client("root")
    assert client.post(f"{API}/disputes/{dispute}/resolve", json={}).status_code == 400
    r = client.post(f"{API}/disputes/{dispute}/resolve", json={"comment": "与税务数据一致"})
    assert r.status_code == 200 and r.json()["dispute"]["status"] == "rejected"
    assert r.json()["transitions"] == 0
    with session_scope(url) as s:
        notice = s.scalars(
            select(InboxMessage).where(
                InboxMessage.profile_id == "E1", InboxMessage.kind == "notice"
            )
        ).one()
        assert "与税务数据一致" in notice.body
    assert state(url)[2] == 1


def test_an_invalid_correction_gets_officer_wording_and_changes_nothing(
    console: Console,
) -> None:
    url = console.web.url
    dispute = open_one(url)
    before = state(url)
    r = console.client("bob").post(
        f"{API}/disputes/{dispute}/resolve", json={"corrected": "一百万", "comment": "已核实"}
    )
    assert r.status_code == 422, r.text
    out = r.json()
    assert out["error"] == "invalid_value"
    assert out["message"] == "更正后的值不符合该字段的要求。"  # not the citizens' 请返回修改
    assert "一百万" in out["detail"]  # the reason: which value, why
    assert state(url) == before


@pytest.mark.parametrize("who", ["alice", "forged", None])
def test_authors_and_refused_credentials_change_nothing(console: Console, who: str | None) -> None:
    url = console.web.url
    dispute = open_one(url)
    before = state(url)
    client = console.client(who if who in console.tokens else None)
    if who == "forged":
        client.headers["Authorization"] = "Bearer " + "x" * 43
    r = client.post(f"{API}/disputes/{dispute}/resolve", json={"corrected": "100万"})
    assert r.status_code == (403 if who == "alice" else 401)
    assert state(url) == before


def test_page_resolves_with_the_session_csrf_token(console: Console) -> None:
    url = console.web.url
    dispute = open_one(url)
    client = console.web.client()
    sign_in(client, "bob", "bob-password-1")
    page = client.get("/officer/disputes")
    assert page.status_code == 200 and "数据异议" in page.text and "营业收入有误" in page.text
    assert 'href="/officer/disputes"' in page.text  # in the navigation
    before = state(url)
    path = f"/officer/disputes/{dispute}/resolve"
    forged = client.post(
        path, data={"csrf_token": "x" * 43, "action": "correct", "corrected": "100万"}
    )
    assert forged.status_code == 403 and state(url) == before
    ok = client.post(
        path, data={"csrf_token": form_token(page.text), "action": "correct", "corrected": "100万"}
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/officer/disputes"
    assert state(url)[0] == ["corrected"] and state(url)[3] != "2"
    after = client.get("/officer/disputes").text
    assert re.search(r"已更正", after) and "更正并重新匹配" not in after


def test_a_refused_resolution_shows_the_form_again_with_the_reason(console: Console) -> None:
    """No comment for a rejection, no value or one that does not fit the field for a
    correction, a dispute resolved meanwhile: the queue again, the message beside the
    form, what was typed kept, nothing changed."""
    url = console.web.url
    dispute = open_one(url)
    client = console.web.client()
    sign_in(client, "bob", "bob-password-1")
    token = form_token(client.get("/officer/disputes").text)
    path = f"/officer/disputes/{dispute}/resolve"
    before = state(url)
    cases = [
        ({"action": "reject", "comment": "  "}, "驳回异议须填写说明"),
        ({"action": "correct", "corrected": "", "comment": "已核实"}, "请填写更正后的值"),
        ({"action": "correct", "corrected": "一百万", "comment": "已核实"}, "不符合该字段的格式"),
    ]
    for data, reason in cases:
        r = client.post(path, data={"csrf_token": token, **data})
        assert r.status_code == 422, r.text
        assert reason in r.text and 'id="dispute-error"' not in r.text
        assert 'class="field-error" role="alert"' in r.text  # beside the dispute's own form
        assert "更正并重新匹配" in r.text and "请求无法处理" not in r.text
        assert f'value="{data.get("comment", "")}"' in r.text or not data.get("comment")
        assert state(url) == before
    assert 'value="一百万"' in r.text
    with session_scope(url) as s:
        s.get_one(Dispute, dispute).status = "rejected"  # resolved in another tab
    late = client.post(path, data={"csrf_token": token, "action": "reject", "comment": "x"})
    assert late.status_code == 409 and "该数据异议已由其他人员处理" in late.text
    assert 'id="dispute-error"' in late.text  # above the queue: the row has no form now
    assert state(url)[1:] == before[1:]


def test_authors_see_the_queue_without_the_form(console: Console) -> None:
    open_one(console.web.url)
    client = console.web.client()
    sign_in(client, "alice", "alice-password-1")
    page = client.get("/officer/disputes")
    assert page.status_code == 200 and "营业收入有误" in page.text
    assert "更正并重新匹配" not in page.text


def test_openapi_documents_the_disputes_routes(console: Console) -> None:
    spec = console.client().get("/api/openapi.json").json()
    assert "/api/officer/disputes" in spec["paths"]
    resolve = spec["paths"]["/api/officer/disputes/{dispute_id}/resolve"]["post"]
    assert "DisputeResolveIn" in str(resolve["requestBody"])
    assert "DisputeResolvedOut" in str(resolve["responses"]["200"])


def test_a_correction_plans_the_newly_eligible(console: Console) -> None:
    """E3 (200万, founded 2024) fails both criteria; a policy on revenue alone makes a
    correction of its revenue newly eligible, planned in-app at once."""
    url = console.web.url
    text = policy_text().replace(
        "  - {id: age, label: 成立满3年, when: years_since(established) >= 3}\n", ""
    )
    publish(url, text)
    dispute = open_one(url, "E3")

    def eligible_messages() -> int:
        with session_scope(url) as s:
            where = (InboxMessage.profile_id == "E3", InboxMessage.kind == "eligible")
            return s.scalar(select(func.count()).select_from(InboxMessage).where(*where)) or 0

    assert eligible_messages() == 0
    r = console.client("bob").post(f"{API}/disputes/{dispute}/resolve", json={"corrected": "3亿"})
    assert r.status_code == 200 and r.json()["transitions"] >= 1
    assert eligible_messages() == 1
