"""`GET /api/me/policies` and `/me`: the signed-in profile's policies, ranked, and only its."""

from __future__ import annotations

import pytest

from tests.api.conftest import Web
from tests.api.routes.me_policies import publish_all, publish_automatic
from zhida.store.db import session_scope
from zhida.store.models import Submission


@pytest.fixture()
def me_web(web: Web) -> Web:
    publish_all(web.url)
    return web


def test_policies_ranked_with_amounts_states_missing_and_near_misses(me_web: Web) -> None:
    with session_scope(me_web.url) as s:
        s.add(
            Submission(
                reference="R1",
                profile_id="E1",
                policy_id="t-big",
                policy_version_id=1,
                outcome="eligible",
            )
        )
    client = me_web.client()
    me_web.login(client, "E1")
    r = client.get("/api/me/policies")
    assert r.status_code == 200
    items = {p["policy"]: p for p in r.json()}
    listed = [p for p in r.json() if p["rank"] is not None]
    assert [p["rank"] for p in listed] == list(range(1, len(listed) + 1))
    assert {p["policy"] for p in listed} == {
        "zd-test-grant",
        "t-big",
        "t-one",
        "t-two",
        "t-rd",
        "t-auto",
    }
    assert all(p["outcome"] != "ineligible" for p in listed)
    assert items["t-big"]["benefit"] == 300000 and items["t-big"]["state"] == "已申报"
    assert items["t-big"]["reference"] == "测试〔2026〕1号"
    assert items["t-auto"]["state"] == "未申报" and items["t-auto"]["grant"] == "automatic"
    assert items["t-rd"]["outcome"] == "unknown" and items["t-rd"]["missing"] == ["rd_expense"]
    assert items["t-big"]["deadline"] is not None
    # unknown ranks below the eligible
    assert items["t-rd"]["rank"] == len(listed)
    # the near miss: ineligible, rank null, with the day it holds
    old = items["t-old"]
    assert old["outcome"] == "ineligible" and old["rank"] is None
    assert old["near_miss"] == {"criterion": "age", "holds_on": "2029-05-01"}
    assert old["near_miss_text"] == "2029年5月1日起成立满10年"
    assert "t-far" not in items  # two criteria short: not a near miss, not shown
    assert set(old) >= {
        "policy",
        "title",
        "outcome",
        "benefit",
        "rank",
        "deadline",
        "state",
        "missing",
        "near_miss",
    }


def test_of_two_excluding_policies_the_better_ranks_first_and_says_why(me_web: Web) -> None:
    client = me_web.client()
    me_web.login(client, "E1")
    items = {p["policy"]: p for p in client.get("/api/me/policies").json()}
    one, two = items["t-one"], items["t-two"]
    assert two["rank"] < one["rank"]
    assert (
        one["exclusion"]
        == "与测试市高企奖励（乙）不可同时享受，选择测试市高企奖励（乙）可多得15万元"
    )
    assert two["exclusion"].startswith("与测试市高企奖励（甲）不可同时享受，本项对您更有利")


def test_a_profile_sees_only_its_own_policies(me_web: Web) -> None:
    e1, e3 = me_web.client(), me_web.client()
    me_web.login(e1, "E1")
    me_web.login(e3, "E3")
    mine = {p["policy"] for p in e1.get("/api/me/policies").json()}
    theirs = e3.get("/api/me/policies").json()
    # E3 (founded 2024, revenue 200万, 8 staff): nothing of E1's eligible list
    assert {p["policy"] for p in theirs if p["rank"]} & {"t-big", "t-auto"} == set()
    assert "t-big" in mine
    assert e3.get("/api/me/policies?profile=E1").json() == theirs  # no way to ask for another
    page = e3.get("/me")
    assert "温州初创电子有限公司" in page.text and "杭州测试科技有限公司" not in page.text


def test_not_signed_in_is_refused(me_web: Web) -> None:
    client = me_web.client()
    assert client.get("/api/me/policies").status_code == 401
    assert client.get("/me").status_code == 401


def test_me_page_lists_them_in_chinese(me_web: Web) -> None:
    client = me_web.client()
    me_web.login(client, "E1")
    r = client.get("/me")
    assert r.status_code == 200
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    text = r.text
    assert "法人专区" in text and "杭州测试科技有限公司" in text
    assert "差一步就能享受" in text and "2029年5月1日起成立满10年" in text
    assert "需补充：研发费用" in text
    assert "免申即享" in text
    assert text.index("测试市高企奖励（乙）") < text.index("测试市高企奖励（甲）")


