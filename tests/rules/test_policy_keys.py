"""The keys `reference`, `tags`, `grant`, `excludes`, `budget`: parsed, and each way one
can be wrong is a located error (`zhida check` prints them and exits 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules.test_policy_errors import HEAD, errors_of, one_error
from tests.support.cli import run_cli
from zhida.profiles.schema import SchemaSet
from zhida.rules.loader import load_pack, load_policy_text
from zhida.rules.policy import Policy

CRITERIA = "criteria:\n  - {id: a, label: a, when: true}\n"


def load(extra: str, criteria: str = CRITERIA) -> Policy:
    return load_policy_text(HEAD + extra + criteria, "p.yaml", SchemaSet.builtin())


def test_keys_parsed() -> None:
    policy = load(
        "reference: 工信部企业〔2022〕63号\ntags: [资质认定, 科技创新]\ngrant: automatic\n"
        "excludes: [other-policy]\nbudget: 5000万\n",
        "criteria:\n  - {id: a, label: a, reference: 第五条第（二）项, when: true}\n",
    )
    assert policy.reference == "工信部企业〔2022〕63号"
    assert policy.tags == ["资质认定", "科技创新"]
    assert policy.grant == "automatic"
    assert policy.excludes == ["other-policy"]
    assert policy.excludes_locs[0].line == 7
    assert policy.budget == 5e7
    assert policy.criteria[0].reference == "第五条第（二）项"


def test_defaults() -> None:
    policy = load("")
    assert (policy.reference, policy.tags, policy.grant, policy.excludes, policy.budget) == (
        None,
        [],
        "apply",
        [],
        None,
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "grant: automatc\n",
            "p.yaml:4:8: error: grant must be one of apply, automatic, "
            "got 'automatc' (did you mean 'automatic'?)",
        ),
        ("tags: 科技\n", "p.yaml:4:7: error: tags must be a list"),
        ("tags: [a, a]\n", "p.yaml:4:11: error: duplicate tag 'a'"),
        (
            "tags: ['a,b']\n",
            "p.yaml:4:8: error: a tag must be 1-20 characters without separators, got 'a,b'",
        ),
        ("reference: ''\n", "p.yaml:4:12: error: reference must not be empty"),
        ("excludes: [p1]\n", "p.yaml:4:12: error: policy 'p1' cannot exclude itself"),
        (
            "excludes: [Bad_Id]\n",
            "p.yaml:4:12: error: excluded policy id 'Bad_Id' must match [a-z0-9][a-z0-9-]*",
        ),
        ("excludes: [x, x]\n", "p.yaml:4:15: error: policy 'x' is listed twice in excludes"),
        ("budget: -5万\n", "p.yaml:4:9: error: budget must be a positive amount, got '-5万'"),
        (
            "budget: revenue\n",
            "p.yaml:4:9: error: budget must be an amount such as 5000万, got 'revenue'",
        ),
    ],
)
def test_bad_key_is_located(extra: str, expected: str) -> None:
    assert one_error(HEAD + extra + CRITERIA) == expected


def test_bad_criterion_reference_is_located() -> None:
    err = one_error(HEAD + "criteria:\n  - {id: a, label: a, reference: [x], when: true}\n")
    assert err == "p.yaml:5:34: error: reference of 'a' must be a single value"


def test_several_bad_keys_all_reported() -> None:
    errs = errors_of(HEAD + "grant: x\nbudget: 0\n" + CRITERIA)
    assert [e.split(": error: ")[0] for e in errs] == ["p.yaml:4:8", "p.yaml:5:9"]


def write(folder: Path, pid: str, extra: str = "", audience: str = "enterprise") -> Path:
    path = folder / f"{pid}.yaml"
    path.write_text(
        f"id: {pid}\ntitle: 测试\naudience: {audience}\n{extra}{CRITERIA}", encoding="utf-8"
    )
    return path


def test_unknown_excluded_policy_suggests_the_closest(tmp_path: Path) -> None:
    write(tmp_path, "hz-college-startup-grant", audience="citizen")
    write(tmp_path, "a", "excludes: [hz-colege-startup-grant]\n", audience="citizen")
    pack = load_pack([tmp_path])
    assert [str(e) for e in pack.errors] == [
        f"{tmp_path / 'a.yaml'}:4:12: error: excludes unknown policy "
        "'hz-colege-startup-grant' (did you mean 'hz-college-startup-grant'?)"
    ]


def test_excluded_policy_known_from_its_pack_when_one_file_is_checked(tmp_path: Path) -> None:
    write(tmp_path, "b")
    one = write(tmp_path, "a", "excludes: [b]\n")
    assert load_pack([one]).errors == []


def test_excluding_another_audience_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "b", audience="citizen")
    write(tmp_path, "a", "excludes: [b]\n")
    (err,) = load_pack([tmp_path]).errors
    assert str(err).endswith(
        "error: excludes 'b', a policy for citizen profiles (this one is for enterprise)"
    )


def test_zhida_check_reports_bad_excludes(tmp_path: Path) -> None:
    write(tmp_path, "b")
    write(tmp_path, "a", "excludes: [c]\n")
    result = run_cli("check", tmp_path)
    assert result.returncode == 1
    assert f"{tmp_path / 'a.yaml'}:4:12: error: excludes unknown policy 'c'" in result.stderr


def test_every_example_policy_has_its_reference() -> None:
    pack = load_pack([Path(__file__).resolve().parents[2] / "examples" / "policies"])
    assert pack.errors == []
    assert all(p.reference and p.tags for p in pack.policies), [
        p.id for p in pack.policies if not p.reference
    ]
