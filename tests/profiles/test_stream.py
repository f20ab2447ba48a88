"""stream_profiles pieces not covered by tests/ranking/test_evaluate.py: read_ahead, and
the whole-file errors of a streamed file."""

from __future__ import annotations

import gc
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.strategies import examples
from zhida.errors import ProfileDataError
from zhida.profiles.readers import read_ahead, read_profiles, stream_profiles
from zhida.profiles.schema import Audience, SchemaSet

SCHEMAS = SchemaSet.builtin()


def test_read_ahead_keeps_order_and_raises_where_the_producer_failed() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise ValueError("broken at 5")

    got: list[int] = []
    with pytest.raises(ValueError, match="broken at 5"):
        for i in read_ahead(items(), depth=2):
            got.append(i)
    assert got == [0, 1, 2, 3, 4]


def test_read_ahead_stops_its_producer_when_the_consumer_stops() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    for i in read_ahead(items()):
        if i == 3:
            break
    assert len(produced) < 10


def test_read_ahead_starts_at_once_and_stops_when_dropped_unstarted() -> None:
    started = threading.Event()
    produced: list[int] = []

    def items() -> Iterator[int]:
        started.set()
        for i in range(1000):
            produced.append(i)
            yield i

    ahead = read_ahead(items())
    assert started.wait(timeout=10)  # reading began before the first item was asked for
    worker = next(t for t in threading.enumerate() if t.name == "read-ahead")
    del ahead
    gc.collect()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert len(produced) < 10


def test_a_streamed_csv_without_rows_or_an_id_column_is_refused(tmp_path: Path) -> None:
    header_only = tmp_path / "h.csv"
    header_only.write_text("id,kind" + " " * 100 + "\n" + "\n" * 50, encoding="utf-8")
    with pytest.raises(ProfileDataError, match="empty"):
        list(stream_profiles(header_only, SCHEMAS, batch_bytes=10))
    no_id = tmp_path / "n.csv"
    no_id.write_text("name,kind\n" + "甲,enterprise\n" * 40, encoding="utf-8")
    with pytest.raises(ProfileDataError, match="no 'id' column"):
        next(stream_profiles(no_id, SCHEMAS, batch_bytes=30))


def test_a_quoted_field_across_a_block_boundary_stays_one_record(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    rows = [f'E{i},enterprise,"第{i}行\n续行, 带逗号"\n' for i in range(30)]
    path.write_text("id,kind,name\n" + "".join(rows), encoding="utf-8")
    whole = read_profiles(path, SCHEMAS)
    batches = list(stream_profiles(path, SCHEMAS, batch_bytes=50))
    assert len(batches) > 5
    frames = [b.frames[a] for b in batches for a in b.frames if b.frames[a].height]
    assert pl.concat(frames).equals(pl.concat([f for f in whole.frames.values() if f.height]))
    assert [e for b in batches for e in b.errors] == whole.errors == []


def test_an_empty_or_unreadable_parquet_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "e.parquet"
    pl.DataFrame(schema={"kind": pl.String, "id": pl.String}).write_parquet(empty)
    with pytest.raises(ProfileDataError, match="empty"):
        list(stream_profiles(empty, SCHEMAS))
    bad = tmp_path / "b.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(ProfileDataError, match="not a readable Parquet file"):
        list(stream_profiles(bad, SCHEMAS))


@settings(max_examples=examples(60), deadline=None)
@given(
    st.lists(st.integers(1, 40), min_size=1, max_size=30),  # id numbers, file order
    st.booleans(),  # the ids sorted first (the in-order path), or as drawn
    st.integers(1, 6),  # rows per batch
    st.lists(st.integers(0, 29), max_size=3),  # rows whose id is removed
)
def test_duplicate_ids_of_a_streamed_parquet_are_the_whole_files(
    numbers: list[int], ordered: bool, batch: int, missing: list[int]
) -> None:
    """In id order or not, with ids repeated near or far and some missing, the batches
    report the duplicates (and their first lines) that one read of the file does."""
    ids: list[str | None] = [f"E{n:03d}" for n in (sorted(numbers) if ordered else numbers)]
    for i in missing:
        if i < len(ids):
            ids[i] = None
    frame = pl.DataFrame({"id": ids, "kind": ["enterprise"] * len(ids)})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.parquet"
        frame.write_parquet(path, row_group_size=batch)
        whole = read_profiles(path, SCHEMAS)
        batches = list(stream_profiles(path, SCHEMAS, batch_rows=batch))
    assert [e for b in batches for e in b.errors] == whole.errors
    got = pl.concat([b.frames[Audience.ENTERPRISE] for b in batches])
    assert got.get_column("id").to_list() == whole.frames[Audience.ENTERPRISE]["id"].to_list()


def test_a_file_in_id_order_then_out_of_it_finds_the_repeat(tmp_path: Path) -> None:
    ids = ["A1", "A2", "A3", "A4", "A2", "A5"]  # in order for two batches of two, then not
    path = tmp_path / "p.parquet"
    pl.DataFrame({"id": ids, "kind": ["enterprise"] * 6}).write_parquet(path, row_group_size=2)
    errors = [e for b in stream_profiles(path, SCHEMAS, batch_rows=2) for e in b.errors]
    assert [(e.line, e.reason) for e in errors] == [(5, "duplicate id 'A2' (first on line 2)")]
