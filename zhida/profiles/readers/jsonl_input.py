"""JSON Lines profile files: polars' reader when it can, line by line when a line is bad."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from zhida.errors import ProfileDataError
from zhida.profiles.readers.batch import LIST_SEPARATOR
from zhida.profiles.readers.raw import BOM, Raw, decode, read_bytes


def read_jsonl(path: Path, fname: str, list_fields: set[str]) -> Raw:
    data = read_bytes(path, fname)
    if data.startswith(BOM):
        data = data[len(BOM) :]
    if b"\x00" in data:
        raise ProfileDataError(f"{fname}: binary data, not a JSON Lines file")
    if not data.strip():
        raise ProfileDataError(f"{fname}: empty file, no rows")
    if data.lstrip().startswith(b"["):
        try:
            json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
        else:
            raise ProfileDataError(
                f"{fname}: a JSON array, not JSON Lines; write one JSON object per line"
            )
    return read_jsonl_block(data, fname, list_fields)


def read_jsonl_block(
    data: bytes, fname: str, list_fields: set[str], first_line: int = 1, offset: int = 0
) -> Raw:
    """Whole lines of a JSON Lines file (all of it, or a block of a streamed one whose
    first line is `first_line`, `offset` bytes into the file), as raw rows."""
    if b"\x00" in data:
        raise ProfileDataError(f"{fname}: binary data, not a JSON Lines file")
    raw = _jsonl_fast(data)
    if raw is None:
        text = decode(data, fname, "JSON Lines", offset)
        raw = _jsonl_slow(text, fname, list_fields, whole=first_line == 1)
    if first_line != 1:
        raw.lines += first_line - 1
    return raw


def _jsonl_fast(data: bytes) -> Raw | None:
    """polars' reader, when it accepts the file and every line is one row."""
    if b"\n\n" in data or b"\n\r\n" in data:
        return None
    nl = data.count(b"\n")
    n_lines = nl if data.endswith(b"\n") else nl + 1
    try:
        df = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    except Exception:
        return None
    if df.height != n_lines or df.width == 0:
        return None
    # polars turns a column of mixed JSON types into strings holding the JSON text;
    # arrays or objects among strings need the careful reader's per-value checks
    texts = [c for c, t in df.schema.items() if t == pl.String]
    if texts:
        nested = df.select(
            pl.any_horizontal(
                pl.col(c).str.starts_with("[") | pl.col(c).str.starts_with("{") for c in texts
            ).any()
        ).item()
        if nested:
            return None
    names = [c.strip() for c in df.columns]
    if len(set(names)) != len(names):
        return None
    if names != df.columns:
        df = df.rename(dict(zip(df.columns, names, strict=True)))
    return Raw(df, np.arange(1, df.height + 1, dtype=np.int64))


def _jsonl_slow(text: str, fname: str, list_fields: set[str], whole: bool = True) -> Raw:
    """Line by line with Python's json: a bad line is a bad row, not a failed file
    (`whole`: a file with no JSON object at all is refused)."""
    cols: dict[str, tuple[list[int], list[Any]]] = {}
    lines: list[int] = []
    errors: dict[int, str] = {}
    n_objects = 0
    row = 0
    loads = json.loads
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line or line.isspace():
            continue
        lines.append(lineno)
        try:
            obj = loads(line)
        except (ValueError, RecursionError) as e:
            errors[row] = json_error(e)
            row += 1
            continue
        if type(obj) is not dict:
            errors[row] = f"not a JSON object (a JSON {json_type(obj)})"
            row += 1
            continue
        n_objects += 1
        problems: list[str] | None = None
        for key, value in obj.items():
            if value is None:
                continue
            tv = type(value)
            err: str | None = None
            v: str | list[str] | None
            if key in list_fields:
                v, err = _json_list(value)
            elif tv is str:
                v = value
            elif tv is int:
                v = str(value)
            else:
                v, err = _json_scalar(value)
            if err is not None:
                problems = problems or []
                problems.append(f"{key.strip()}: {err}")
                continue
            if v is None:
                continue
            entry = cols.get(key)
            if entry is None:
                entry = cols[key] = ([], [])
            entry[0].append(row)
            entry[1].append(v)
        if problems:
            errors[row] = "; ".join(problems)
        row += 1
    if n_objects == 0 and whole:
        raise ProfileDataError(f"{fname}: no line is a JSON object; not a JSON Lines file")
    n = row
    series: dict[str, pl.Series] = {}
    for key, (idx, vals) in cols.items():
        name = key.strip()
        if name in series:  # keys differing only in surrounding spaces: keep the first
            continue
        dtype: pl.DataType = pl.List(pl.String()) if key in list_fields else pl.String()
        full: list[Any] = [None] * n
        for i, v in zip(idx, vals, strict=True):
            full[i] = v
        series[name] = pl.Series(name, full, dtype=dtype)
    if not series:
        series["\x00row"] = pl.Series("\x00row", [None] * n, dtype=pl.String)
    return Raw(pl.DataFrame(list(series.values())), np.array(lines, dtype=np.int64), errors)


def json_error(e: ValueError | RecursionError) -> str:
    """Why a line is not JSON that can be read: a syntax error, nesting too deep, or
    (a ValueError that is not a JSONDecodeError) an integer over Python's 4,300 digits."""
    if isinstance(e, json.JSONDecodeError):
        return f"not valid JSON ({e.msg})"
    if isinstance(e, RecursionError):
        return "not valid JSON (nested too deeply)"
    return "not valid JSON (an integer longer than Python's 4300 digits)"


def json_type(v: object) -> str:
    """The JSON type name of a decoded JSON value, for error messages."""
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def _json_scalar(v: object) -> tuple[str | None, str | None]:
    """A JSON value as the string the column converters parse, or an error."""
    if v is None or isinstance(v, str):
        return v, None
    if isinstance(v, bool):
        return ("true" if v else "false"), None
    if isinstance(v, int):
        return str(v), None
    if isinstance(v, float):
        if math.isnan(v):
            return None, None
        return repr(v), None
    return None, f"expected a single value, got a JSON {json_type(v)}"


def _json_list(v: object) -> tuple[list[str] | None, str | None]:
    if v is None:
        return None, None
    if isinstance(v, str):
        return [p.strip() for p in v.replace("；", LIST_SEPARATOR).split(LIST_SEPARATOR)], None
    if isinstance(v, list):
        out: list[str] = []
        for e in v:
            if e is None:
                continue
            s, err = _json_scalar(e)
            if err is not None:
                return None, "expected an array of strings"
            if s is not None:
                out.append(s)
        return out, None
    s, err = _json_scalar(v)
    return ([s] if s is not None else None), err
