"""Read and write profile files: CSV, JSON Lines and Parquet.

`read_profiles` turns a file into one typed polars frame per audience, with
exactly the schema's columns in schema order, plus the rows it had to skip
(`RowError`, with the row's line) and warnings about ignored columns.

All checks and conversions are vectorised over columns; Python only runs per
row to parse JSON Lines and to word the reasons of bad rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from zhida.errors import ProfileDataError, RowError
from zhida.profiles.schema import Audience, Field, FieldType, SchemaSet
from zhida.profiles.validate import (
    FALSE_WORDS,
    NUMBER_UNITS,
    TRUE_WORDS,
    TYPE_REASONS,
    format_of,
    parse_dates,
    show_text,
)
from zhida.suggest import closest

__all__ = [
    "CSV_EXTENSIONS",
    "JSONL_EXTENSIONS",
    "PARQUET_EXTENSIONS",
    "ProfileBatch",
    "polars_dtype",
    "read_profiles",
    "write_profiles",
]

CSV_EXTENSIONS = (".csv",)
JSONL_EXTENSIONS = (".jsonl", ".ndjson", ".json")
PARQUET_EXTENSIONS = (".parquet", ".pq")

LIST_SEPARATOR = ";"

_BOM = b"\xef\xbb\xbf"
_ALL_EXTENSIONS = ", ".join(CSV_EXTENSIONS + JSONL_EXTENSIONS + PARQUET_EXTENSIONS)

BoolArray = npt.NDArray[np.bool_]


def polars_dtype(t: FieldType) -> pl.DataType:
    """The polars dtype a profile column of type `t` has in every frame we produce."""
    return {
        FieldType.INT: pl.Int64(),
        FieldType.NUMBER: pl.Float64(),
        FieldType.BOOL: pl.Boolean(),
        FieldType.DATE: pl.Date(),
        FieldType.STRING: pl.String(),
        FieldType.LIST: pl.List(pl.String()),
    }[t]


@dataclass
class ProfileBatch:
    """The result of reading one profile file.

    `frames` has one frame per audience (both audiences when the file's `kind`
    column decides, only the requested one when `kind` was given), each with
    exactly that audience's schema columns; null means missing. `errors` lists
    skipped rows in file order, `rows_read` counts every data row, good or bad.
    """

    frames: dict[Audience, pl.DataFrame]
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows_read: int = 0

    @property
    def rows_ok(self) -> int:
        return sum(f.height for f in self.frames.values())


# =========================================================================== raw input


@dataclass
class _Raw:
    """A file's rows before conversion: columns (mostly strings), 1-based lines."""

    df: pl.DataFrame
    lines: npt.NDArray[np.int64]
    row_errors: dict[int, str] = field(default_factory=dict)  # row index -> reason
    warnings: list[str] = field(default_factory=list)


