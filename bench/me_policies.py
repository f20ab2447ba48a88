"""Benchmark: `GET /api/me/policies` for a profile with 50 decisions, on PostgreSQL.

    python bench/me_policies.py [--profiles 2000] [--requests 200] [--old DIR] [--rounds 2]

Builds a scratch PostgreSQL database (the server of $ZHIDA_PG_ADMIN_URL, default
postgresql://postgres@127.0.0.1:5432/test) with N enterprise profiles and 50 published
policies. The measured profile `M` has a result for all 50: eligible ones (two pairs
that exclude each other, automatic grants, one confirmed), unknown ones (missing R&D
data, one supplied self-declared), near misses (a date criterion that holds later, a
revenue gap), a stored decision row per policy, submissions, notices with feedback,
grants. The route is then called through the real app (FastAPI's TestClient, a signed-in
session cookie) `--requests` times after a warm-up; p50/p95/p99 in ms.

With `--old DIR` (a checkout of older code, e.g. `git -C /work/main archive main | tar -x
-C DIR`), the measuring part runs in subprocesses alternating between this checkout and
DIR, `--rounds` times each, on the same database; the answers must be equal. Target
(issue 11): p95 under 100 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ADMIN = os.environ.get("ZHIDA_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "bench-secret-" + "x" * 32
PROFILE = "M"


def _policy(i: int, kind: str, today: dt.date) -> str:
    """Policy i of 50: its kind decides what M gets."""
    opens, closes = today - dt.timedelta(days=30), today + dt.timedelta(days=20 + i * 7)
    head = (
        f"id: b-{i:02d}\ntitle: 基准测试政策{i:02d}号\ndepartment: 基准测试局\n"
        f"audience: enterprise\nreference: 基准〔2026〕{i}号\ntags: [基准, 第{i % 5}类]\n"
        f"window: {{opens: {opens.isoformat()}, closes: {closes.isoformat()}}}\n"
    )
    amount = f"{(i % 9 + 1) * 5}万"
    rev = (
        f"  - {{id: revenue, label: 营业收入不低于{i + 1}千万元, "
        f"when: revenue >= {(i + 1) * 1000}万}}\n"
    )
    age = "  - {id: age, label: 成立满3年, when: 'years_since(established) >= 3'}\n"
    extra, crit = "", rev + age
    if kind == "excl":
        partner = i + 1 if i % 2 == 0 else i - 1
        extra = f"excludes: [b-{partner:02d}]\n"
    elif kind == "auto":
        extra = "grant: automatic\n"
    elif kind == "unknown":
        crit = rev + f"  - {{id: rd, label: 研发费用{i}十万元, when: rd_expense >= {i * 10}万}}\n"
        amount = "min(rd_expense * 10%, 80万)"
    elif kind == "near_date":
        crit = (
            rev + f"  - {{id: age, label: 成立满{i}年, when: 'years_since(established) >= {i}'}}\n"
        )
    elif kind == "near_gap":
        crit = age + "  - {id: staff, label: 职工人数不少于500人, when: employees >= 500}\n"
    define = "define:\n  per_head: revenue / max(employees, 1)\n" if i % 3 == 0 else ""
    return (
        head
        + f"benefit: {{amount: '{amount}', summary: 一次性奖励}}\n"
        + extra
        + define
        + "criteria:\n"
        + crit
    )


KINDS = (
    ["eligible"] * 22
    + ["excl"] * 4
    + ["auto"] * 4
    + ["unknown"] * 10
    + ["near_date"] * 6
    + ["near_gap"] * 4
)


def build(url: str, n_profiles: int) -> None:
    """Profiles, the 50 policies, and M's decisions, submissions, grants, feedback."""
    from zhida.publishing.officers import add_officer
    from zhida.publishing.versions import approve, submit
    from zhida.store.db import session_scope
    from zhida.store.models import (
        Decision,
        Declaration,
        FeedbackEvent,
        Grant,
        Notification,
        Profile,
        Submission,
    )

    today = dt.date.today()
    now = dt.datetime.now(dt.UTC)
    with session_scope(url) as s:
        m = {
            "name": "基准测试科技有限公司",
            "uscc": "91330106MA27XK0E8J",
            "region": "330106",
            "established": (today - dt.timedelta(days=365 * 5 + 40)).isoformat(),
            "revenue": 6e8,
            "employees": 120,
            "high_tech": True,
            "phone": "+8613800000001",
        }
        s.add(Profile(id=PROFILE, kind="enterprise", data=m, source="bench"))
        s.add_all(
            Profile(
                id=f"E{k:06d}",
                kind="enterprise",
                data={**m, "name": f"企业{k}", "revenue": 1e6 * (k % 900), "employees": k % 700},
                source="bench",
            )
            for k in range(n_profiles - 1)
        )
    versions: dict[str, int] = {}
    with session_scope(url) as s:
        officer = add_officer(s, "bench", "admin")[0]
        for i, kind in enumerate(KINDS):
            v = submit(s, officer, _policy(i, kind, today), f"b-{i:02d}.yaml")
            approve(s, officer, v, None, allow_self_approval=True)
            versions[f"b-{i:02d}"] = v.id
    with session_scope(url) as s:
        for i, (pid, vid) in enumerate(versions.items()):
            s.add(
                Decision(
                    profile_id=PROFILE,
                    policy_id=pid,
                    policy_version_id=vid,
                    outcome=2 if KINDS[i] != "unknown" else 1,
                    benefit=1e5,
                    score=0.5,
                )
            )
            at = now - dt.timedelta(days=10 + i % 5)
            s.add(
                FeedbackEvent(
                    profile_id=PROFILE, policy_id=pid, kind="sent", at=at, detail={"channel": "sms"}
                )
            )
            if i % 4 == 0:
                s.add(FeedbackEvent(profile_id=PROFILE, policy_id=pid, kind="delivered", at=at))
            if i < 5:
                s.add(
                    Submission(
                        reference=f"ZD-B-{i:04d}",
                        profile_id=PROFILE,
                        policy_id=pid,
                        policy_version_id=vid,
                        values={},
                        outcome="eligible",
                        trace="…" * 400,
                    )
                )
            if i == 3:
                s.add(FeedbackEvent(profile_id=PROFILE, policy_id=pid, kind="granted", at=now))
            if KINDS[i] == "auto" and i % 2 == 0:
                s.add(
                    Grant(
                        profile_id=PROFILE,
                        policy_id=pid,
                        policy_version_id=vid,
                        decision="confirmed",
                        benefit=5e4,
                        record={"trace": "…" * 400},
                    )
                )
            s.add(
                Notification(
                    profile_id=PROFILE,
                    policy_id=pid,
                    policy_version_id=vid,
                    channel="inapp",
                    status="sent",
                    sent_at=at,
                    body="…",
                )
            )
        s.add(Declaration(profile_id=PROFILE, field="rd_staff", value={"value": 12}))
    _background(url, versions, n_profiles, now)


