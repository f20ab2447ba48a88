from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest

from zhida.errors import ProfileDataError
from zhida.profiles.readers import ProfileBatch, polars_dtype, read_profiles, write_profiles
from zhida.profiles.schema import Audience, Field, FieldType, SchemaSet
from zhida.profiles.synth import synthesize_citizens, synthesize_enterprises
from zhida.profiles.uscc import make_uscc

E, C = Audience.ENTERPRISE, Audience.CITIZEN
SCHEMAS = SchemaSet.builtin()
GOOD_USCC = "91330100716105852F"
BAD_USCC = "91330100716105852A"
PHONE = "+8613812345678"


def _csv(tmp_path: Path, text: str, name: str = "p.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _jsonl(tmp_path: Path, rows: list[object | str], name: str = "p.jsonl") -> Path:
    p = tmp_path / name
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _lines(batch: ProfileBatch) -> list[int]:
    return [e.line for e in batch.errors]


def _reason(batch: ProfileBatch, line: int) -> str:
    (err,) = [e for e in batch.errors if e.line == line]
    return err.reason


def _schema_ok(batch: ProfileBatch, schemas: SchemaSet = SCHEMAS) -> None:
    for a, frame in batch.frames.items():
        fields = list(schemas[a].fields.values())
        assert frame.columns == [f.name for f in fields]
        assert [frame.schema[f.name] for f in fields] == [polars_dtype(f.type) for f in fields]


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("ext", ["csv", "jsonl", "ndjson", "json", "parquet"])
def test_round_trip_mixed_file(tmp_path: Path, ext: str) -> None:
    ent = synthesize_enterprises(3000, seed=7)
    cit = synthesize_citizens(2000, seed=7)
    path = tmp_path / f"mixed.{ext}"
    assert write_profiles({E: ent, C: cit}, path) == 5000
    batch = read_profiles(path, SCHEMAS)
    assert batch.errors == []
    assert batch.warnings == []
    assert batch.rows_read == 5000
    _schema_ok(batch)
    assert batch.frames[E].equals(ent)
    assert batch.frames[C].equals(cit)


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_round_trip_with_extension_fields(tmp_path: Path, ext: str) -> None:
    schemas = SCHEMAS.extended(
        {
            E: {
                "tech_staff": Field("tech_staff", FieldType.INT, "科技人员数", "人"),
                "debt_ratio": Field("debt_ratio", FieldType.NUMBER, "资产负债率"),
                "certified": Field("certified", FieldType.DATE, "认定日期"),
                "tags": Field("tags", FieldType.LIST, "标签"),
            },
            C: {"has_house_in_city": Field("has_house_in_city", FieldType.BOOL, "本市有房")},
        }
    )
    ent = synthesize_enterprises(1000, seed=3, schemas=schemas)
    cit = synthesize_citizens(1000, seed=3, schemas=schemas)
    path = tmp_path / f"ext.{ext}"
    write_profiles({E: ent, C: cit}, path)
    batch = read_profiles(path, schemas)
    assert batch.errors == []
    _schema_ok(batch, schemas)
    assert batch.frames[E].equals(ent)
    assert batch.frames[C].equals(cit)


def test_written_csv_escapes_formula_cells(tmp_path: Path) -> None:
    """A name like `=HYPERLINK(...)` opens in a spreadsheet as text, not a formula;
    numbers and phone numbers are written as they are."""
    ent = synthesize_enterprises(3, seed=1).with_columns(
        pl.Series("name", ['=HYPERLINK("http://x")', "@SUM(A1)", "-2+3"])
    )
    write_profiles(ent, tmp_path / "x.csv", kind="enterprise")
    written = pl.read_csv(tmp_path / "x.csv", infer_schema=False)
    assert written["name"].to_list() == ['\'=HYPERLINK("http://x")', "'@SUM(A1)", "'-2+3"]
    assert written["phone"].to_list() == ent["phone"].to_list()


def test_single_frame_needs_kind(tmp_path: Path) -> None:
    ent = synthesize_enterprises(10)
    with pytest.raises(ValueError, match="kind"):
        write_profiles(ent, tmp_path / "x.csv")
    write_profiles(ent, tmp_path / "x.csv", kind="enterprise")
    assert pl.read_csv(tmp_path / "x.csv", infer_schema=False).columns[0] == "kind"
    batch = read_profiles(tmp_path / "x.csv", SCHEMAS)
    assert batch.frames[E].equals(ent)
    assert batch.frames[C].height == 0
    _schema_ok(batch)


# ---------------------------------------------------------------- bad rows

CSV_HEADER = "kind,id,uscc,phone,region,established,employees,revenue,high_tech,tax_credit\n"
CSV_ROWS = [
    f"enterprise,E01,{GOOD_USCC},{PHONE},330106,2019-05-01,100,1.5e8,true,A",  # 2 good
    f"enterprise,E02,{BAD_USCC},,,,,,,",  # 3 check digit
    "enterprise,E03,,+8612812345678,,,,,,",  # 4 phone
    "enterprise,E04,,,33010,,,,,",  # 5 region
    "enterprise,E05,,,,2024-13-01,,,,",  # 6 date
    "enterprise,E06,,,,,abc,,,",  # 7 int
    "enterprise,E07,,,,,1.5,,,",  # 8 fractional int
    "enterprise,E08,,,,,,lots,,",  # 9 number
    "enterprise,E09,,,,,,,maybe,",  # 10 bool
    "enterprise,,,,,,,,,",  # 11 missing id
    "enterprise,E01,,,,,,,,",  # 12 duplicate id
    "company,E10,,,,,,,,",  # 13 invalid kind
    "enterprise,E11,,,,,,,,Z",  # 14 tax credit
    "enterprise,E12, , , , , , , , ",  # 15 blanks are missing: good
    "Enterprise,E13,,,,,5.0,8000万,是,b",  # 16 good: case, 5.0, units, 是, b -> B
]


def test_csv_bad_rows_reported_with_lines(tmp_path: Path) -> None:
    batch = read_profiles(_csv(tmp_path, CSV_HEADER + "\n".join(CSV_ROWS) + "\n"), SCHEMAS)
    assert batch.rows_read == 15
    assert _lines(batch) == list(range(3, 15))
    assert "uscc" in _reason(batch, 3) and "check digit" in _reason(batch, 3)
    assert BAD_USCC in _reason(batch, 3)
    assert _reason(batch, 4).startswith("phone: +86128****5678 ")
    assert "+8612812345678" not in str(batch.errors[1])
    assert "region" in _reason(batch, 5) and "'33010'" in _reason(batch, 5)
    assert "established" in _reason(batch, 6) and "2024-13-01" in _reason(batch, 6)
    assert _reason(batch, 7) == "employees: 'abc' is not an integer"
    assert _reason(batch, 8) == "employees: '1.5' is not an integer"
    assert "revenue" in _reason(batch, 9) and "lots" in _reason(batch, 9)
    assert "high_tech" in _reason(batch, 10)
    assert _reason(batch, 11) == "missing id"
    assert _reason(batch, 12) == "duplicate id 'E01' (first on line 2)"
    assert "kind 'company'" in _reason(batch, 13)
    assert "tax_credit" in _reason(batch, 14)
    assert [e.profile_id for e in batch.errors][:2] == ["E02", "E03"]
    assert batch.errors[0].file == str(tmp_path / "p.csv")
    assert str(batch.errors[0]).startswith(f"{tmp_path / 'p.csv'}:3: error: uscc: ")

    ent = batch.frames[E]
    _schema_ok(batch)
    assert ent["id"].to_list() == ["E01", "E12", "E13"]
    first = ent.row(0, named=True)
    assert first["uscc"] == GOOD_USCC
    assert first["established"] == dt.date(2019, 5, 1)
    assert first["employees"] == 100 and first["revenue"] == 1.5e8
    assert first["high_tech"] is True and first["tax_credit"] == "A"
    assert all(v is None for k, v in ent.row(1, named=True).items() if k != "id")
    last = ent.row(2, named=True)
    assert (last["employees"], last["revenue"], last["high_tech"], last["tax_credit"]) == (
        5,
        8e7,
        True,
        "B",
    )


def test_several_problems_in_one_row_are_one_error(tmp_path: Path) -> None:
    p = _csv(tmp_path, "kind,id,employees,established\nenterprise,E1,x,2024-02-30\n")
    batch = read_profiles(p, SCHEMAS)
    assert len(batch.errors) == 1
    assert batch.errors[0].line == 2
    assert "employees" in batch.errors[0].reason and "established" in batch.errors[0].reason


def test_csv_multiline_record_blank_lines_and_ragged_rows(tmp_path: Path) -> None:
    text = (
        "kind,id,name,employees\n"  # 1
        'enterprise,E1,"多行\n名称",1\n'  # 2-3
        "\n"  # 4 blank: skipped
        "enterprise,E2,x,abc\n"  # 5 bad
        "enterprise,E3,x,1,extra\n"  # 6 too many fields
        "enterprise,E4\n"  # 7 short row: missing values
    )
    batch = read_profiles(_csv(tmp_path, text), SCHEMAS)
    assert batch.rows_read == 4
    assert _lines(batch) == [5, 6]
    assert "fields" in _reason(batch, 6)
    assert batch.frames[E]["id"].to_list() == ["E1", "E4"]
    assert batch.frames[E]["name"][0] == "多行\n名称"


def test_csv_bom_crlf_and_list_columns(tmp_path: Path) -> None:
    schemas = SCHEMAS.extended({E: {"tags": Field("tags", FieldType.LIST, "标签")}})
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeffkind,id,tags\r\nenterprise,E1,a; b ;;c\r\nenterprise,E2,\r\n".encode())
    batch = read_profiles(p, schemas)
    assert batch.errors == []
    assert batch.frames[E]["tags"].to_list() == [["a", "b", "c"], None]


def test_jsonl_bad_rows(tmp_path: Path) -> None:
    rows: list[object | str] = [
        {"kind": "enterprise", "id": "E1", "employees": 10, "revenue": "123", "high_tech": True},
        "{not json",  # 2
        "[1, 2]",  # 3 not an object
        {"kind": "enterprise", "id": "E2", "employees": "abc"},  # 4
        {"kind": "enterprise", "id": "E3", "employees": 1.5},  # 5
        {"kind": "enterprise", "id": "E4", "employees": True},  # 6
        {"kind": "enterprise", "id": "E5", "name": {"a": 1}},  # 7
        {"kind": "enterprise", "id": "E6", "name": ["a"]},  # 8
        "",  # 9 blank: skipped
        {"kind": "enterprise", "id": "E7", "employees": 3.0, "established": "2020-02-02"},  # 10
        {"kind": "citizen", "id": "P1", "phone": "+8613812345679", "birth_date": "1990-1-1"},
    ]
    batch = read_profiles(_jsonl(tmp_path, rows), SCHEMAS)
    assert batch.rows_read == 10
    assert _lines(batch) == [2, 3, 4, 5, 6, 7, 8, 11]
    assert "not valid JSON" in _reason(batch, 2)
    assert "not a JSON object" in _reason(batch, 3)
    assert "employees" in _reason(batch, 4)
    assert "employees" in _reason(batch, 5)
    assert "employees" in _reason(batch, 6)
    assert "name" in _reason(batch, 7) and "name" in _reason(batch, 8)
    assert "birth_date" in _reason(batch, 11)
    ent = batch.frames[E]
    assert ent["id"].to_list() == ["E1", "E7"]
    assert ent["employees"].to_list() == [10, 3]
    assert ent["revenue"].to_list() == [123.0, None]
    assert ent["established"].to_list() == [None, dt.date(2020, 2, 2)]
    assert batch.frames[C].height == 0
    _schema_ok(batch)


def test_jsonl_type_errors_in_well_formed_file(tmp_path: Path) -> None:
    rows: list[object | str] = [
        {"kind": "enterprise", "id": "E1", "employees": 10, "established": "2020-01-01"},
        {"kind": "enterprise", "id": "E2", "employees": "abc"},
        {"kind": "enterprise", "id": "E3", "employees": 2.5},
        {"kind": "enterprise", "id": "E4", "established": "2024-13-01"},
        {"kind": "enterprise", "id": "E5", "phone": "+8612812345678"},
        {"kind": "enterprise", "id": "E6", "employees": "12", "phone": PHONE},
    ]
    batch = read_profiles(_jsonl(tmp_path, rows), SCHEMAS)
    assert _lines(batch) == [2, 3, 4, 5]
    assert _reason(batch, 2) == "employees: 'abc' is not an integer"
    assert "employees" in _reason(batch, 3)
    assert "established" in _reason(batch, 4)
    assert "phone" in _reason(batch, 5)
    assert batch.frames[E]["employees"].to_list() == [10, 12]


def test_jsonl_list_fields(tmp_path: Path) -> None:
    schemas = SCHEMAS.extended({C: {"skills": Field("skills", FieldType.LIST, "技能")}})
    rows: list[object | str] = [
        {"kind": "citizen", "id": "P1", "skills": ["焊接", "电工", 3]},
        {"kind": "citizen", "id": "P2", "skills": "焊接;电工"},
        {"kind": "citizen", "id": "P3", "skills": [{"x": 1}]},
        {"kind": "citizen", "id": "P4"},
    ]
    batch = read_profiles(_jsonl(tmp_path, rows), schemas, kind="citizen")
    assert _lines(batch) == [3]
    assert batch.frames[C]["skills"].to_list() == [["焊接", "电工", "3"], ["焊接", "电工"], None]


def test_parquet_bad_rows_use_row_numbers(tmp_path: Path) -> None:
    df = pl.DataFrame(
        {
            "kind": ["enterprise"] * 5,
            "id": ["E1", "E2", "E3", "E4", "E5"],
            "uscc": [GOOD_USCC, BAD_USCC, None, None, make_uscc("91330782MA2K0000" + "1")],
            "employees": [1.0, 2.5, None, float("nan"), 7.0],  # floats in an int column
            "region": [330106, 330782, 33, None, None],  # ints in a string column
            "established": [dt.datetime(2020, 1, 1, 12), None, None, None, None],
            "phone": [None, None, None, "13812345678", None],
        }
    )
    p = tmp_path / "p.parquet"
    df.write_parquet(p)
    batch = read_profiles(p, SCHEMAS)
    assert _lines(batch) == [2, 3, 4]
    assert "uscc" in _reason(batch, 2) and "employees" in _reason(batch, 2)
    assert "region" in _reason(batch, 3)
    assert "phone" in _reason(batch, 4) and "13812345678" not in _reason(batch, 4)
    ent = batch.frames[E]
    assert ent["id"].to_list() == ["E1", "E5"]
    assert ent["employees"].to_list() == [1, 7]
    assert ent["region"].to_list() == ["330106", None]
    assert ent["established"].to_list() == [dt.date(2020, 1, 1), None]
    _schema_ok(batch)


def test_id_hash_never_echoed(tmp_path: Path) -> None:
    raw_id = "330106199001011234"
    p = _csv(tmp_path, f"kind,id,id_hash\ncitizen,P1,{raw_id}\n")
    batch = read_profiles(p, SCHEMAS)
    assert _lines(batch) == [2]
    assert "id_hash" in batch.errors[0].reason
    assert raw_id not in str(batch.errors[0])


# ---------------------------------------------------------------- columns


def test_unknown_columns_warn_with_suggestion(tmp_path: Path) -> None:
    p = _csv(tmp_path, "kind,id,employes,Revenue,职工人数,colour\nenterprise,E1,1,2,3,red\n")
    batch = read_profiles(p, SCHEMAS)
    assert batch.errors == []
    assert batch.warnings == [
        "unknown column 'employes' ignored (did you mean 'employees'?)",
        "unknown column 'Revenue' ignored (did you mean 'revenue'?)",
        "unknown column '职工人数' ignored (did you mean 'employees'?)",
        "unknown column 'colour' ignored",
    ]
    assert batch.frames[E]["employees"].to_list() == [None]


def test_other_audience_column_with_forced_kind(tmp_path: Path) -> None:
    p = _csv(tmp_path, "id,birth_date,employees\nE1,1990-01-01,3\n")
    batch = read_profiles(p, SCHEMAS, kind="enterprise")
    assert batch.warnings == ["column 'birth_date' is not an enterprise field; ignored"]
    assert list(batch.frames) == [E]


def test_no_id_column(tmp_path: Path) -> None:
    with pytest.raises(ProfileDataError, match="no 'id' column"):
        read_profiles(_csv(tmp_path, "kind,name\nenterprise,x\n"), SCHEMAS)
    with pytest.raises(ProfileDataError, match="is 'ID' the id"):
        read_profiles(_csv(tmp_path, "kind,ID\nenterprise,x\n"), SCHEMAS)


def test_duplicate_header(tmp_path: Path) -> None:
    with pytest.raises(ProfileDataError, match="twice"):
        read_profiles(_csv(tmp_path, "kind,id,id\nenterprise,a,b\n"), SCHEMAS)


# ---------------------------------------------------------------- kind


def test_kind_forced_without_column(tmp_path: Path) -> None:
    batch = read_profiles(_csv(tmp_path, "id,household_size\nP1,3\n"), SCHEMAS, kind=C)
    assert list(batch.frames) == [C]
    assert batch.frames[C]["household_size"].to_list() == [3]


def test_kind_forced_disagreeing_rows_are_bad(tmp_path: Path) -> None:
    text = "kind,id\nenterprise,E1\ncitizen,P1\n,E2\n"
    batch = read_profiles(_csv(tmp_path, text), SCHEMAS, kind="enterprise")
    assert _lines(batch) == [3]
    assert "citizen" in _reason(batch, 3)
    assert batch.frames[E]["id"].to_list() == ["E1", "E2"]


def test_kind_required_without_argument(tmp_path: Path) -> None:
    with pytest.raises(ProfileDataError, match="kind"):
        read_profiles(_csv(tmp_path, "id\nE1\n"), SCHEMAS)


def test_missing_kind_value_is_bad_row(tmp_path: Path) -> None:
    batch = read_profiles(_csv(tmp_path, "kind,id\n,E1\ncitizen,P1\n"), SCHEMAS)
    assert _lines(batch) == [2]
    assert "missing kind" in _reason(batch, 2)
    assert batch.frames[C]["id"].to_list() == ["P1"]


def test_unknown_kind_argument(tmp_path: Path) -> None:
    with pytest.raises(ProfileDataError, match="kind"):
        read_profiles(_csv(tmp_path, "id\nE1\n"), SCHEMAS, kind="company")


# ---------------------------------------------------------------- whole-file failures


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.csv", b""),
        ("header.csv", b"kind,id,name\n"),
        ("blank.csv", b"\n\n  \n"),
        ("empty.jsonl", b""),
        ("blank.jsonl", b"\n \n"),
    ],
)
def test_empty_files(tmp_path: Path, name: str, content: bytes) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ProfileDataError, match=r"no rows") as info:
        read_profiles(p, SCHEMAS)
    assert name in str(info.value)