def _read_bytes(path: Path, fname: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ProfileDataError(f"{fname}: no such file") from None
    except IsADirectoryError:
        raise ProfileDataError(f"{fname}: is a directory, not a profile file") from None
    except OSError as e:
        raise ProfileDataError(f"{fname}: cannot read file ({e.strerror})") from None


def _decode(data: bytes, fname: str, what: str) -> str:
    if b"\x00" in data:
        raise ProfileDataError(f"{fname}: binary data, not a {what} file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProfileDataError(
            f"{fname}: not UTF-8 text (byte {e.start}); save the {what} file as UTF-8"
        ) from None


def _header_names(names: list[str], fname: str) -> list[str]:
    out = [n.strip() for n in names]
    seen: set[str] = set()
    for n in out:
        if n and n in seen:
            raise ProfileDataError(f"{fname}: column '{n}' appears twice in the header")
        seen.add(n)
    return out


def _read_csv(path: Path, fname: str) -> _Raw:
    data = _read_bytes(path, fname)
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if b"\x00" in data:
        raise ProfileDataError(f"{fname}: binary data, not a CSV file")
    if not data.strip():
        raise ProfileDataError(f"{fname}: empty file, no rows")
    raw = _csv_fast(data, fname)
    if raw is None:
        raw = _csv_slow(_decode(data, fname, "CSV"), fname)
    return raw


def _csv_fast(data: bytes, fname: str) -> _Raw | None:
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
    names = _header_names(header, fname)
    df = _drop_unnamed(df.rename(dict(zip(df.columns, _placeholder(names), strict=True))))
    lines = np.arange(2, df.height + 2, dtype=np.int64)
    return _Raw(df, lines, warnings=_unnamed_warnings(names))


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


def _csv_slow(text: str, fname: str) -> _Raw:
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
    names = _header_names(header, fname)
    cols: dict[str, list[str | None]] = {}
    for j, name in enumerate(_placeholder(names)):
        cols[name] = [
            (r[j] if j < len(r) else None) if i not in errors else None for i, r in enumerate(rows)
        ]
    df = _drop_unnamed(pl.DataFrame([pl.Series(k, v, dtype=pl.String) for k, v in cols.items()]))
    if df.width == 0 and rows:
        df = pl.DataFrame({"\x00row": pl.Series([None] * len(rows), dtype=pl.String)})
    return _Raw(df, np.array(lines, dtype=np.int64), errors, _unnamed_warnings(names))


def _read_jsonl(path: Path, fname: str, list_fields: set[str]) -> _Raw:
    data = _read_bytes(path, fname)
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
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
    fast = _jsonl_fast(data)
    if fast is not None:
        return fast
    return _jsonl_slow(_decode(data, fname, "JSON Lines"), fname, list_fields)


def _jsonl_fast(data: bytes) -> _Raw | None:
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
    return _Raw(df, np.arange(1, df.height + 1, dtype=np.int64))


def _jsonl_slow(text: str, fname: str, list_fields: set[str]) -> _Raw:
    """Line by line with Python's json: a bad line is a bad row, not a failed file."""
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
        except (json.JSONDecodeError, RecursionError) as e:
            msg = e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"
            errors[row] = f"not valid JSON ({msg})"
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
    if n_objects == 0:
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
    return _Raw(pl.DataFrame(list(series.values())), np.array(lines, dtype=np.int64), errors)


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


def _read_parquet(path: Path, fname: str) -> _Raw:
    if not path.exists():
        raise ProfileDataError(f"{fname}: no such file")
    if path.is_dir():
        raise ProfileDataError(f"{fname}: is a directory, not a profile file")
    try:
        df = pl.read_parquet(path)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ProfileDataError(f"{fname}: not a readable Parquet file ({first[:120]})") from None
    names = _header_names(list(df.columns), fname)
    if names != df.columns:
        df = df.rename(dict(zip(df.columns, names, strict=True)))
    return _Raw(df, np.arange(1, df.height + 1, dtype=np.int64))


# =========================================================================== conversion


def _where(cond: pl.Series, values: pl.Series) -> pl.Series:
    """`values` where `cond` is true, null elsewhere."""
    return (
        pl.DataFrame({"c": cond, "v": values})
        .select(pl.when(pl.col("c")).then(pl.col("v")).alias(values.name))
        .to_series()
    )


def _np(s: pl.Series) -> BoolArray:
    return s.fill_null(False).to_numpy().astype(np.bool_, copy=False)


def _clean_strings(s: pl.Series) -> pl.Series:
    """Strip whitespace; an empty string is missing."""
    t = s.str.strip_chars()
    return _where(t.str.len_bytes() > 0, t)


def _lost(raw_present: pl.Series, out: pl.Series) -> BoolArray:
    """Rows where a present input became null: a conversion failure."""
    return _np(raw_present) & _np(out.is_null())


@dataclass
class _Conv:
    values: pl.Series
    bad: BoolArray | None  # rows whose value is invalid
    explain: Callable[[object], str]  # raw value -> reason, for bad rows only


def _show(v: object) -> str:
    if isinstance(v, str):
        return show_text(v)
    if isinstance(v, float) and v.is_integer():
        return repr(v)
    return str(v)


def _not_of_type(t: FieldType) -> Callable[[object], str]:
    """The reason for a value that does not convert to type `t`."""
    return lambda v: f"{_show(v)} {TYPE_REASONS[t]}"


def _convert(raw: pl.Series, f: Field) -> _Conv:
    """Convert one column of a file to the field's dtype, and find invalid values."""
    dtype = raw.dtype
    if dtype == pl.Null:
        return _Conv(pl.Series(f.name, [None] * len(raw), dtype=polars_dtype(f.type)), None, _show)
    if dtype == pl.String:
        return _from_strings(raw, f)
    typed = _from_typed(raw, f)
    if typed is not None:
        return typed
    as_str: pl.Series | None = None
    if not dtype.is_nested():
        try:
            as_str = raw.cast(pl.String)
        except Exception:
            as_str = None
    if as_str is None:
        return _Conv(
            pl.Series(f.name, [None] * len(raw), dtype=polars_dtype(f.type)),
            _np(raw.is_not_null()),
            lambda v: f"has the wrong type ({dtype}, expected {f.type.value})",
        )
    return _from_strings(as_str, f)


def _int_from_float(x: pl.Series) -> pl.Series:
    """Integral, finite floats as Int64; anything else becomes null."""
    ok = x.is_finite() & (x.abs() < 9.2e18) & (x == x.floor())
    return _where(ok, x).cast(pl.Int64, strict=False)


def _from_strings(raw: pl.Series, f: Field) -> _Conv:
    s = _clean_strings(raw)
    present = s.is_not_null()
    name = f.name
    t = f.type
    if t is FieldType.STRING:
        fmt = format_of(name)
        if fmt is None:
            return _Conv(s.alias(name), None, _show)
        s = fmt.normalise_column(s)
        bad = _np(present) & ~fmt.valid_mask(s)
        values = _where(pl.Series(~bad), s) if bad.any() else s
        return _Conv(values.alias(name), bad, lambda v: fmt.file_error(fmt.normalise(str(v))))
    if t is FieldType.INT:
        out = s.cast(pl.Int64, strict=False)
        missed = _np(present) & _np(out.is_null())
        if missed.any():  # "5.0", "1e3": integral numbers written as floats
            as_int = _int_from_float(s.cast(pl.Float64, strict=False))
            out = out.fill_null(as_int)
        return _Conv(
            out.alias(name), _lost(present, out), _not_of_type(FieldType.INT)
        )
    if t is FieldType.NUMBER:
        return _number_from_strings(s, present, name)
    if t is FieldType.BOOL:
        mapping = {w: True for w in TRUE_WORDS} | {w: False for w in FALSE_WORDS}
        out = s.str.to_lowercase().replace_strict(mapping, default=None, return_dtype=pl.Boolean)
        return _Conv(
            out.alias(name),
            _lost(present, out),
            _not_of_type(FieldType.BOOL),
        )
    if t is FieldType.DATE:
        out = parse_dates(s)
        return _Conv(
            out.alias(name),
            _lost(present, out),
            _not_of_type(FieldType.DATE),
        )
    # LIST: "a;b;c"
    parts = (
        s.str.replace_all("；", LIST_SEPARATOR)
        .str.split(LIST_SEPARATOR)
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element().str.len_bytes() > 0))
    )
    return _Conv(parts.alias(name), None, _show)


