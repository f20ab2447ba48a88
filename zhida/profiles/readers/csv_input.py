"""CSV profile files: polars' reader when every record is one line, Python's csv otherwise."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import polars as pl

from zhida.errors import ProfileDataError
from zhida.profiles.readers.raw import BOM, Raw, decode, header_names, read_bytes


def read_csv(path: Path, fname: str) -> Raw:
    return read_csv_bytes(read_bytes(path, fname), fname)


def read_csv_bytes(data: bytes, fname: str) -> Raw:
    """A CSV file's bytes (or its header and a block of whole records) as raw rows."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    if b"\x00" in data:
        raise ProfileDataError(f"{fname}: binary data, not a CSV file")
    if not data.strip():
        raise ProfileDataError(f"{fname}: empty file, no rows")
    raw = _csv_fast(data, fname)
    if raw is None:
        raw = _csv_slow(decode(data, fname, "CSV"), fname)
    return raw


def _csv_fast(data: bytes, fname: str) -> Raw | None:
    """polars' reader, when every record is exactly one line (so row i is line i + 2)."""
    if b"\n\n" in data or b"\n\r\n" in data:
        return None  # blank lines: let the careful reader skip them
    nl = data.count(b"\n")
    n_lines = nl if data.endswith(b"\n") else nl + 1
    end = data.find(b"\n")
    first = data if end < 0 else data[:end]
    try:
        header = next(csv.reader([first.decode("utf-8").rstrip("\r")]))
        df = pl.read_csv(io.BytesIO(data), infer_schema=False, has_header=True)
    except Exception:
        return None
    if df.height != n_lines - 1 or df.width != len(header):
        return None
    names = header_names(header, fname)
    df = _drop_unnamed(df.rename(dict(zip(df.columns, _placeholder(names), strict=True))))
    lines = np.arange(2, df.height + 2, dtype=np.int64)
    return Raw(df, lines, warnings=_unnamed_warnings(names))


def _placeholder(names: list[str]) -> list[str]:
    """Give unnamed columns a unique internal name so the frame can hold them."""
    return [n if n else f"\x00unnamed{i}" for i, n in enumerate(names)]


def _drop_unnamed(df: pl.DataFrame) -> pl.DataFrame:
    unnamed = [c for c in df.columns if c.startswith("\x00unnamed")]
    return df.drop(unnamed) if unnamed else df


def _unnamed_warnings(names: list[str]) -> list[str]:
    return [
        f"column {i + 1} has no name in the header; ignored" for i, n in enumerate(names) if not n
    ]


def _csv_slow(text: str, fname: str) -> Raw:
    """Python's csv module: quoted newlines, blank lines and ragged rows, with exact lines."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    errors: dict[int, str] = {}
    prev_line = 0
    try:
        for rec in reader:
            start = prev_line + 1
            prev_line = reader.line_num
            if not rec:
                continue
            if header is None:
                header = rec
                continue
            if len(rec) > len(header):
                errors[len(rows)] = f"row has {len(rec)} fields but the header has {len(header)}"
            rows.append(rec)
            lines.append(start)
    except csv.Error as e:
        raise ProfileDataError(f"{fname}:{reader.line_num}: not a valid CSV file ({e})") from None
    if header is None:
        raise ProfileDataError(f"{fname}: empty file, no rows")
    names = header_names(header, fname)
    cols: dict[str, list[str | None]] = {}
    for j, name in enumerate(_placeholder(names)):
        cols[name] = [
            (r[j] if j < len(r) else None) if i not in errors else None for i, r in enumerate(rows)
        ]
    df = _drop_unnamed(pl.DataFrame([pl.Series(k, v, dtype=pl.String) for k, v in cols.items()]))
    if df.width == 0 and rows:
        df = pl.DataFrame({"\x00row": pl.Series([None] * len(rows), dtype=pl.String)})
    return Raw(df, np.array(lines, dtype=np.int64), errors, _unnamed_warnings(names))