def _background(url: str, versions: dict[str, int], n_profiles: int, now: dt.datetime) -> None:
    """The other profiles' rows in the tables the route reads (by profile): a notice, its
    feedback, some submissions, grants and declarations."""
    from zhida.store.db import session_scope
    from zhida.store.models import Declaration, FeedbackEvent, Grant, Notification, Submission

    pids = list(versions.items())
    with session_scope(url) as s:
        for k in range(n_profiles - 1):
            who, (pid, vid) = f"E{k:06d}", pids[k % len(pids)]
            s.add(
                Notification(
                    profile_id=who,
                    policy_id=pid,
                    policy_version_id=vid,
                    channel="inapp",
                    status="sent",
                    sent_at=now,
                    body="…",
                )
            )
            s.add(FeedbackEvent(profile_id=who, policy_id=pid, kind="sent", at=now))
            s.add(FeedbackEvent(profile_id=who, policy_id=pid, kind="opened", at=now))
            if k % 5 == 0:
                s.add(
                    Submission(
                        reference=f"ZD-E-{k:07d}",
                        profile_id=who,
                        policy_id=pid,
                        policy_version_id=vid,
                        values={},
                        outcome="eligible",
                    )
                )
                s.add(
                    Grant(
                        profile_id=who,
                        policy_id=pid,
                        policy_version_id=vid,
                        decision="confirmed",
                        benefit=1e4,
                        record={},
                    )
                )
                s.add(Declaration(profile_id=who, field="rd_staff", value={"value": 3}))


