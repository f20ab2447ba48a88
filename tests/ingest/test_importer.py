"""`zhida import`: upsert by id, bad rows, atomicity, entity resolution, review (SQLite and
PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select

from tests.support.cli import CliResult, run_cli
from zhida.errors import ProfileDataError
from zhida.ingest.importer import import_file
from zhida.ingest.review import accept_review, list_reviews, reject_review
from zhida.ingest.upsert import profile_json_column
from zhida.profiles.readers import read_profiles, write_profiles
from zhida.profiles.schema import Audience, SchemaSet
from zhida.profiles.synth import synthesize_enterprises
from zhida.profiles.uscc import make_uscc
from zhida.store.db import session_scope
from zhida.store.models import AuditLog, Profile, ReviewItem
from zhida.store.profiles import load_frame, profile_json

SCHEMAS = SchemaSet.builtin()
U1 = make_uscc("91330106MA2AAAAA1")
U2 = make_uscc("91330106MA2BBBBB2")
U3 = make_uscc("91330106MA2CCCCC3")
P1, P2 = "+8613800000001", "+8613900000002"
H1, H2, H3 = (hashlib.sha256(x).hexdigest() for x in (b"1", b"2", b"3"))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def ent(**fields: Any) -> dict[str, Any]:
    return {"kind": "enterprise", **fields}


def run_import(url: str, path: Path, **kw: Any) -> Any:
    with session_scope(url) as s:
        return import_file(s, path, **kw)


def profiles(url: str) -> dict[str, dict[str, Any]]:
    with session_scope(url) as s:
        return {p.id: dict(p.data) for p in s.scalars(select(Profile))}


def counts(url: str) -> tuple[int, int, int]:
    with session_scope(url) as s:
        return (
            s.scalar(select(func.count()).select_from(Profile)) or 0,
            s.scalar(select(func.count()).select_from(AuditLog)) or 0,
            s.scalar(select(func.count()).select_from(ReviewItem)) or 0,
        )


def links(url: str) -> list[tuple[str, str]]:
    with session_scope(url) as s:
        rows = s.execute(
            select(AuditLog.subject, AuditLog.detail)
            .where(AuditLog.action == "profile.link")
            .order_by(AuditLog.id)
        )
        return [(subject, detail["target"]) for subject, detail in rows]


def zhida(url: str, *args: str | Path) -> CliResult:
    """`zhida ARGS` (in process) on this database."""
    return run_cli(*args, env={"ZHIDA_DATABASE_URL": url})


# =========================================================================== upsert


def test_second_import_updates_by_id(db_url: str, tmp_path: Path) -> None:
    first = write_jsonl(
        tmp_path / "a.jsonl",
        [
            ent(
                id="E1", uscc=U1, name="甲科技有限公司", region="330106", employees=10, revenue=1e6
            ),
            ent(id="E2", uscc=U2, name="乙贸易有限公司", region="330281", employees=20),
        ],
    )
    r1 = run_import(db_url, first, source="工商")
    assert r1.counts["new"] == 2 and r1.written == 2 and not r1.errors
    second = write_jsonl(
        tmp_path / "b.jsonl",
        [
            ent(id="E1", employees=11),  # only what this source knows
            ent(id="E3", uscc=U3, name="丙电子有限公司", region="330782", established="2020-02-29"),
        ],
    )
    r2 = run_import(db_url, second, source="税务")
    assert (r2.counts["update"], r2.counts["new"]) == (1, 1)
    stored = profiles(db_url)
    assert sorted(stored) == ["E1", "E2", "E3"]
    assert stored["E1"] == {
        "id": "E1",
        "uscc": U1,
        "name": "甲科技有限公司",
        "region": "330106",
        "employees": 11,
        "revenue": 1e6,
    }
    assert stored["E3"]["established"] == "2020-02-29"
    with session_scope(db_url) as s:
        assert s.get(Profile, "E1").source == "税务"  # type: ignore[union-attr]
        assert s.get(Profile, "E2").source == "工商"  # type: ignore[union-attr]


def test_stored_profiles_load_back_exactly(db_url: str, tmp_path: Path) -> None:
    frame = synthesize_enterprises(500, seed=5)
    path = tmp_path / "e.parquet"
    write_profiles(frame, path, kind="enterprise")
    report = run_import(db_url, path, chunk_rows=120)
    assert report.counts["new"] == 500
    with session_scope(db_url) as s:
        back = load_frame(s, "enterprise", SCHEMAS[Audience.ENTERPRISE])
    assert back.equals(read_profiles(path, SCHEMAS).frames[Audience.ENTERPRISE].sort("id"))
    report = run_import(db_url, path, chunk_rows=120)  # the same file again: updates only
    assert (report.counts["update"], report.counts["new"]) == (500, 0)
    assert counts(db_url)[0] == 500


def test_json_column_is_profile_json() -> None:
    frame = synthesize_enterprises(200, seed=1)
    texts = profile_json_column(frame).to_list()
    assert [json.loads(t) for t in texts] == [profile_json(r) for r in frame.to_dicts()]
    tricky = pl.DataFrame({"id": [None, 'a"b', ',"x":null'], "x": [None, 1, None]})
    assert [json.loads(t) for t in profile_json_column(tricky)] == [
        {},
        {"id": 'a"b', "x": 1},
        {"id": ',"x":null'},
    ]


def test_citizens_import_and_resolve_by_id_hash(db_url: str, tmp_path: Path) -> None:
    run_import(
        db_url,
        write_jsonl(
            tmp_path / "a.jsonl",
            [{"kind": "citizen", "id": "C1", "id_hash": H1, "name": "张伟", "education": "本科"}],
        ),
    )
    r = run_import(
        db_url,
        write_jsonl(
            tmp_path / "b.jsonl",
            [
                {"kind": "citizen", "id": "X1", "id_hash": H1, "education": "硕士"},
                {"kind": "citizen", "id": "X2", "id_hash": H2, "name": "张伟"},
            ],
        ),
    )
    assert (r.counts["merge"], r.counts["new"], r.counts["review"]) == (1, 1, 0)
    stored = profiles(db_url)
    assert sorted(stored) == ["C1", "X2"]
    assert stored["C1"]["education"] == "硕士" and stored["C1"]["id"] == "C1"


# =========================================================================== bad input


BAD_CSV = (
    "kind,id,uscc,name,region,established,employees\n"
    f"enterprise,E1,{U1},甲科技有限公司,330106,2019-05-01,10\n"
    "enterprise,E2,91330100716105852A,乙有限公司,330106,2019-05-01,10\n"
    f"enterprise,E3,{U3},丙有限公司,330106,2019-02-30,10\n"
    f"enterprise,E4,{U2},丁有限公司,330106,2019-05-01,many\n"
    "enterprise,E5,,戊有限公司,330106,2019-05-01,10\n"
)


def test_bad_rows_are_reported_and_good_rows_stored(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    result = zhida(db_url, "import", path, "--source", "测试")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ": error: " in ln]
    assert [ln.split(":")[1] for ln in lines] == ["3", "4", "5"]
    assert lines[0].startswith(f"{path}:3: error: uscc")
    assert "新建 2" in result.stdout and "错误 3" in result.stdout
    assert sorted(profiles(db_url)) == ["E1", "E5"]


def test_a_broken_file_writes_nothing(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    path.write_bytes(b"PAR1 this is not parquet at all")
    result = zhida(db_url, "import", path)
    assert result.returncode == 1
    assert "not a readable Parquet file" in result.stderr and "Traceback" not in result.stderr
    other = tmp_path / "p.xlsx"
    other.write_bytes(b"\x00\x01")
    result = zhida(db_url, "import", other)
    assert result.returncode == 1 and "unsupported profile file type" in result.stderr
    assert counts(db_url) == (0, 0, 0)
    with pytest.raises(ProfileDataError):
        run_import(db_url, path)
    assert counts(db_url) == (0, 0, 0)


def test_an_id_of_the_other_kind_is_a_bad_row(db_url: str, tmp_path: Path) -> None:
    run_import(db_url, write_jsonl(tmp_path / "a.jsonl", [ent(id="E1", name="甲有限公司")]))
    path = write_jsonl(
        tmp_path / "b.jsonl",
        [
            {"kind": "citizen", "id": "E1", "id_hash": H3},
            {"kind": "citizen", "id": "C2", "id_hash": H2},
        ],
    )
    result = zhida(db_url, "import", path)
    assert result.returncode == 3
    assert "编号 E1 在库中是企业档案，不能作为个人档案导入" in result.stderr
    assert sorted(profiles(db_url)) == ["C2", "E1"]


# =========================================================================== atomicity


class Boom(RuntimeError):
    pass


def test_a_failure_mid_import_leaves_the_database_unchanged(db_url: str, tmp_path: Path) -> None:
    frame = synthesize_enterprises(400, seed=7)
    first = tmp_path / "a.parquet"
    write_profiles(frame.head(200), first, kind="enterprise")
    run_import(db_url, first)
    before = profiles(db_url), counts(db_url)
    second = tmp_path / "b.parquet"  # 200 updates (changed) and 200 new rows
    write_profiles(frame.with_columns(pl.col("employees") + 1), second, kind="enterprise")
    written: list[int] = []

    def fail_half_way(n: int) -> None:
        written.append(n)
        if sum(written) >= 200:
            raise Boom("disk full")

    with pytest.raises(Boom):
        run_import(db_url, second, progress=fail_half_way, chunk_rows=50)
    assert sum(written) == 200
    assert (profiles(db_url), counts(db_url)) == before
    run_import(db_url, second)  # and the database still works
    assert counts(db_url)[0] == 400


# =========================================================================== resolution


def seed_store(url: str, tmp_path: Path) -> None:
    run_import(
        url,
        write_jsonl(
            tmp_path / "seed.jsonl",
            [
                ent(
                    id="E1",
                    uscc=U1,
                    name="杭州某某科技有限公司",
                    region="330106",
                    phone=P1,
                    employees=10,
                ),
                ent(id="E2", name="宁波东方贸易有限公司", region="330203"),
            ],
        ),
        source="工商",
    )


def test_resolution_through_the_store(db_url: str, tmp_path: Path) -> None:
    seed_store(db_url, tmp_path)
    path = write_jsonl(
        tmp_path / "b.jsonl",
        [
            ent(id="S1", name="某某科技有限责任公司", region="330106", revenue=5e6),  # merge
            ent(id="S2", uscc=U1, name="某某科技", employees=12),  # same uscc: merge
            ent(id="S3", name="杭州某某科技有限公司", region="330281", phone=P2),  # review
            ent(id="S4", name="温州南方鞋业有限公司", region="330302"),  # new
            ent(id="S5", name="宁波东方贸易股份有限公司", region="330203"),  # merge into E2
        ],
    )
    r = run_import(db_url, path, source="税务")
    assert (r.counts["merge"], r.counts["review"], r.counts["new"]) == (3, 1, 1)
    stored = profiles(db_url)
    assert sorted(stored) == ["E1", "E2", "S4"]
    assert stored["E1"]["revenue"] == 5e6 and stored["E1"]["employees"] == 12
    assert stored["E1"]["name"] == "某某科技"  # the incoming fields update it
    assert stored["E1"]["id"] == "E1"
    assert links(db_url) == [("S1", "E1"), ("S2", "E1"), ("S5", "E2")]
    with session_scope(db_url) as s:
        [item] = list_reviews(s)
        assert (item.candidate_id, item.score, item.source) == ("E1", 100.0, "税务")
        assert item.incoming["id"] == "S3" and item.incoming["kind"] == "enterprise"
        assert "地区不同" in item.reason

    # the same file again: links go straight to their profiles, no second review item
    r = run_import(db_url, path, source="税务")
    assert (r.counts["update"], r.counts["merge"], r.counts["review"]) == (4, 0, 1)
    assert len(links(db_url)) == 3
    assert counts(db_url)[2] == 1


def test_review_accept_and_reject(db_url: str, tmp_path: Path) -> None:
    seed_store(db_url, tmp_path)
    path = write_jsonl(
        tmp_path / "b.jsonl",
        [
            ent(id="S3", name="杭州某某科技有限公司", region="330281", phone=P2, employees=99),
            ent(id="S6", name="宁波东方贸易有限公司", region="330106"),
        ],
    )
    run_import(db_url, path, source="税务")
    with session_scope(db_url) as s:
        items = {i.incoming["id"]: i.id for i in list_reviews(s)}
    assert sorted(items) == ["S3", "S6"]

    listing = zhida(db_url, "import", "review")
    assert listing.returncode == 0, listing.stderr
    for text in ("实体识别待审核", "S3", "S6", "E1", "E2", "杭州某某科技有限公司"):
        assert text in listing.stdout
    assert P2 not in listing.stdout  # contact data stays out of the listing

    accepted = zhida(db_url, "import", "review", "--accept", str(items["S3"]))
    assert accepted.returncode == 0, accepted.stderr
    assert "已合并到档案 E1" in accepted.stdout
    rejected = zhida(db_url, "import", "review", "--reject", str(items["S6"]))
    assert rejected.returncode == 0 and "已新建档案 S6" in rejected.stdout
    again = zhida(db_url, "import", "review", "--accept", str(items["S3"]))
    assert again.returncode == 1 and "already closed" in again.stderr
    missing = zhida(db_url, "import", "review", "--reject", "999")
    assert missing.returncode == 1 and "no review item 999" in missing.stderr

    stored = profiles(db_url)
    assert sorted(stored) == ["E1", "E2", "S6"]
    assert stored["E1"]["employees"] == 99 and stored["E1"]["phone"] == P2
    assert stored["S6"] == {"id": "S6", "name": "宁波东方贸易有限公司", "region": "330106"}
    with session_scope(db_url) as s:
        actions = list(s.scalars(select(AuditLog.action).order_by(AuditLog.id)))
        assert actions[-3:] == ["review.accept", "profile.link", "review.reject"]
        statuses = {i.incoming["id"]: i.status for i in list_reviews(s, None)}
        assert statuses == {"S3": "merged", "S6": "created"}
    assert "没有待审核的档案" in zhida(db_url, "import", "review").stdout
    assert "已合并" in zhida(db_url, "import", "review", "--all").stdout

    # importing the same rows again: S3 follows its link, S6 is its own profile now
    r = run_import(db_url, path, source="税务")
    assert (r.counts["update"], r.counts["review"]) == (2, 0)


def test_review_functions_refuse_bad_items(db_url: str, tmp_path: Path) -> None:
    seed_store(db_url, tmp_path)
    run_import(
        db_url,
        write_jsonl(
            tmp_path / "b.jsonl", [ent(id="S3", name="杭州某某科技有限公司", region="330281")]
        ),
    )
    with session_scope(db_url) as s:
        [item] = list_reviews(s)
        s.delete(s.get(Profile, "E1"))
    from zhida.errors import ZhidaError

    with session_scope(db_url) as s, pytest.raises(ZhidaError, match="no longer exists"):
        accept_review(s, item.id)
    with session_scope(db_url) as s:
        assert reject_review(s, item.id) == "S3"
    assert sorted(profiles(db_url)) == ["E2", "S3"]


def test_cli_usage(db_url: str, tmp_path: Path) -> None:
    result = zhida(db_url, "import", "--help")
    assert result.returncode == 0 and "FILE [--source NAME]" in result.stdout
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": "E1", "name": "甲有限公司"}])
    result = zhida(db_url, "import", path, "--kind", "enterprise", "--source", "s")
    assert result.returncode == 0, result.stderr
    assert "新建 1" in result.stdout
    both = zhida(db_url, "import", "review", "--accept", "1", "--reject", "2")
    assert both.returncode == 1 and "not both" in both.stderr


def test_hostile_rows_are_reported_and_the_rest_stored(db_url: str, tmp_path: Path) -> None:
    """Issue 9.9: an integer of 5,000 digits, a 200-character id and a NUL in a string are
    each a bad row with its line and reason, on both databases; the other rows are stored."""
    path = tmp_path / "p.jsonl"
    good = json.dumps(ent(id="E1", name="甲", employees=3), ensure_ascii=False)
    path.write_text(
        "\n".join(
            [
                good,
                '{"id": "E2", "kind": "enterprise", "employees": ' + "9" * 5000 + "}",
                json.dumps(ent(id="E" * 200, name="乙")),
                json.dumps(ent(id="E4", name="丙\u0000丁")),
                json.dumps(ent(id="E5\u0000", name="戊")),
                json.dumps(ent(id="E6", business_scope="软件\u0000")),
                json.dumps(ent(id="E7", name="己")),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    report = run_import(db_url, path)
    got = {e.line: e.reason for e in report.errors}
    assert sorted(got) == [2, 3, 4, 5, 6]
    assert "4300 digits" in got[2]
    assert "longer than 64 characters" in got[3]
    assert "name:" in got[4] and "NUL" in got[4]
    assert "id" in got[5] and "control character" in got[5]
    assert "business_scope:" in got[6] and "NUL" in got[6]
    assert sorted(profiles(db_url)) == ["E1", "E7"]


def test_the_report_names_the_profiles_that_changed(db_url: str, tmp_path: Path) -> None:
    """What an import re-evaluates (issue 14.5): the ids it inserted or whose data it
    changed, not the rows it only read."""
    rows = [ent(id=f"E{i}", name=f"企业{i}", employees=i) for i in range(1, 5)]
    first = run_import(db_url, write_jsonl(tmp_path / "a.jsonl", rows))
    assert first.changed == {"enterprise": ["E1", "E2", "E3", "E4"]}
    again = run_import(db_url, write_jsonl(tmp_path / "b.jsonl", rows))
    assert again.changed == {}
    rows[1] = {**rows[1], "employees": 20}
    rows[3] = {**rows[3], "tax_credit": "A"}
    rows.append(ent(id="E9", name="新企业"))
    third = run_import(db_url, write_jsonl(tmp_path / "c.jsonl", rows))
    assert third.changed == {"enterprise": ["E2", "E4", "E9"]}
