"""The command line as a user meets it: exit codes, messages, never a traceback.

Most tests run the command in process (`run_cli`); one per exit code (0, 1, 2, 3) runs
the real `python -m zhida.cli` (`run_cli_process`), as a shell does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import ROOT, CliResult, run_cli, run_cli_process

PACK = ROOT / "examples" / "policies"

POLICY = """id: lg
title: 小巨人测试
audience: enterprise
benefit: {amount: 50万}
criteria:
  - {id: age, label: 成立满3年, when: years_since(established) >= 3}
  - {id: revenue, label: 上年度营业收入不低于1亿元, when: revenue >= 1亿}
"""
CITIZEN_POLICY = """id: grad
title: 毕业生补贴测试
audience: citizen
criteria:
  - {id: edu, label: 本科及以上, when: 'education in ["本科", "硕士", "博士"]'}
"""


zhida = run_cli


def no_traceback(result: CliResult | subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture()
def pack(tmp_path: Path) -> Path:
    d = tmp_path / "pack"
    d.mkdir()
    (d / "lg.yaml").write_text(POLICY, encoding="utf-8")
    (d / "grad.yaml").write_text(CITIZEN_POLICY, encoding="utf-8")
    return d


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_check_example_pack_passes() -> None:
    result = run_cli_process("check", PACK)
    assert result.returncode == 0, result.stderr
    assert "0 failed" in result.stdout


def test_check_reports_located_error_and_exits_1(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", POLICY.replace("revenue >= 1亿", "revenu >= 1亿"))
    result = run_cli_process("check", bad)
    assert result.returncode == 1
    assert (
        f"{bad}:7:47: error: unknown field 'revenu' for enterprise profiles (did you mean "
        "'revenue'?)" in result.stderr
    )
    no_traceback(result)


def test_check_malformed_yaml(tmp_path: Path) -> None:
    result = zhida("check", write(tmp_path, "bad.yaml", "id: [\n"))
    assert result.returncode == 1
    assert "error: malformed YAML" in result.stderr
    no_traceback(result)


def test_check_reports_failing_policy_test(tmp_path: Path) -> None:
    text = POLICY + (
        "tests:\n  - name: 营收不足\n    as_of: 2026-04-01\n"
        "    profile: {established: 2019-05-01, revenue: 8000万}\n"
        "    expect: eligible\n"
    )
    result = zhida("check", write(tmp_path, "t.yaml", text))
    assert result.returncode == 1
    assert "error: test '营收不足' failed: expected eligible, got ineligible" in result.stderr
    assert "failed criteria: revenue" in result.stderr
    no_traceback(result)


def test_check_missing_path(tmp_path: Path) -> None:
    result = zhida("check", tmp_path / "nope.yaml")
    assert result.returncode == 1
    assert "no such file or folder" in result.stderr


def test_check_duplicate_policy_ids_in_a_pack(pack: Path) -> None:
    (pack / "copy.yaml").write_text(POLICY, encoding="utf-8")
    result = zhida("check", pack)
    assert result.returncode == 1
    assert "policy id 'lg' is also used by" in result.stderr


CSV = """id,kind,name,established,revenue,employees,education
E1,enterprise,甲公司,2019-05-01,150000000,10,
E2,enterprise,乙公司,2019-05-01,80000000,10,
E3,enterprise,丙公司,,200000000,10,
E4,enterprise,丁公司,2019-13-01,1,1,
E5,enterprise,戊公司,2020-01-01,abc,1,
P1,citizen,张三,,,,硕士
"""


def test_evaluate_outputs_contract_lines_and_skips_bad_rows(tmp_path: Path, pack: Path) -> None:
    result = run_cli_process(
        "evaluate",
        "--policies",
        pack,
        "--profiles",
        write(tmp_path, "p.csv", CSV),
        "--as-of",
        "2026-04-01",
    )
    assert result.returncode == 3
    assert "p.csv:5: error: established" in result.stderr
    assert "p.csv:6: error: revenue" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["profile"], r["policy"], r["outcome"]) for r in lines] == [
        ("E1", "lg", "eligible"),
        ("E3", "lg", "unknown"),
        ("P1", "grad", "eligible"),
    ]
    first = lines[0]
    assert list(first) == [
        "profile",
        "policy",
        "outcome",
        "benefit",
        "takeup",
        "score",
        "rank",
        "failed",
        "unknown",
        "near_miss",
    ]
    assert first["near_miss"] is None
    assert 0 <= first["takeup"] <= 1
    assert first["benefit"] == 500000 and first["rank"] == 1 and first["failed"] == []
    assert lines[1]["unknown"] == ["age"]
    assert lines[0]["score"] > lines[1]["score"]
    no_traceback(result)


def test_evaluate_all_includes_ineligible_with_null_rank(tmp_path: Path, pack: Path) -> None:
    result = zhida(
        "evaluate",
        "-p",
        pack,
        "--profiles",
        write(tmp_path, "p.csv", CSV),
        "--as-of",
        "2026-04-01",
        "--all",
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    e2 = [r for r in lines if r["profile"] == "E2"]
    assert e2 == [
        {
            "profile": "E2",
            "policy": "lg",
            "outcome": "ineligible",
            "benefit": 500000.0,
            "takeup": 0.8025,  # the heuristic's, had it been told: 0.5 + 0.3 x 0.675 + 0.2 x 0.5
            "score": 0.0,
            "rank": None,
            "failed": ["revenue"],
            "unknown": [],
            "near_miss": {"criterion": "revenue", "holds_on": None},
        }
    ]


def test_evaluate_explain_adds_chinese_explanation(tmp_path: Path, pack: Path) -> None:
    result = zhida(
        "evaluate",
        "-p",
        pack,
        "--profiles",
        write(tmp_path, "p.csv", CSV),
        "--as-of",
        "2026-04-01",
        "--explain",
        "--all",
    )
    e2 = next(json.loads(x) for x in result.stdout.splitlines() if '"E2"' in x)
    assert (
        "不符合：上年度营业收入不低于1亿元（实际：上年度营业收入 8,000万元）" in e2["explanation"]
    )


def test_a_usage_error_exits_2(pack: Path) -> None:
    result = run_cli_process("evaluate", "-p", pack)
    assert result.returncode == 2
    assert "--profiles" in result.stderr
    assert result.stdout == ""
    no_traceback(result)


def test_explain_prints_trace(tmp_path: Path, pack: Path) -> None:
    result = zhida(
        "explain",
        "-p",
        pack,
        "--profiles",
        write(tmp_path, "p.csv", CSV),
        "--profile",
        "E2",
        "--policy",
        "lg",
        "--as-of",
        "2026-04-01",
    )
    assert "结论：不符合" in result.stdout
    assert "✓ 符合：成立满3年（依据：成立日期 2019-05-01）" in result.stdout
    assert "✗ 不符合：上年度营业收入不低于1亿元（实际：上年度营业收入 8,000万元）" in result.stdout


def test_explain_unknown_profile_or_policy(tmp_path: Path, pack: Path) -> None:
    path = write(tmp_path, "p.csv", CSV)
    result = zhida("explain", "-p", pack, "--profiles", path, "--profile", "E9", "--policy", "lg")
    assert result.returncode == 1 and "no profile 'E9'" in result.stderr
    result = zhida("explain", "-p", pack, "--profiles", path, "--profile", "P1", "--policy", "lg")
    assert result.returncode == 1 and "it is a citizen profile" in result.stderr
    result = zhida("explain", "-p", pack, "--profiles", path, "--profile", "E1", "--policy", "lgg")
    assert result.returncode == 1 and "did you mean 'lg'?" in result.stderr
    no_traceback(result)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty"),
        ("header-only.csv", "id,kind\n", "empty"),
        ("p.txt", "id,kind\nE1,enterprise\n", "p.txt"),
        ("p.parquet", "this is not parquet", "p.parquet"),
        ("p.jsonl", "\x00\x01\x02", "p.jsonl"),
    ],
)
def test_evaluate_unreadable_profile_file(
    tmp_path: Path, pack: Path, name: str, content: str, message: str
) -> None:
    result = zhida("evaluate", "-p", pack, "--profiles", write(tmp_path, name, content))
    assert result.returncode in (1, 3), result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    no_traceback(result)


def test_evaluate_unknown_column_warns_with_suggestion(tmp_path: Path, pack: Path) -> None:
    csv = "id,kind,established,revenu\nE1,enterprise,2019-05-01,150000000\n"
    result = zhida(
        "evaluate", "-p", pack, "--profiles", write(tmp_path, "p.csv", csv), "--as-of", "2026-04-01"
    )
    assert result.returncode == 3
    assert "revenu" in result.stderr and "did you mean" in result.stderr
    assert json.loads(result.stdout)["unknown"] == ["revenue"]


def test_evaluate_refuses_a_broken_pack(tmp_path: Path, pack: Path) -> None:
    (pack / "broken.yaml").write_text(
        POLICY.replace("id: lg", "id: lg2").replace(">= 3", ">= 2019-01-01"), encoding="utf-8"
    )
    result = zhida("evaluate", "-p", pack, "--profiles", write(tmp_path, "p.csv", CSV))
    assert result.returncode == 1
    assert "cannot compare a number with a date" in result.stderr
    assert result.stdout == ""


def test_check_rejects_a_broken_sms_template_and_warns_on_long_sms(tmp_path: Path) -> None:
    broken = POLICY.replace("benefit:", 'sms: "{{ nmae }}：请办理 {{ link }}"\nbenefit:')
    result = zhida("check", write(tmp_path, "broken.yaml", broken))
    assert result.returncode == 1
    assert (
        "broken.yaml:4:6: error: sms template: 'nmae' is undefined (did you mean 'name'?)"
        in result.stderr
    )
    payload = (
        "{{ cycler.__init__.__globals__.os.popen('touch "
        + str(tmp_path / "ran")
        + "').read() }}{{ link }}"
    )
    evil = POLICY.replace("benefit:", f'sms: "{payload}"\nbenefit:')
    result = zhida("check", write(tmp_path, "evil.yaml", evil))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "evil.yaml:4:6: error: sms template: call is not allowed" in result.stderr
    assert not (tmp_path / "ran").exists()
    long_title = POLICY.replace("title: 小巨人测试", "title: " + "浙江省专精特新中小企业" * 5)
    result = zhida("check", write(tmp_path, "long.yaml", long_title))
    assert result.returncode == 0
    assert "warning: the SMS would take 3 segments" in result.stderr