def _number_from_strings(s: pl.Series, present: pl.Series, name: str) -> _Conv:
    # 8000万 / 1.5亿, as in the policy language
    digits = pl.col("s")
    for unit in NUMBER_UNITS:
        digits = digits.str.strip_suffix(unit)
    frame = pl.DataFrame({"s": s}).select(
        pl.col("s")
        .str.slice(-1)
        .replace_strict(NUMBER_UNITS, default=1.0, return_dtype=pl.Float64)
        .alias("m"),
        digits.str.strip_chars().alias("n"),
    )
    x = frame["n"].cast(pl.Float64, strict=False) * frame["m"]
    nan = _np(x.is_nan())
    ok = x.is_finite()
    out = _where(ok, x).alias(name)
    bad = _lost(present, out) & ~nan  # NaN reads as missing
    return _Conv(out, bad, _not_of_type(FieldType.NUMBER))


def _from_typed(raw: pl.Series, f: Field) -> _Conv | None:
    """Columns already typed (Parquet): cast when compatible, else None."""
    dtype = raw.dtype
    name = f.name
    t = f.type
    present = raw.is_not_null()
    if t is FieldType.INT:
        if dtype.is_integer():
            out = raw.cast(pl.Int64, strict=False)
        elif dtype.is_float() or dtype.is_decimal():
            x = raw.cast(pl.Float64)
            present = present & ~x.is_nan()
            out = _int_from_float(x)
        else:
            return None
        return _Conv(
            out.alias(name), _lost(present, out), _not_of_type(FieldType.INT)
        )
    if t is FieldType.NUMBER:
        if not dtype.is_numeric():
            return None
        x = raw.cast(pl.Float64)
        nan = _np(x.is_nan())
        out = _where(x.is_finite(), x).alias(name)
        return _Conv(out, _lost(present, out) & ~nan, _not_of_type(FieldType.NUMBER))
    if t is FieldType.BOOL:
        if dtype == pl.Boolean:
            return _Conv(raw.alias(name), None, _show)
        if dtype.is_integer():
            out = raw.replace_strict({0: False, 1: True}, default=None, return_dtype=pl.Boolean)
            return _Conv(
                out.alias(name), _lost(present, out), lambda v: f"{_show(v)} is not 0/1 or a bool"
            )
        return None
    if t is FieldType.DATE:
        if dtype == pl.Date:
            return _Conv(raw.alias(name), None, _show)
        if isinstance(dtype, pl.Datetime):
            return _Conv(raw.dt.date().alias(name), None, _show)
        return None
    if t is FieldType.LIST:
        if isinstance(dtype, pl.List):
            try:
                lst = raw.cast(pl.List(pl.String))
            except Exception:
                return None
            out = lst.list.eval(pl.element().str.strip_chars()).list.eval(
                pl.element().filter(pl.element().is_not_null() & (pl.element().str.len_bytes() > 0))
            )
            return _Conv(out.alias(name), None, _show)
        return None
    if t is FieldType.STRING and isinstance(dtype, pl.Categorical | pl.Enum):
        return _from_strings(raw.cast(pl.String), f)
    return None