def measure(url: str, requests: int) -> dict[str, Any]:
    """Sign in as M and time the route through the app; the timings and the answer."""
    from fastapi.testclient import TestClient

    sys.path.insert(0, str(ROOT))  # tests.support of this checkout's tree or of --old's
    from tests.support.app_factories import app_for
    from zhida.api.security import mint_login_token
    from zhida.settings import Settings

    settings = Settings(database_url=url, redis_url="", secret_key=SECRET)
    client = TestClient(app_for(url, lambda: settings), follow_redirects=False)
    path = f"/login/{mint_login_token(settings, PROFILE)}"
    confirm = client.get(path)
    token = re.search(r'name="csrf[-_]token" (?:value|content)="([^"]+)"', confirm.text)
    assert token, confirm.text
    assert client.post(path, data={"csrf_token": token.group(1)}).status_code == 303
    first = client.get("/api/me/policies")
    assert first.status_code == 200, first.text
    for _ in range(5):
        client.get("/api/me/policies")  # warm: the catalogue, the engine's pool
    seconds = []
    for _ in range(requests):
        start = time.perf_counter()
        r = client.get("/api/me/policies")
        seconds.append(time.perf_counter() - start)
        assert r.status_code == 200
    seconds.sort()

    def at(q: float) -> float:
        return round(seconds[min(len(seconds) - 1, int(q * len(seconds)))] * 1000, 1)

    body = first.json()
    return {
        "p50_ms": round(statistics.median(seconds) * 1000, 1),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "items": len(body),
        "outcomes": {
            o: sum(1 for b in body if b["outcome"] == o)
            for o in ("eligible", "unknown", "ineligible")
        },
        "answer": body,
    }


def _run(code: Path, url: str, requests: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--measure",
            url,
            "--requests",
            str(requests),
        ],
        env=env,
        cwd=code,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--old", type=Path, help="a checkout of the older code to compare")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # a database URL: measure only
    args = ap.parse_args()
    if args.measure:
        if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
            sys.path.pop(0)  # bench/'s modules are not top-level modules
        print(json.dumps(measure(args.measure, args.requests), ensure_ascii=False))
        return
    sys.path.insert(0, str(ROOT))
    from tests.support.scratch import scratch_database

    with scratch_database(ADMIN, "zhida_bench_me") as url:
        build(url, args.profiles)
        codes = [("new", ROOT)] + ([("old", args.old.resolve())] if args.old else [])
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in codes}
        for _ in range(args.rounds):
            for name, code in codes:
                runs[name].append(_run(code, url, args.requests))
    result: dict[str, Any] = {
        "profiles": args.profiles,
        "policies": len(KINDS),
        "requests": args.requests,
        "load_average": os.getloadavg(),
    }
    for name, got in runs.items():
        best = min(got, key=lambda r: r["p50_ms"])
        result[name] = {k: v for k, v in best.items() if k != "answer"}
        result[name]["p50_ms_all_rounds"] = [r["p50_ms"] for r in got]
    if args.old:
        result["old_equals_new"] = runs["old"][0]["answer"] == runs["new"][0]["answer"]
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