def test_empty_parquet(tmp_path: Path) -> None:
    p = tmp_path / "empty.parquet"
    pl.DataFrame(schema={"kind": pl.String, "id": pl.String}).write_parquet(p)
    with pytest.raises(ProfileDataError, match="no rows"):
        read_profiles(p, SCHEMAS)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("random.parquet", os.urandom(2048), "Parquet"),
        ("text.parquet", b"kind,id\nenterprise,E1\n", "Parquet"),
        ("random.csv", b"\x00\x01\xff" + os.urandom(500), "CSV"),
        ("latin1.csv", "kind,id,name\nenterprise,E1,caf\xe9\n".encode("latin-1"), "UTF-8"),
        ("random.jsonl", b"\x00" + os.urandom(500), "JSON Lines"),
        ("text.jsonl", b"kind,id\nenterprise,E1\n", "not a JSON Lines file"),
        ("array.json", b'[{"kind": "enterprise", "id": "E1"}]', "JSON array"),
        ("profiles.txt", b"kind,id\nenterprise,E1\n", "unsupported"),
        ("profiles", b"kind,id\nenterprise,E1\n", "unsupported"),
        ("profiles.xlsx", b"PK\x03\x04", "unsupported"),
    ],
)
def test_not_a_profile_file(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ProfileDataError, match=words) as info:
        read_profiles(p, SCHEMAS)
    assert name in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileDataError, match="no such file"):
        read_profiles(tmp_path / "nope.csv", SCHEMAS)
    with pytest.raises(ProfileDataError, match="no such file"):
        read_profiles(tmp_path / "nope.parquet", SCHEMAS)