# =========================================================================== processing


def _suggest(name: str, candidates: dict[str, str]) -> str | None:
    """A close field name for a misspelt column (candidates: spelling -> field name)."""
    spelling = closest(name, candidates)
    return candidates[spelling] if spelling is not None else None


def _audience_arg(kind: Audience | str | None) -> Audience | None:
    if kind is None or isinstance(kind, Audience):
        return kind
    try:
        return Audience(kind.strip().lower())
    except ValueError:
        raise ProfileDataError(
            f"unknown profile kind {kind!r}; expected enterprise or citizen"
        ) from None


def _process(raw: _Raw, schemas: SchemaSet, forced: Audience | None, fname: str) -> ProfileBatch:
    df = raw.df
    n = df.height
    audiences = [forced] if forced is not None else list(Audience)
    warnings = list(raw.warnings)

    known = {name for a in audiences for name in schemas[a].fields}
    other = {name for a in Audience for name in schemas[a].fields} - known
    spellings: dict[str, str] = {}
    for a in audiences:
        for fl in schemas[a].fields.values():
            spellings.setdefault(fl.name, fl.name)
            spellings.setdefault(fl.label, fl.name)
    for col in df.columns:
        if col == "kind" or col in known or col.startswith("\x00"):
            continue
        if col in other and forced is not None:
            article = "an" if forced.value[0] in "aeiou" else "a"
            warnings.append(f"column '{col}' is not {article} {forced.value} field; ignored")
            continue
        hint = _suggest(col, spellings)
        warnings.append(
            f"unknown column '{col}' ignored" + (f" (did you mean '{hint}'?)" if hint else "")
        )
    if "id" not in df.columns:
        near = [c for c in df.columns if _suggest(c, spellings) == "id"]
        hint = f" (is '{near[0]}' the id?)" if near else ""
        raise ProfileDataError(f"{fname}: no 'id' column{hint}")

    reasons: dict[int, list[str]] = {i: [r] for i, r in raw.row_errors.items()}
    pre_bad = np.zeros(n, dtype=np.bool_)
    if raw.row_errors:
        pre_bad[np.fromiter(raw.row_errors, dtype=np.int64)] = True

    def add(rows: npt.NDArray[np.int64], text: Callable[[int], str]) -> None:
        for i in rows.tolist():
            reasons.setdefault(i, []).append(text(i))

    # -- kind: which audience each row belongs to (-1: none)
    code = np.full(n, -1, dtype=np.int8)
    kind_col = None
    if "kind" in df.columns:
        try:
            kind_col = _clean_strings(df["kind"].cast(pl.String, strict=False))
        except Exception:
            raise ProfileDataError(
                f"{fname}: the 'kind' column holds {df['kind'].dtype} values, not text"
            ) from None
    if kind_col is None:
        if forced is None:
            raise ProfileDataError(
                f"{fname}: no 'kind' column; add one (enterprise or citizen per row) "
                "or give the kind of all rows (--kind)"
            )
        code[:] = 0
    else:
        kind_low = kind_col.str.to_lowercase()
        for ai, a in enumerate(audiences):
            code[_np(kind_low == a.value)] = ai
        if forced is not None:
            code[_np(kind_low.is_null())] = 0
        bad_kind = np.flatnonzero((code < 0) & ~pre_bad)
        if bad_kind.size:
            shown_kinds = kind_col.gather(bad_kind).to_list()
            for i, k in zip(bad_kind.tolist(), shown_kinds, strict=True):
                if k is None:
                    why = "missing kind (enterprise or citizen)"
                elif forced is not None:
                    why = f"kind {_show(k)} is not {forced.value}, the kind requested"
                else:
                    why = f"kind {_show(k)} is not enterprise or citizen"
                reasons.setdefault(i, []).append(why)
    code[pre_bad] = -1

    # -- id: present and unique within the file
    try:
        ids = _clean_strings(df["id"].cast(pl.String, strict=False)).alias("id")
    except Exception:
        raise ProfileDataError(
            f"{fname}: the 'id' column holds {df['id'].dtype} values, not text"
        ) from None
    no_id = _np(ids.is_null()) & ~pre_bad
    add(np.flatnonzero(no_id), lambda i: "missing id")
    dup = ~_np(ids.is_first_distinct()) & _np(ids.is_not_null())
    if dup.any():
        dup_rows = np.flatnonzero(dup)
        dup_ids = ids.gather(dup_rows).unique().to_list()
        firsts = (
            pl.DataFrame({"id": ids, "line": raw.lines})
            .filter(pl.col("id").is_in(pl.Series(dup_ids, dtype=pl.String).implode()))
            .group_by("id")
            .agg(pl.col("line").min())
        )
        first_line = dict(zip(firsts["id"].to_list(), firsts["line"].to_list(), strict=True))
        id_list = ids.to_list()
        add(
            dup_rows,
            lambda i: f"duplicate id {_show(id_list[i])} (first on line {first_line[id_list[i]]})",
        )

    # -- fields, per audience
    converted: dict[Audience, tuple[npt.NDArray[np.int64], dict[str, pl.Series]]] = {}
    for ai, a in enumerate(audiences):
        rows = np.flatnonzero(code == ai)
        whole = rows.size == n
        sub = df if whole else df[rows]
        cols: dict[str, pl.Series] = {}
        for fl in schemas[a].fields.values():
            if fl.name == "id":
                cols["id"] = ids if whole else ids.gather(rows)
                continue
            if fl.name not in sub.columns:
                cols[fl.name] = pl.Series(fl.name, [None] * rows.size, dtype=polars_dtype(fl.type))
                continue
            raw_col = sub[fl.name]
            conv = _convert(raw_col, fl)
            values = conv.values
            if values.dtype != polars_dtype(fl.type):
                values = values.cast(polars_dtype(fl.type))
            cols[fl.name] = values.alias(fl.name)
            if conv.bad is not None and conv.bad.any():
                local = np.flatnonzero(conv.bad)
                shown = raw_col.gather(local).to_list()
                for j, v in zip(local.tolist(), shown, strict=True):
                    reasons.setdefault(int(rows[j]), []).append(f"{fl.name}: {conv.explain(v)}")
        converted[a] = (rows, cols)

    # -- assemble
    bad_rows = np.array(sorted(reasons), dtype=np.int64)
    frames: dict[Audience, pl.DataFrame] = {}
    for a, (rows, cols) in converted.items():
        frame = pl.DataFrame(list(cols.values()))
        if bad_rows.size and rows.size:
            keep = ~np.isin(rows, bad_rows)
            if not keep.all():
                frame = frame.filter(pl.Series(keep))
        frames[a] = frame

    id_values = ids.to_list() if bad_rows.size else []
    errors = [
        RowError(
            fname, int(raw.lines[i]), "; ".join(reasons[i]), id_values[i] if id_values else None
        )
        for i in bad_rows.tolist()
    ]
    return ProfileBatch(frames, errors, warnings, n)