def test_one_tap_grant_needs_the_csrf_token_and_is_stored_once(me_web: Web) -> None:
    from tests.api.conftest import csrf_of

    client = me_web.client()
    me_web.login(client, "E1")
    page = client.get("/me")
    assert "一键确认领取" in page.text
    token = csrf_of(page.text)
    refused = client.post("/me/grants/t-auto", data={"decision": "confirm"})
    assert refused.status_code == 403
    wrong = client.post("/api/me/grants/t-auto", json={"decision": "confirm"})
    assert wrong.status_code == 403
    r = client.post("/me/grants/t-auto", data={"decision": "confirm", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/me#p-t-auto"
    again = client.post(
        "/api/me/grants/t-auto", json={"decision": "decline"}, headers={"X-CSRF-Token": token}
    )
    assert again.status_code == 200 and again.json()["decision"] == "confirmed"
    not_auto = client.post(
        "/api/me/grants/t-big", json={"decision": "confirm"}, headers={"X-CSRF-Token": token}
    )
    assert not_auto.status_code == 409
    items = {p["policy"]: p for p in client.get("/api/me/policies").json()}
    assert items["t-auto"]["grant_decision"] == "confirmed"
    assert items["t-auto"]["state"] == "已申报"
    assert "已确认领取" in client.get("/me").text
    with session_scope(me_web.url) as s:
        from zhida.store.models import Grant

        assert [(g.profile_id, g.decision) for g in s.query(Grant)] == [("E1", "confirmed")]


def test_ranked_as_zhida_evaluate_ranks_them_exclusions_included(me_web: Web) -> None:
    """The page's ranks are those of the lines `zhida evaluate` writes for the same
    profile and published policies, with a pair the score alone ranks the wrong way
    round (the smaller amount closes sooner)."""
    import datetime as dt
    import io
    import json

    from zhida.clock import today
    from zhida.profiles.schema import Audience
    from zhida.publishing.catalogue import compiled
    from zhida.publishing.officers import add_officer
    from zhida.publishing.versions import approve, published_versions, submit
    from zhida.ranking.evaluate import evaluate_to_jsonl
    from zhida.store.profiles import frame_from_json, get_profile

    day = today()
    soon, later = day + dt.timedelta(days=10), day + dt.timedelta(days=200)
    pair = {
        "t-soon": f"window: {{closes: {soon}}}\nexcludes: [t-late]\nbenefit: {{amount: 10万}}\n",
        "t-late": f"window: {{closes: {later}}}\nbenefit: {{amount: 12万}}\n",
    }
    with session_scope(me_web.url) as s:
        officer = add_officer(s, "pair-admin", "admin")[0]
        for pid, keys in pair.items():
            text = (
                f"id: {pid}\ntitle: 测试{pid}\naudience: enterprise\n{keys}criteria:\n"
                "  - {id: staff, label: 职工人数不少于50人, when: employees >= 50}\n"
            )
            approve(s, officer, submit(s, officer, text, f"{pid}.yaml"), None, True)
    for profile_id in ("E1", "E2", "E3"):
        client = me_web.client()
        me_web.login(client, profile_id)
        page = {p["policy"]: p["rank"] for p in client.get("/api/me/policies").json()}
        with session_scope(me_web.url) as s:
            versions = [compiled(v) for v in published_versions(s, "enterprise")]
            _, data = get_profile(s, profile_id) or ("", {})
        schemas = versions[0].schemas
        frame = frame_from_json([{**data, "id": profile_id}], schemas[Audience.ENTERPRISE])
        out = io.BytesIO()
        evaluate_to_jsonl(
            [c.policy for c in versions], {Audience.ENTERPRISE: frame}, schemas, day, out
        )
        lines = {x["policy"]: x["rank"] for x in map(json.loads, out.getvalue().splitlines())}
        assert {p: r for p, r in page.items() if r is not None} == lines
        if profile_id == "E1":
            assert page["t-late"] < page["t-soon"]


def test_confirming_a_grant_excluded_by_one_held_is_refused_in_chinese(me_web: Web) -> None:
    from tests.api.conftest import csrf_of

    publish_automatic(me_web.url, "t-auto2", "t-auto")
    client = me_web.client()
    me_web.login(client, "E1")
    token = csrf_of(client.get("/me").text)
    headers = {"X-CSRF-Token": token}
    first = client.post("/api/me/grants/t-auto", json={"decision": "confirm"}, headers=headers)
    assert first.status_code == 200
    second = client.post("/api/me/grants/t-auto2", json={"decision": "confirm"}, headers=headers)
    assert second.status_code == 409
    assert "不可同时享受" in second.text
    page = client.post("/me/grants/t-auto2", data={"decision": "confirm", "csrf_token": token})
    assert page.status_code == 409 and "本次确认未提交" in page.text
    items = {p["policy"]: p for p in client.get("/api/me/policies").json()}
    assert items["t-auto2"]["grant_decision"] is None
