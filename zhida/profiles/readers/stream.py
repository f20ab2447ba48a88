"""`stream_profiles`: a profile file batch by batch, memory bounded by the batch.

Each batch is checked and converted exactly as `read_profiles` does the whole
file (`rows.to_batch`), with the ids of the batches before it (`seen.SeenIds`),
so a duplicate id is found wherever its first line was. The batches together
give the same rows, errors and warnings as one `read_profiles` of the file.

- Parquet: row group by row group (polars' reader), in batches of at most
  `batch_rows`; memory is bounded by the largest row group the writer chose.
- CSV: by blocks of about `batch_bytes`, cut after a newline that is not inside
  a quoted field, each read with the header in front. A header with a quote in
  it, or a file under one block, is read whole.
- JSON Lines: by blocks of about `batch_bytes`, cut after a newline, each read as
  a file of its own (its column types inferred from the block) and its lines
  numbered from the block's first. A file under one block, or one that opens
  with `[` (perhaps a JSON array, which is refused), is read whole. A key first
  met in a later block is warned about with that block.

Whole-file problems (not that format, no `id` column, no rows) are raised by
the first batch, before anything of the file has been used.
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from zhida.errors import ProfileDataError
from zhida.profiles.readers.batch import (
    CSV_EXTENSIONS,
    JSONL_EXTENSIONS,
    PARQUET_EXTENSIONS,
    ProfileBatch,
    audience_arg,
)
from zhida.profiles.readers.csv_input import read_csv, read_csv_bytes
from zhida.profiles.readers.jsonl_input import read_jsonl, read_jsonl_block
from zhida.profiles.readers.raw import BOM, Raw, header_names
from zhida.profiles.readers.read import list_fields, read_profiles
from zhida.profiles.readers.rows import to_batch
from zhida.profiles.readers.seen import SeenIds
from zhida.profiles.schema import Audience, SchemaSet

BATCH_ROWS = 1 << 17
BATCH_BYTES = 32 << 20


def stream_profiles(
    path: str | Path,
    schemas: SchemaSet,
    kind: Audience | str | None = None,
    batch_rows: int = BATCH_ROWS,
    batch_bytes: int = BATCH_BYTES,
) -> Iterator[ProfileBatch]:
    """Read and check a profile file batch by batch (see the module docstring).

    Each ProfileBatch has the frames, errors and row count of its batch; the
    warnings about the file's columns come with the first one."""
    p = Path(path)
    fname = str(path)
    forced = audience_arg(kind)
    ext = p.suffix.lower()
    if ext in PARQUET_EXTENSIONS:
        raws = _parquet_raws(p, fname, max(1, batch_rows))
    elif ext in CSV_EXTENSIONS and _over(p, batch_bytes):
        raws = _csv_raws(p, fname, max(1, batch_bytes))
    elif ext in JSONL_EXTENSIONS and _over(p, batch_bytes):
        raws = _jsonl_raws(p, fname, max(1, batch_bytes), list_fields(schemas, forced))
    else:
        yield from _slices(read_profiles(p, schemas, forced), max(1, batch_rows))
        return
    seen = SeenIds()
    warned: set[str] = set()
    for raw in raws:
        yield to_batch(raw, schemas, forced, fname, seen, warned)


def _over(path: Path, size: int) -> bool:
    """A file bigger than one block."""
    return path.is_file() and path.stat().st_size > size


def _slices(batch: ProfileBatch, rows: int) -> Iterator[ProfileBatch]:
    """A whole-file batch handed out in slices (all errors and warnings with the first)."""
    longest = max((f.height for f in batch.frames.values()), default=0)
    yield ProfileBatch(
        {a: f.slice(0, rows) for a, f in batch.frames.items()},
        batch.errors,
        batch.warnings,
        batch.rows_read,
    )
    for start in range(rows, longest, rows):
        yield ProfileBatch({a: f.slice(start, rows) for a, f in batch.frames.items()})


# --------------------------------------------------------------------------- Parquet


def _parquet_raws(path: Path, fname: str, batch_rows: int) -> Iterator[Raw]:
    if not path.exists():
        raise ProfileDataError(f"{fname}: no such file")
    if path.is_dir():
        raise ProfileDataError(f"{fname}: is a directory, not a profile file")
    try:
        names = header_names(list(pl.read_parquet_schema(path)), fname)
        groups = [g.num_rows for g in _row_groups(path)]
        line = 1
        for rows in groups:  # polars' reader, one row group at a time
            whole = pl.scan_parquet(path).slice(line - 1, rows).collect()
            for start in range(0, rows, batch_rows):
                df = whole.slice(start, batch_rows)
                if names != df.columns:
                    df = df.rename(dict(zip(df.columns, names, strict=True)))
                yield Raw(df, np.arange(line, line + df.height, dtype=np.int64))
                line += df.height
    except ProfileDataError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ProfileDataError(f"{fname}: not a readable Parquet file ({first[:120]})") from None
    if line == 1:
        raise ProfileDataError(f"{fname}: empty, no rows")