def read_profiles(
    path: str | Path, schemas: SchemaSet, kind: Audience | str | None = None
) -> ProfileBatch:
    """Read a CSV, JSON Lines or Parquet profile file (by extension) and validate it.

    `kind` forces the audience of every row (a row whose own `kind` differs is
    bad); without it the file's `kind` column decides per row. Raises
    ProfileDataError when the whole file cannot be used (unknown extension, not
    that format, no rows, no `id` column); bad rows are returned as errors.
    """
    p = Path(path)
    fname = str(path)
    forced = _audience_arg(kind)
    ext = p.suffix.lower()
    if ext in CSV_EXTENSIONS:
        raw = _read_csv(p, fname)
    elif ext in JSONL_EXTENSIONS:
        list_fields = {
            fl.name
            for a in ([forced] if forced else list(Audience))
            for fl in schemas[a].fields.values()
            if fl.type is FieldType.LIST
        }
        raw = _read_jsonl(p, fname, list_fields)
    elif ext in PARQUET_EXTENSIONS:
        raw = _read_parquet(p, fname)
    else:
        shown = f"'{ext}'" if ext else "no extension"
        raise ProfileDataError(
            f"{fname}: unsupported profile file type ({shown}); use {_ALL_EXTENSIONS}"
        )
    if raw.df.height == 0:
        raise ProfileDataError(
            f"{fname}: empty, no rows after the header"
            if ext in CSV_EXTENSIONS
            else f"{fname}: empty, no rows"
        )
    return _process(raw, schemas, forced, fname)


