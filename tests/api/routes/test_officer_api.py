"""The officer API (`/api/officer/`) through HTTP, on SQLite and PostgreSQL: the design's
contract, roles (an author never approves their own; only admins manage officers),
refused tokens changing nothing, and every action in the audit log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.api.conftest import (
    POLICY_ID,
    Web,
    add_profiles,
    make_app,
    make_settings,
    policy_text,
    publish,
)
from tests.api.routes.test_officer_sessions import sign_in
from zhida.clock import today
from zhida.publishing.officers import add_officer
from zhida.settings import get_settings
from zhida.store.db import session_scope
from zhida.store.models import AuditLog, Officer, PolicyVersion
from zhida.worker import start_new_run

API = "/api/officer"
MISSPELLED = policy_text("2亿").replace("when: revenue >= 2亿", "when: revenu >= 2亿")


@dataclass
class Console:
    web: Web
    tokens: dict[str, str]

    def client(self, who: str | None = None) -> TestClient:
        client = self.web.client()
        if who is not None:
            client.headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return client


@pytest.fixture()
def console(api_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    """Profiles E1-E3, the test policy published (v1), officers of every role; runs
    started by an approval run in-process on the same database."""
    monkeypatch.setenv("ZHIDA_DATABASE_URL", api_db_url)
    monkeypatch.setenv("ZHIDA_REDIS_URL", "")
    get_settings.cache_clear()
    add_profiles(api_db_url)
    version_id = publish(api_db_url)
    start_new_run("enterprise", [version_id], today())  # E1 and E2 eligible under 1亿
    tokens = {}
    with session_scope(api_db_url) as s:
        for name, role in (
            ("alice", "author"),
            ("carol", "author"),
            ("bob", "approver"),
            ("root", "admin"),
        ):
            tokens[name] = add_officer(s, name, role, password=f"{name}-password-1")[1]
    settings = make_settings(api_db_url)
    yield Console(Web(api_db_url, settings, make_app(settings), version_id), tokens)
    get_settings.cache_clear()


def counts(url: str) -> tuple[int, int, int]:
    with session_scope(url) as s:
        return (
            s.scalar(select(func.count()).select_from(PolicyVersion)) or 0,
            s.scalar(select(func.count()).select_from(AuditLog)) or 0,
            s.scalar(select(func.count()).select_from(Officer)) or 0,
        )


def actions(url: str) -> list[tuple[str | None, str, str]]:
    with session_scope(url) as s:
        names = {i: n for i, n in s.execute(select(Officer.id, Officer.name))}
        return [
            (names.get(a.officer_id) if a.officer_id else None, a.action, a.subject)
            for a in s.scalars(select(AuditLog).order_by(AuditLog.id))
        ]


def test_check_marks_errors_at_line_and_col_and_runs_tests(console: Console) -> None:
    client = console.client("alice")
    r = client.post(f"{API}/check", json={"yaml": MISSPELLED})
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is False and body["tests"] == {"passed": 0, "failed": 0}
    [d] = body["diagnostics"]
    assert (d["line"], d["col"]) == (17, 46)
    assert d["message"] == "unknown field 'revenu' for enterprise profiles"
    assert d["hint"] == "did you mean 'revenue'?"
    good = client.post(f"{API}/check", json={"yaml": policy_text("2亿")}).json()
    assert good == {
        "ok": True,
        "diagnostics": [],
        "tests": {"passed": 1, "failed": 0},
        "policy": POLICY_ID,
        "audience": "enterprise",
    }
    failing = policy_text().replace("expect: eligible", "expect: ineligible")
    bad_test = client.post(f"{API}/check", json={"yaml": failing}).json()
    assert bad_test["ok"] is False and bad_test["tests"] == {"passed": 0, "failed": 1}
    assert bad_test["diagnostics"][0]["line"] == 20
    vocab = client.get(f"{API}/schema").json()
    assert "revenue" in [f["name"] for f in vocab["fields"]["enterprise"]]
    assert "years_since" in [f["name"] for f in vocab["functions"]]
    assert "criteria" in vocab["keys"]["policy"]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer forged-token", "Bearer ", "Basic YWxpY2U6eA==", "EXPIRED", "DISABLED"],
)
def test_refused_credentials_change_nothing(console: Console, header: str | None) -> None:
    url = console.web.url
    if header == "EXPIRED":
        with session_scope(url) as s:
            s.scalar(select(Officer).where(Officer.name == "alice")).token_expires_at = (  # type: ignore[union-attr]
                dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        header = f"Bearer {console.tokens['alice']}"
    if header == "DISABLED":
        with session_scope(url) as s:
            s.scalar(select(Officer).where(Officer.name == "alice")).active = False  # type: ignore[union-attr]
        header = f"Bearer {console.tokens['alice']}"
    client = console.web.client()
    if header is not None:
        client.headers["Authorization"] = header
    before = counts(url)
    r = client.post(f"{API}/policies", json={"yaml": policy_text("2亿")})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"] == "officer_unauthenticated"
    assert client.get(f"{API}/policies").status_code == 401
    draft = client.post(f"{API}/policies/{POLICY_ID}/versions/1/approve")
    assert draft.status_code == 401
    assert counts(url) == before


def test_submit_review_approve_run_results(console: Console) -> None:
    alice, bob, carol = console.client("alice"), console.client("bob"), console.client("carol")
    r = alice.post(f"{API}/policies", json={"yaml": policy_text("2亿")})
    assert r.status_code == 201
    assert r.json() == {"policy": POLICY_ID, "version": 2, "status": "draft"}
    again = alice.post(f"{API}/policies", json={"yaml": policy_text("2亿")})
    assert again.status_code == 409 and "already version 2" in again.json()["detail"]
    bad = alice.post(f"{API}/policies", json={"yaml": MISSPELLED})
    assert bad.status_code == 422 and "17:46" in bad.json()["detail"]
    assert bob.post(f"{API}/policies", json={"yaml": policy_text("3亿")}).status_code == 403

    [row] = alice.get(f"{API}/policies").json()
    assert (row["policy"], row["version"], row["status"]) == (POLICY_ID, 1, "published")
    assert row["drafts"] == 1 and row["latest_version"] == 2
    assert row["window"]["opens"] is not None and row["audience"] == "enterprise"
    versions = alice.get(f"{API}/policies/{POLICY_ID}/versions").json()
    assert [(v["version"], v["status"], v["author"]) for v in versions] == [
        (1, "published", "admin"),
        (2, "draft", "alice"),
    ]
    detail = alice.get(f"{API}/policies/{POLICY_ID}/versions/2").json()
    assert detail["yaml"] == policy_text("2亿")

    diff = bob.get(f"{API}/policies/{POLICY_ID}/versions/2/diff").json()
    assert diff["base_version"] == 1
    changed = [r for r in diff["rows"] if r["op"] != "equal"]
    assert changed and all("1亿" in r["left"] and "2亿" in r["right"] for r in changed)
    assert "-  - {id: revenue" in diff["unified"] and "+  - {id: revenue" in diff["unified"]

    preview = bob.get(f"{API}/policies/{POLICY_ID}/versions/2/preview").json()
    # E1 (1.5亿) no longer qualifies at 2亿; E2 (3亿) still does; E3 never did
    assert preview["profiles"] == 3 and preview["no_longer_eligible"] == 1
    assert (
        preview["newly_eligible"] == 0 and preview["by_city"]["杭州市"]["no_longer_eligible"] == 1
    )
    assert preview["samples"][0]["profile"] == "E1"

    own = alice.post(f"{API}/policies/{POLICY_ID}/versions/2/approve", json={"comment": "ok"})
    assert own.status_code == 403  # an author role cannot approve at all
    # an admin who wrote a draft cannot approve it either
    root = console.client("root")
    assert root.post(f"{API}/policies", json={"yaml": policy_text("4亿")}).status_code == 201
    mine = root.post(f"{API}/policies/{POLICY_ID}/versions/3/approve")
    assert mine.status_code == 403 and "own policy" in mine.json()["detail"]
    assert carol.post(f"{API}/policies/{POLICY_ID}/versions/2/approve").status_code == 403

    ok = bob.post(f"{API}/policies/{POLICY_ID}/versions/2/approve", json={"comment": "门槛合理"})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["status"] == "published" and isinstance(body["run"], int)
    assert body["impact"]["no_longer_eligible"] == 1
    twice = bob.post(f"{API}/policies/{POLICY_ID}/versions/2/approve")
    assert twice.status_code == 409

    run = bob.get(f"{API}/runs/{body['run']}").json()
    assert run["status"] == "done" and run["chunks_done"] == run["chunks_total"] >= 1
    assert set(run["counts"]) >= {"profiles"} and run["counts"]["profiles"] == 3
    assert bob.get(f"{API}/runs/999999").status_code == 404
    assert bob.get(f"{API}/runs").json()[0]["id"] == body["run"]

    results = bob.get(f"{API}/policies/{POLICY_ID}/results").json()
    assert results["eligible"] == 1 and results["holdout"] is None
    assert results["applied"] == 0 and results["apply_rate"] == 0.0
    assert results["by_city"]["宁波市"]["eligible"] == 1
    assert bob.get(f"{API}/policies/nope/results").status_code == 404

    log = actions(console.web.url)
    assert ("alice", "policy.submit", f"{POLICY_ID}@v2") in log
    assert ("bob", "policy.publish", f"{POLICY_ID}@v2") in log
    assert ("bob", "run.start", f"run {body['run']}") in log


def test_reject_with_comment(console: Console) -> None:
    alice, bob = console.client("alice"), console.client("bob")
    assert alice.post(f"{API}/policies", json={"yaml": policy_text("2亿")}).status_code == 201
    path = f"{API}/policies/{POLICY_ID}/versions/2/reject"
    assert alice.post(path, json={"comment": "撤回"}).status_code == 403
    assert bob.post(path, json={"comment": ""}).status_code == 422
    r = bob.post(path, json={"comment": "营收门槛需与文件一致"})
    assert r.status_code == 200 and r.json() == {"status": "rejected"}
    assert bob.post(path, json={"comment": "again"}).status_code == 409
    approve = bob.post(f"{API}/policies/{POLICY_ID}/versions/2/approve")
    assert approve.status_code == 409
    v2 = alice.get(f"{API}/policies/{POLICY_ID}/versions/2").json()
    assert v2["status"] == "rejected" and v2["review_comment"] == "营收门槛需与文件一致"
    assert bob.get(f"{API}/policies/{POLICY_ID}/versions/9/diff").status_code == 404
    assert ("bob", "policy.reject", f"{POLICY_ID}@v2") in actions(console.web.url)


def test_only_admins_manage_officers(console: Console) -> None:
    new = {"name": "dave", "role": "approver", "password": "dave-password-1"}
    for who in ("alice", "bob"):
        client = console.client(who)
        assert client.get(f"{API}/officers").status_code == 403
        assert client.post(f"{API}/officers", json=new).status_code == 403
        assert client.patch(f"{API}/officers/carol", json={"role": "admin"}).status_code == 403
        assert client.post(f"{API}/officers/carol/token", json={}).status_code == 403
    root = console.client("root")
    r = root.post(f"{API}/officers", json=new)
    assert r.status_code == 201
    token = r.json()["token"]
    assert r.json()["has_password"] is True and r.json()["role"] == "approver"
    dave = console.web.client()
    dave.headers["Authorization"] = f"Bearer {token}"
    assert dave.get(f"{API}/me").json()["may_approve"] is True
    assert root.post(f"{API}/officers", json=new).status_code == 400  # exists
    assert (
        root.post(f"{API}/officers", json={**new, "name": "eve", "role": "boss"}).status_code == 400
    )
    short = root.post(f"{API}/officers", json={**new, "name": "eve", "password": "short"})
    assert short.status_code == 400 and "10 characters" in short.json()["detail"]
    rotated = root.post(f"{API}/officers/dave/token", json={"days": 30}).json()
    assert dave.get(f"{API}/me").status_code == 401  # the old token stopped working
    dave.headers["Authorization"] = f"Bearer {rotated['token']}"
    assert dave.get(f"{API}/me").status_code == 200 and rotated["expires_at"]
    assert root.patch(f"{API}/officers/dave", json={"active": False}).json()["active"] is False
    assert dave.get(f"{API}/me").status_code == 401
    assert root.patch(f"{API}/officers/root", json={"active": False}).status_code == 400
    assert root.patch(f"{API}/officers/nobody", json={"role": "author"}).status_code == 404
    names = [o["name"] for o in root.get(f"{API}/officers").json()]
    assert names == ["admin", "alice", "bob", "carol", "dave", "root"]
    log = actions(console.web.url)
    assert ("root", "officer.add", "dave") in log and ("root", "officer.disable", "dave") in log
    assert ("root", "officer.token", "dave") in log


def test_look_up_profiles_and_explain(console: Console) -> None:
    bob = console.client("bob")
    by_id = bob.get(f"{API}/profiles", params={"q": "E2"}).json()
    assert [(f["id"], f["matched_by"]) for f in by_id] == [("E2", "id")]
    by_uscc = bob.get(f"{API}/profiles", params={"q": "91330106ma27xk0e8j"}).json()
    assert [(f["id"], f["matched_by"]) for f in by_uscc] == [("E1", "uscc")]
    fuzzy = bob.get(f"{API}/profiles", params={"q": "宁波示范制造"}).json()
    assert fuzzy[0]["id"] == "E2" and fuzzy[0]["matched_by"] == "name"
    assert fuzzy[0]["score"] >= 60
    assert bob.get(f"{API}/profiles", params={"q": "完全无关的名字xyz"}).json() == []

    # decisions come from a run: approve a version so the store has them
    root = console.client("root")
    assert root.post(f"{API}/policies", json={"yaml": policy_text("2亿")}).status_code == 201
    assert bob.post(f"{API}/policies/{POLICY_ID}/versions/2/approve").status_code == 200
    profile = bob.get(f"{API}/profiles/E2").json()
    assert profile["data"]["name"] == "宁波示例制造有限公司"
    [decision] = profile["decisions"]
    assert (decision["policy"], decision["outcome"], decision["stored"]) == (
        POLICY_ID,
        "eligible",
        True,
    )
    e1 = bob.get(f"{API}/profiles/E1").json()["decisions"][0]
    assert e1["outcome"] == "ineligible" and e1["stored"] is False
    explained = bob.get(f"{API}/profiles/E1/explain/{POLICY_ID}").json()
    assert explained["outcome"] == "ineligible" and explained["failed"] == ["revenue"]
    assert "营业收入" in explained["text"] and explained["lines"]
    assert bob.get(f"{API}/profiles/E9").status_code == 404
    assert bob.get(f"{API}/profiles/E1/explain/nope").status_code == 404
    log = actions(console.web.url)
    assert ("bob", "profile.view", "E2") in log and ("bob", "profile.explain", "E1") in log
    assert ("bob", "profile.search", "宁波示范制造") in log


def test_audit_log_newest_first_and_paged(console: Console) -> None:
    alice = console.client("alice")
    alice.post(f"{API}/policies", json={"yaml": policy_text("2亿")})
    entries = alice.get(f"{API}/audit", params={"limit": 2}).json()
    assert entries[0]["action"] == "policy.submit" and entries[0]["officer"] == "alice"
    older = alice.get(f"{API}/audit", params={"before": entries[-1]["id"]}).json()
    assert older and all(e["id"] < entries[-1]["id"] for e in older)
    only = alice.get(f"{API}/audit", params={"action": "officer."}).json()
    assert only and all(e["action"].startswith("officer.") for e in only)


def test_run_progress_stream_ends_when_done(console: Console) -> None:
    root, bob = console.client("root"), console.client("bob")
    root.post(f"{API}/policies", json={"yaml": policy_text("2亿")})
    run_id = bob.post(f"{API}/policies/{POLICY_ID}/versions/2/approve").json()["run"]
    with bob.stream("GET", f"{API}/runs/{run_id}/events") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    assert "event: progress" in text and '"status": "done"' in text
    assert text.rstrip().endswith('data: {"status": "done"}')
    assert bob.get(f"{API}/runs/424242/events").status_code == 404


def test_openapi_documents_every_officer_route(console: Console) -> None:
    spec = console.web.client().get("/api/openapi.json").json()
    paths = {p: ops for p, ops in spec["paths"].items() if p.startswith(API)}
    for route in (
        "/check",
        "/policies",
        "/policies/{policy_id}/versions/{version}/preview",
        "/policies/{policy_id}/versions/{version}/approve",
        "/policies/{policy_id}/versions/{version}/reject",
        "/runs/{run_id}",
        "/policies/{policy_id}/results",
    ):
        assert API + route in paths
    for path, ops in paths.items():
        for method, op in ops.items():
            assert op.get("security"), f"{method} {path} documents no bearer token"
            if not path.endswith("/events"):
                ok = op["responses"].get("200") or op["responses"].get("201")
                assert ok and "$ref" in str(ok), f"{method} {path} has no response model"
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_results_report_the_holdout_lift(console: Console) -> None:
    from zhida.store.models import FeedbackEvent

    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    with session_scope(console.web.url) as s:
        for profile, kind in (("E1", "sent"), ("E2", "sent"), ("E3", "held_out")):
            s.add(FeedbackEvent(profile_id=profile, policy_id=POLICY_ID, kind=kind, at=at))
        later = at + dt.timedelta(days=1)
        s.add(FeedbackEvent(profile_id="E1", policy_id=POLICY_ID, kind="applied", at=later))
    holdout = console.client("bob").get(f"{API}/policies/{POLICY_ID}/results").json()["holdout"]
    assert holdout["notified"] == 2 and holdout["notified_took"] == 1
    assert holdout["held_out"] == 1 and holdout["held_out_took"] == 0
    assert holdout["lift"] == 0.5 and holdout["low"] < 0.5 < holdout["high"]
    page = console.web.client()
    assert page.get(f"/officer/results/{POLICY_ID}").status_code == 303  # pages need a session


def test_policy_list_shows_the_tags(console: Console) -> None:
    text = policy_text().replace("department:", "tags: [科技创新, 资质认定]\ndepartment:", 1)
    publish(console.web.url, text)
    [row] = console.client("alice").get(f"{API}/policies").json()
    assert row["version"] == 2 and row["tags"] == ["科技创新", "资质认定"]
    client = console.web.client()
    sign_in(client, "alice", "alice-password-1")
    page = client.get("/officer")
    assert '<span class="policy-tag">科技创新</span>' in page.text and "<th>标签</th>" in page.text


def test_preview_forecasts_spend_against_the_budget(console: Console) -> None:
    alice = console.client("alice")
    text = policy_text().replace(POLICY_ID, "zd-budget-grant")  # no stored decisions yet
    plain = alice.post(f"{API}/preview", json={"yaml": text}).json()
    assert plain["newly_eligible"] == 2 and plain["forecast"] is None
    budgeted = text.replace("department:", "budget: 30万\ndepartment:", 1)
    r = alice.post(f"{API}/preview", json={"yaml": budgeted})
    assert r.status_code == 200, r.text
    out = r.json()
    assert {k: out[k] for k in plain if k not in ("seconds", "forecast")} == {
        k: plain[k] for k in plain if k not in ("seconds", "forecast")
    }  # the contract's fields are unchanged
    forecast = out["forecast"]
    assert (forecast["budget"], forecast["spend"], forecast["eligible_spend"]) == (
        300_000,
        400_000,  # E1 and E2, 20万 each
        400_000,
    )
    assert forecast["share"] == pytest.approx(4 / 3) and forecast["over_budget"] is True
    assert forecast["unpriced"] == 0 and forecast["spend_text"] == "40万元"
    spec = alice.get("/api/openapi.json").json()
    assert "ForecastOut" in spec["components"]["schemas"]