def _row_groups(path: Path) -> Iterator[pq.RowGroupMetaData]:
    meta = pq.read_metadata(path)
    return (meta.row_group(i) for i in range(meta.num_row_groups))


# --------------------------------------------------------------------------- CSV


def _csv_raws(path: Path, fname: str, batch_bytes: int) -> Iterator[Raw]:
    with path.open("rb") as f:
        head = f.read(len(BOM))
        if head != BOM:
            f.seek(0)
        header = f.readline()
        if b'"' in header or not header.endswith(b"\n"):
            f.close()
            yield read_csv(path, fname)
            return
        next_line = 2  # the file line of the block's first line
        first = True
        for block in _blocks(f, batch_bytes, _record_end):
            raw = read_csv_bytes(header + block, fname)
            if raw.df.height == 0 and not raw.row_errors:
                next_line += block.count(b"\n")
                continue
            raw.lines += next_line - 2
            if not first:
                raw.warnings = []
            first = False
            next_line += block.count(b"\n")
            yield raw
    if first:
        raise ProfileDataError(f"{fname}: empty, no rows after the header")


def _blocks(f: BinaryIO, size: int, end: Callable[[bytes], int]) -> Iterator[bytes]:
    """Blocks of whole records: each ends where `end` says the last whole record of the
    data read ends (or at the end of the file)."""
    carry = b""
    while True:
        chunk = f.read(size)
        if not chunk:
            if carry:
                yield carry
            return
        data = carry + chunk
        cut = end(data)
        if cut <= 0:
            carry = data
            continue
        yield data[:cut]
        carry = data[cut:]


def _record_end(data: bytes) -> int:
    """The position just after the last newline of `data` outside a quoted field, or 0.

    Outside quotes the count of quote characters before a position is even (a quote
    inside a quoted field is doubled). A stray quote inside an unquoted field (not
    valid CSV, read literally) flips that count: a file with one and, after it, a
    quoted field spanning lines could be cut inside that field. Such a file is read
    whole when it is under one block."""
    end = data.rfind(b"\n") + 1
    quotes = data.count(b'"', 0, end)
    while end > 0 and quotes % 2:
        prev = data.rfind(b"\n", 0, end - 1) + 1
        quotes -= data.count(b'"', prev, end)
        end = prev
    return end


# --------------------------------------------------------------------------- JSON Lines


def _jsonl_raws(path: Path, fname: str, batch_bytes: int, lists: set[str]) -> Iterator[Raw]:
    with path.open("rb") as f:
        if f.read(len(BOM)) != BOM:
            f.seek(0)
        start = f.tell()
        if f.read(4096).lstrip().startswith(b"["):
            f.close()
            yield read_jsonl(path, fname, lists)  # refused if it is a JSON array
            return
        f.seek(start)
        first_line, offset, rows = 1, 0, False
        for block in _blocks(f, batch_bytes, _line_end):
            if not block.strip():
                first_line += block.count(b"\n")
                offset += len(block)
                continue
            raw = read_jsonl_block(block, fname, lists, first_line, offset)
            # a block without the key has the column a whole file would have; the first
            # block lacks it only when no later line has it (then the file is refused)
            missing = [
                c
                for c in ("id", "kind")
                if c not in raw.df.columns
                and (rows or _mentions(f, start + offset + len(block), f'"{c}"'.encode()))
            ]
            raw.df = raw.df.with_columns(pl.lit(None, pl.String).alias(c) for c in missing)
            first_line += block.count(b"\n")
            offset += len(block)
            if raw.df.height or raw.row_errors:
                rows = True
                yield raw
    if not rows:
        raise ProfileDataError(f"{fname}: empty file, no rows")


def _mentions(f: BinaryIO, pos: int, needle: bytes, size: int = 1 << 22) -> bool:
    """Whether the file holds `needle` after `pos` (read ahead, then back where it was)."""
    at = f.tell()
    f.seek(pos)
    tail = b""
    try:
        while chunk := f.read(size):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
        return False
    finally:
        f.seek(at)


def _line_end(data: bytes) -> int:
    return data.rfind(b"\n") + 1


# --------------------------------------------------------------------------- read ahead

T = TypeVar("T")


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def read_ahead(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """`items`, produced by a thread up to `depth` ahead of the consumer: the next batch
    is read and checked (polars and numpy release the GIL) while this one is evaluated.
    The thread starts at once, so the first batch is read while the caller gets ready
    (imports, the take-up model); it stops when the consumer stops, or drops the
    iterator unstarted. An exception in the producer is raised in the consumer, at
    the item it stopped at."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as e:  # handed to the consumer, raised there
            put(_Failed(e))
        else:
            put(done)

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    consumer: Iterator[T] = _consume(buffer, stop, worker, done)
    weakref.finalize(consumer, stop.set)
    return consumer


def _consume(
    buffer: queue.Queue[object], stop: threading.Event, worker: threading.Thread, done: object
) -> Iterator[T]:
    try:
        while True:
            item = buffer.get()
            if item is done:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
