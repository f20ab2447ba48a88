"""`near_miss` on every line of `zhida evaluate`, and in `zhida explain`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_main import pack, write  # noqa: F401  (the fixture)
from tests.support.cli import run_cli

CSV = (
    "kind,id,uscc,name,phone,established,revenue\n"
    "enterprise,E1,91330106MA2GL0XB3W,甲公司,+8613800000001,2024-03-01,150000000\n"
    "enterprise,E2,91330106MA2GL0XB3W,乙公司,+8613800000002,2019-05-01,80000000\n"
    "enterprise,E3,91330106MA2GL0XB3W,丙公司,+8613800000003,2025-01-01,80000000\n"
    "enterprise,E4,91330106MA2GL0XB3W,丁公司,+8613800000004,2019-05-01,150000000\n"
)


def test_evaluate_all_prints_near_miss_on_every_line(tmp_path: Path, pack: Path) -> None:  # noqa: F811
    path = write(tmp_path, "p.csv", CSV)
    result = run_cli("evaluate", "-p", pack, "--profiles", path, "--as-of", "2026-04-01", "--all")
    lines = {r["profile"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert all("near_miss" in r for r in lines.values())
    assert lines["E1"]["near_miss"] == {"criterion": "age", "holds_on": "2027-03-01"}
    assert lines["E2"]["near_miss"] == {"criterion": "revenue", "holds_on": None}
    assert lines["E3"]["near_miss"] is None  # two criteria false
    assert lines["E4"]["outcome"] == "eligible" and lines["E4"]["near_miss"] is None


def test_explain_says_what_one_step_would_do(tmp_path: Path, pack: Path) -> None:  # noqa: F811
    path = write(tmp_path, "p.csv", CSV)
    args = ["explain", "-p", pack, "--profiles", path, "--as-of", "2026-04-01", "--policy", "lg"]
    assert "差一步：2027年3月1日起成立满3年" in run_cli(*args, "--profile", "E1").stdout
    e2 = run_cli(*args, "--profile", "E2").stdout
    assert "差一步：上年度营业收入 8,000万，需达到 1亿" in e2
    assert "差一步" not in run_cli(*args, "--profile", "E3").stdout
