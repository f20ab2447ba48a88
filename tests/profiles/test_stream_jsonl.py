"""A JSON Lines file streamed block by block gives what reading it whole gives: the same
rows, bad lines (with their line numbers), reasons and warnings."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhida.errors import ProfileDataError
from zhida.profiles.readers import ProfileBatch, read_profiles, stream_profiles
from zhida.profiles.schema import Audience, SchemaSet

SCHEMAS = SchemaSet.builtin()

# values of one JSON type per key (a key of mixed types is text in a whole file and
# typed in a block of one type: the reasons would quote its values differently)
POOLS: dict[str, list[object]] = {
    "kind": ["enterprise", "citizen", "Enterprise", "robot", " enterprise "],
    "uscc": ["91330106MA2AX8W430", " 91330106ma2ax8w430", "91330106MA2AX8W431", "123", ""],
    "phone": ["+8613812345678", "+16502530000", "12345", "+861381234\x005678"],
    "region": ["330106", "3301", " 330108 "],
    "name": ["公司", " 甲 ", "", "a\x00b"],
    "employees": [12, 0, -3, 10**22],
    "revenue": [1.5, 8000.0, 1e300, -0.0],
    "high_tech": [True, False],
    "established": ["2020-01-31", "2020-02-30", "1799-12-31", " 2020-01-01 ", "x"],
    "birth_date": ["1990-01-01", "1990-13-01"],
    "colour": ["red", "blue"],  # not a field: a warning
    "skills": ["a;b；c", " ; "],  # not a built-in field either
}


def _batches_as_one(batches: list[ProfileBatch]) -> tuple[dict[str, pl.DataFrame], list, list, int]:
    frames: dict[str, list[pl.DataFrame]] = {}
    for b in batches:
        for a, f in b.frames.items():
            frames.setdefault(a.value, []).append(f)
    return (
        {a: pl.concat(fs) for a, fs in frames.items()},
        [e for b in batches for e in b.errors],
        sorted(w for b in batches for w in b.warnings),
        sum(b.rows_read for b in batches),
    )


def _assert_same(path: Path, kind: str | None, batch_bytes: int) -> list[ProfileBatch]:
    whole = read_profiles(path, SCHEMAS, kind)
    batches = list(stream_profiles(path, SCHEMAS, kind, batch_bytes=batch_bytes))
    frames, errors, warnings, rows = _batches_as_one(batches)
    assert errors == whole.errors
    assert warnings == sorted(whole.warnings)
    assert rows == whole.rows_read
    for a, f in whole.frames.items():
        assert frames[a.value].equals(f), a
    return batches


_row = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["E1", "E2", " E3 ", "", "x" * 70, "E\x01"])
        | st.integers(0, 60).map(str)
    },
    optional={k: st.sampled_from(v) for k, v in POOLS.items()},
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(_row, min_size=1, max_size=40),
    st.integers(60, 600),
    st.sampled_from([None, "enterprise"]),
)
def test_a_streamed_jsonl_file_reads_as_the_whole_file(
    tmp_path: Path, rows: list[dict[str, object]], batch_bytes: int, kind: str | None
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    if kind is None and not any("kind" in r for r in rows):
        kind = "enterprise"
    _assert_same(path, kind, batch_bytes)


def test_bad_lines_keep_their_line_numbers_across_blocks(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    lines = [json.dumps({"id": f"E{i}", "kind": "enterprise", "employees": i}) for i in range(60)]
    for at in (0, 17, 18, 41, 59):
        lines[at] = '{"id": "broken'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    batches = list(stream_profiles(path, SCHEMAS, batch_bytes=200))
    assert len(batches) > 5
    errors = [e for b in batches for e in b.errors]
    assert [e.line for e in errors] == [1, 18, 19, 42, 60]
    assert all("not valid JSON" in e.reason for e in errors)
    ids = pl.concat([b.frames[Audience.ENTERPRISE] for b in batches])["id"].to_list()
    assert ids == [f"E{i}" for i in range(60) if i not in (0, 17, 18, 41, 59)]


def test_a_later_block_without_an_id_or_kind_key_has_bad_rows_not_a_refusal(
    tmp_path: Path,
) -> None:
    path = tmp_path / "k.jsonl"
    head = [json.dumps({"id": f"E{i}", "kind": "enterprise"}) for i in range(20)]
    tail = [json.dumps({"name": "无名", "colour": "red"}) for _ in range(20)]
    path.write_text("\n".join(head + tail) + "\n", encoding="utf-8")
    batches = _assert_same(path, None, 120)
    assert len(batches) > 3
    assert [e.line for b in batches for e in b.errors] == list(range(21, 41))
    assert sum("colour" in w for b in batches for w in b.warnings) == 1


def test_a_small_or_array_file_is_read_whole(tmp_path: Path) -> None:
    small = tmp_path / "s.jsonl"
    small.write_text('{"id": "E1", "kind": "enterprise"}\n', encoding="utf-8")
    assert len(list(stream_profiles(small, SCHEMAS, batch_bytes=1000))) == 1
    array = tmp_path / "a.jsonl"
    array.write_text(json.dumps([{"id": f"E{i}", "kind": "enterprise"} for i in range(50)]))
    with pytest.raises(ProfileDataError, match="a JSON array, not JSON Lines"):
        list(stream_profiles(array, SCHEMAS, batch_bytes=100))