# =========================================================================== writing


def write_profiles(
    data: pl.DataFrame
    | Mapping[Audience, pl.DataFrame]
    | Mapping[str, pl.DataFrame]
    | ProfileBatch,
    path: str | Path,
    kind: Audience | str | None = None,
) -> int:
    """Write profiles to CSV, JSON Lines or Parquet (by extension), with a `kind` column first.

    `data` is a frame (with a `kind` column, or `kind` given), a mapping of
    audience -> frame, or a ProfileBatch. Lists are `;`-joined in CSV. Returns the
    number of rows written.
    """
    p = Path(path)
    forced = _audience_arg(kind)
    parts: list[pl.DataFrame] = []
    if isinstance(data, ProfileBatch):
        data = data.frames
    if isinstance(data, pl.DataFrame):
        if forced is not None:
            parts.append(_with_kind(data, forced))
        elif "kind" in data.columns:
            parts.append(data.select("kind", pl.exclude("kind")))
        else:
            raise ValueError("write_profiles: the frame has no 'kind' column; pass kind=")
    else:
        for a, frame in data.items():
            parts.append(_with_kind(frame, _audience_arg(a) or Audience.ENTERPRISE))
    non_empty = [f for f in parts if f.height] or parts[:1]
    if not non_empty:
        raise ValueError("write_profiles: nothing to write")
    out = non_empty[0] if len(non_empty) == 1 else pl.concat(non_empty, how="diagonal_relaxed")
    ext = p.suffix.lower()
    if ext in CSV_EXTENSIONS:
        lists = [c for c, t in out.schema.items() if isinstance(t, pl.List)]
        if lists:
            out = out.with_columns(pl.col(c).list.join(LIST_SEPARATOR) for c in lists)
        out.write_csv(p)
    elif ext in JSONL_EXTENSIONS:
        out.write_ndjson(p)
    elif ext in PARQUET_EXTENSIONS:
        out.write_parquet(p)
    else:
        raise ProfileDataError(
            f"{p}: unsupported profile file type ('{ext}'); use {_ALL_EXTENSIONS}"
        )
    return out.height


def _with_kind(frame: pl.DataFrame, a: Audience) -> pl.DataFrame:
    body = frame.drop("kind") if "kind" in frame.columns else frame
    return body.select(pl.lit(a.value, dtype=pl.String).alias("kind"), pl.all())
