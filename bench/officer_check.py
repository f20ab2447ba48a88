"""Benchmark: checking as the officer types, `POST /api/officer/check` on a 200-line policy.

    python -m bench.officer_check [--lines 200] [--repeat 40]

Builds a policy of about N lines (criteria, defines and tests like the example pack's),
then times, through the HTTP layer (the FastAPI app in process, a bearer officer
token, SQLite), the check of the valid text and of the text with one misspelled field
(what the editor sends after a keystroke), beside the checker called directly (the
baseline: what the HTTP layer adds). Target: a diagnostic back within 300 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable

HEAD = """id: bench-typing
title: 打字检查基准政策
department: 基准测试局
audience: enterprise
window: {opens: 2026-01-01, closes: 2026-12-31}
benefit:
  amount: min(revenue * 0.01, 50万)
  summary: 按营业收入1%奖励，最高50万元
define:
  age: years_since(established)
  per_head: revenue / max(employees, 1)
criteria:
"""


def make_policy(lines: int) -> str:
    criteria = []
    tests = []
    i = 0
    while len((HEAD + "".join(criteria) + "tests:\n" + "".join(tests)).splitlines()) < lines:
        criteria.append(
            f"  - {{id: c{i}, label: 营业收入不低于{i + 1}万元, when: revenue >= {i + 1}万}}\n"
        )
        tests.append(
            f"  - name: 合格{i}\n"
            "    as_of: 2026-04-01\n"
            f"    profile: {{revenue: {i + 500}万, established: 2019-05-01, employees: 30}}\n"
            "    expect: eligible\n"
        )
        i += 1
    return HEAD + "".join(criteria) + "tests:\n" + "".join(tests)


def timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    fn()  # warm: imports, the first compile of the grammar
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    seconds.sort()
    return {
        "p50_ms": round(statistics.median(seconds) * 1000, 1),
        "p95_ms": round(seconds[int(0.95 * (len(seconds) - 1))] * 1000, 1),
        "max_ms": round(seconds[-1] * 1000, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=40)
    args = ap.parse_args()

    from tests.support.app_factories import app_for
    from zhida.publishing.checking import check_text
    from zhida.publishing.officers import add_officer
    from zhida.settings import Settings
    from zhida.store.db import session_scope, upgrade

    good = make_policy(args.lines)
    bad = good.replace("when: revenue >= 1万", "when: revenu >= 1万", 1)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        with session_scope(url) as s:
            token = add_officer(s, "bench", "author")[1]
        settings = Settings(database_url=url, redis_url="", secret_key="bench-secret-" + "x" * 32)
        from fastapi.testclient import TestClient

        client = TestClient(app_for(url, lambda: settings))
        client.headers["Authorization"] = f"Bearer {token}"

        def post(text: str) -> dict[str, object]:
            r = client.post("/api/officer/check", json={"yaml": text})
            assert r.status_code == 200, r.text
            return dict(r.json())

        ok, err = post(good), post(bad)
        assert ok["ok"] is True, ok["diagnostics"]
        assert err["ok"] is False and err["diagnostics"], err
        result = {
            "lines": len(good.splitlines()),
            "tests_in_policy": ok["tests"],
            "http_valid": timed(lambda: post(good), args.repeat),
            "http_misspelled": timed(lambda: post(bad), args.repeat),
            "direct_valid": timed(lambda: check_text(good), args.repeat),
            "direct_misspelled": timed(lambda: check_text(bad), args.repeat),
            "first_diagnostic": err["diagnostics"][0],  # type: ignore[index]
        }
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