# ---------------------------------------------------------------- scale


def test_a_large_parquet_file_is_read_whole(tmp_path: Path) -> None:
    """Several row groups, every row valid (the speed is bench/'s to measure)."""
    n = 200_000
    ent = synthesize_enterprises(n, seed=11)
    p = tmp_path / "big.parquet"
    write_profiles(ent, p, kind=E)
    batch = read_profiles(p, SCHEMAS)
    assert batch.errors == [] and batch.rows_read == n
    assert batch.frames[E].height == n


# --------------------------------------------------------------------------- date range


def _dates_of(batch: ProfileBatch) -> dict[str, dt.date | None]:
    frame = batch.frames[Audience.ENTERPRISE]
    return dict(zip(frame["id"].to_list(), frame["established"].to_list(), strict=True))


def test_dates_outside_the_range_are_bad_rows_in_csv_and_jsonl(tmp_path: Path) -> None:
    csv = _csv(
        tmp_path,
        "id,kind,established\nE1,enterprise,0000-01-01\nE2,enterprise,"
        "2019-05-01\nE3,enterprise,9999-12-31\nE4,enterprise,1799-12-31\n",
    )
    jsonl = _jsonl(
        tmp_path,
        [
            {"id": f"E{i}", "kind": "enterprise", "established": d}
            for i, d in enumerate(["0000-01-01", "2019-05-01", "9999-12-31", "1799-12-31"], 1)
        ],
    )
    for path in (csv, jsonl):
        batch = read_profiles(path, SCHEMAS)
        assert _dates_of(batch) == {"E2": dt.date(2019, 5, 1)}
        first = 2 if path == csv else 1  # the CSV header is line 1
        assert [(e.line, e.profile_id) for e in batch.errors] == [
            (first, "E1"),
            (first + 2, "E3"),
            (first + 3, "E4"),
        ]
        assert all("is outside the dates a profile may hold" in e.reason for e in batch.errors)


