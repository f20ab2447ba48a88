from __future__ import annotations

from pathlib import Path

import pytest

from zhida.errors import SchemaError
from zhida.profiles.schema import Audience, Field, FieldType, SchemaSet
from zhida.profiles.schema_file import load_schema_extension, parse_schema_extension

GOOD = """\
enterprise:
  tech_staff: {type: int, label: 科技人员数, unit: 人}
  debt_ratio: {type: number, label: 资产负债率}
citizen:
  insured_region:
    type: string
    label: 社保参保地
  has_house_in_city: {type: bool, label: 本市有房}
"""


def test_load_good_schema(tmp_path: Path) -> None:
    p = tmp_path / "schema.yaml"
    p.write_text(GOOD, encoding="utf-8")
    ext = load_schema_extension(p)
    assert ext[Audience.ENTERPRISE] == {
        "tech_staff": Field("tech_staff", FieldType.INT, "科技人员数", "人"),
        "debt_ratio": Field("debt_ratio", FieldType.NUMBER, "资产负债率", None),
    }
    assert list(ext[Audience.CITIZEN]) == ["insured_region", "has_house_in_city"]
    assert ext[Audience.CITIZEN]["has_house_in_city"].type is FieldType.BOOL
    schemas = SchemaSet.builtin().extended(ext)
    assert schemas[Audience.ENTERPRISE].names()[-2:] == ["tech_staff", "debt_ratio"]


def test_empty_schema_is_no_fields() -> None:
    assert parse_schema_extension("") == {}
    assert parse_schema_extension("# nothing\n") == {}
    assert parse_schema_extension("enterprise:\n") == {Audience.ENTERPRISE: {}}


def test_builtin_redefined_with_same_type_is_allowed() -> None:
    ext = parse_schema_extension("enterprise:\n  employees: {type: int, label: 从业人数}\n")
    assert ext[Audience.ENTERPRISE]["employees"].label == "从业人数"


def _error(text: str) -> SchemaError:
    with pytest.raises(SchemaError) as info:
        parse_schema_extension(text, "pack/schema.yaml")
    return info.value


@pytest.mark.parametrize(
    ("text", "line", "col", "words"),
    [
        # malformed YAML
        ("enterprise:\n  tech_staff: {type: int, label: x\n", 3, 1, "invalid YAML"),
        ("enterprise:\n\ttech: 1\n", 2, 1, "invalid YAML"),
        # unknown audience, with a suggestion
        ("enterprize:\n  tech_staff: {type: int, label: x}\n", 1, 1, "unknown audience"),
        # unknown type
        ("enterprise:\n  tech_staff: {type: integer, label: x}\n", 2, 22, "unknown type 'integer'"),
        # missing label
        ("citizen:\n  insured_region: {type: string}\n", 2, 3, "no label"),
        ("citizen:\n  insured_region: {type: string, label: ''}\n", 2, 41, "no label"),
        # missing type
        ("citizen:\n  insured_region: {label: x}\n", 2, 3, "no type"),
        # unknown key
        (
            "enterprise:\n  tech_staff: {type: int, label: x, unti: 人}\n",
            2,
            37,
            "unknown key 'unti'",
        ),
        # built-in field with another type
        ("enterprise:\n  employees: {type: string, label: x}\n", 2, 21, "built in as int"),
        # not a mapping
        ("enterprise:\n  tech_staff: int\n", 2, 15, "must be a mapping"),
        ("- enterprise\n", 1, 1, "must be a mapping"),
        # bad names
        ("enterprise:\n  TechStaff: {type: int, label: x}\n", 2, 3, "invalid field name"),
        ("enterprise:\n  between: {type: int, label: x}\n", 2, 3, "reserved word"),
        # duplicate keys
        (
            "enterprise:\n  a: {type: int, label: x}\n  a: {type: int, label: y}\n",
            3,
            3,
            "duplicate key 'a'",
        ),
        # a list where a single value belongs
        ("enterprise:\n  a: {type: [int], label: x}\n", 2, 13, "single value"),
    ],
)
def test_schema_errors_have_locations(text: str, line: int, col: int, words: str) -> None:
    err = _error(text)
    assert words in err.message
    assert err.loc is not None
    assert (err.loc.file, err.loc.line, err.loc.col) == ("pack/schema.yaml", line, col)
    assert str(err).startswith(f"pack/schema.yaml:{line}:{col}: error: ")


def test_unknown_audience_suggests() -> None:
    err = _error("enterprize:\n  tech_staff: {type: int, label: x}\n")
    assert err.hint == "did you mean 'enterprise'?"


def test_unknown_type_suggests() -> None:
    err = _error("enterprise:\n  tech_staff: {type: nubmer, label: x}\n")
    assert err.hint == "did you mean 'number'?"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no such file"):
        load_schema_extension(tmp_path / "nope.yaml")