def test_dates_outside_the_range_are_bad_rows_in_typed_parquet(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pl.DataFrame(
        {
            "id": ["E1", "E2", "E3"],
            "kind": ["enterprise"] * 3,
            "established": [dt.date(1, 1, 1), dt.date(2019, 5, 1), dt.date(9999, 12, 31)],
        }
    ).write_parquet(path)
    batch = read_profiles(path, SCHEMAS)
    assert _dates_of(batch) == {"E2": dt.date(2019, 5, 1)}
    assert sorted(e.profile_id or "" for e in batch.errors) == ["E1", "E3"]


def test_a_parquet_date_of_year_0_is_a_bad_row_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "y0.parquet"
    days = pl.Series(["0000-06-01", "2019-05-01"]).str.to_date()
    pl.DataFrame(
        {"id": ["E1", "E2"], "kind": ["enterprise"] * 2, "established": days}
    ).write_parquet(path)
    batch = read_profiles(path, SCHEMAS)
    assert _dates_of(batch) == {"E2": dt.date(2019, 5, 1)}
    [error] = batch.errors
    assert error.profile_id == "E1"
    assert "established: '0000-06-01' is outside the dates a profile may hold" in error.reason


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_nul_characters_and_bad_ids_are_bad_rows(tmp_path: Path, ext: str) -> None:
    """Issue 9.9: the id rule and the NUL rule of validate.py, in the readers whose files
    can hold a NUL in a value (a CSV file with a NUL byte is refused as binary)."""
    schemas = SCHEMAS.extended({C: {"skills": Field("skills", FieldType.LIST, "技能")}})
    frame = pl.DataFrame(
        {
            "kind": ["citizen"] * 5,
            "id": ["P1", "P" * 65, "P3", "P4", "P5"],
            "name": ["甲", "乙", "丙\x00", "丁", "戊"],
            "skills": [["焊接"], None, None, ["电\x00工"], ["电工"]],
        }
    )
    path = tmp_path / f"p.{ext}"
    if ext == "jsonl":
        frame.write_ndjson(path)
    else:
        frame.write_parquet(path)
    batch = read_profiles(path, schemas, kind="citizen")
    assert _lines(batch) == [2, 3, 4]
    assert "longer than 64" in _reason(batch, 2)
    assert _reason(batch, 3).startswith("name: contains a NUL")
    assert _reason(batch, 4).startswith("skills: contains a NUL")
    assert batch.frames[C]["id"].to_list() == ["P1", "P5"]
