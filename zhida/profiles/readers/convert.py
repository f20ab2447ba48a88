"""Columns of a file to the field's dtype, vectorised, and which values are invalid.

A text column is stripped (empty is missing), put in its field's type and checked
against the field's format (`zhida.profiles.validate`); a typed column (Parquet)
is cast when its type is compatible. Every bad value gets its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from zhida.profiles.readers.batch import LIST_SEPARATOR, polars_dtype
from zhida.profiles.schema import Field, FieldType
from zhida.profiles.validate import (
    DATE_RANGE_REASON,
    FALSE_WORDS,
    NUL_REASON,
    NUMBER_UNITS,
    TRUE_WORDS,
    TYPE_REASONS,
    bool_np,
    date_reason,
    format_of,
    has_nul_mask,
    in_date_range,
    parse_dates,
    show_text,
)

BoolArray = npt.NDArray[np.bool_]


def _where(cond: pl.Series, values: pl.Series) -> pl.Series:
    """`values` where `cond` is true, null elsewhere."""
    return (
        pl.DataFrame({"c": cond, "v": values})
        .select(pl.when(pl.col("c")).then(pl.col("v")).alias(values.name))
        .to_series()
    )


def clean_strings(s: pl.Series) -> pl.Series:
    """Strip whitespace; an empty string is missing."""
    t = s.str.strip_chars()
    return _where(t.str.len_bytes() > 0, t)


def _lost(raw_present: pl.Series, out: pl.Series) -> BoolArray:
    """Rows where a present input became null: a conversion failure."""
    return bool_np(raw_present) & bool_np(out.is_null())


@dataclass
class Converted:
    """A column in its field's dtype, and which of its values were invalid."""

    values: pl.Series
    bad: BoolArray | None  # rows whose value is invalid
    explain: Callable[[object], str]  # raw value -> reason, for bad rows only


def show_value(v: object) -> str:
    """A file's value as a reason quotes it."""
    if isinstance(v, str):
        return show_text(v)
    if isinstance(v, float) and v.is_integer():
        return repr(v)
    return str(v)


def _not_of_type(t: FieldType) -> Callable[[object], str]:
    """The reason for a value that does not convert to type `t`."""
    return lambda v: f"{show_value(v)} {TYPE_REASONS[t]}"


def convert_column(raw: pl.Series, f: Field) -> Converted:
    """Convert one column of a file to the field's dtype, and find invalid values."""
    conv = _convert(raw, f)
    if f.type not in (FieldType.STRING, FieldType.LIST):
        return conv
    nul = has_nul_mask(conv.values)
    if not nul.any():
        return conv
    bad = nul if conv.bad is None else conv.bad | nul
    explain = conv.explain
    return Converted(
        _where(pl.Series(~nul), conv.values).alias(f.name),
        bad,
        lambda v: NUL_REASON if _holds_nul(v) else explain(v),
    )


def _holds_nul(v: object) -> bool:
    if isinstance(v, str):
        return "\x00" in v
    return isinstance(v, list | tuple | pl.Series) and any(_holds_nul(e) for e in v)


def _convert(raw: pl.Series, f: Field) -> Converted:
    dtype = raw.dtype
    if dtype == pl.Null:
        return Converted(_all_missing(f, len(raw)), None, show_value)
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
        return Converted(
            _all_missing(f, len(raw)),
            bool_np(raw.is_not_null()),
            lambda v: f"has the wrong type ({dtype}, expected {f.type.value})",
        )
    return _from_strings(as_str, f)


def _all_missing(f: Field, n: int) -> pl.Series:
    return pl.Series(f.name, [None] * n, dtype=polars_dtype(f.type))


def _int_from_float(x: pl.Series) -> pl.Series:
    """Integral, finite floats as Int64; anything else becomes null."""
    ok = x.is_finite() & (x.abs() < 9.2e18) & (x == x.floor())
    return _where(ok, x).cast(pl.Int64, strict=False)


def _from_strings(raw: pl.Series, f: Field) -> Converted:
    s = clean_strings(raw)
    present = s.is_not_null()
    name = f.name
    t = f.type
    if t is FieldType.STRING:
        fmt = format_of(name)
        if fmt is None:
            return Converted(s.alias(name), None, show_value)
        s = fmt.normalise_column(s)
        bad = bool_np(present) & ~fmt.valid_mask(s)
        values = _where(pl.Series(~bad), s) if bad.any() else s
        return Converted(values.alias(name), bad, lambda v: fmt.file_error(fmt.normalise(str(v))))
    if t is FieldType.INT:
        out = s.cast(pl.Int64, strict=False)
        missed = bool_np(present) & bool_np(out.is_null())
        if missed.any():  # "5.0", "1e3": integral numbers written as floats
            as_int = _int_from_float(s.cast(pl.Float64, strict=False))
            out = out.fill_null(as_int)
        return Converted(out.alias(name), _lost(present, out), _not_of_type(FieldType.INT))
    if t is FieldType.NUMBER:
        return _number_from_strings(s, present, name)
    if t is FieldType.BOOL:
        mapping = {w: True for w in TRUE_WORDS} | {w: False for w in FALSE_WORDS}
        out = s.str.to_lowercase().replace_strict(mapping, default=None, return_dtype=pl.Boolean)
        return Converted(
            out.alias(name),
            _lost(present, out),
            _not_of_type(FieldType.BOOL),
        )
    if t is FieldType.DATE:
        out = parse_dates(s)
        return Converted(
            out.alias(name),
            _lost(present, out),
            lambda v: f"{show_value(v)} {date_reason(v)}",
        )
    # LIST: "a;b;c"
    parts = (
        s.str.replace_all("；", LIST_SEPARATOR)
        .str.split(LIST_SEPARATOR)
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element().str.len_bytes() > 0))
    )
    return Converted(parts.alias(name), None, show_value)


def _number_from_strings(s: pl.Series, present: pl.Series, name: str) -> Converted:
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
    nan = bool_np(x.is_nan())
    ok = x.is_finite()
    out = _where(ok, x).alias(name)
    bad = _lost(present, out) & ~nan  # NaN reads as missing
    return Converted(out, bad, _not_of_type(FieldType.NUMBER))


def _from_typed(raw: pl.Series, f: Field) -> Converted | None:
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
        return Converted(out.alias(name), _lost(present, out), _not_of_type(FieldType.INT))
    if t is FieldType.NUMBER:
        if not dtype.is_numeric():
            return None
        x = raw.cast(pl.Float64)
        nan = bool_np(x.is_nan())
        out = _where(x.is_finite(), x).alias(name)
        return Converted(out, _lost(present, out) & ~nan, _not_of_type(FieldType.NUMBER))
    if t is FieldType.BOOL:
        if dtype == pl.Boolean:
            return Converted(raw.alias(name), None, show_value)
        if dtype.is_integer():
            out = raw.replace_strict({0: False, 1: True}, default=None, return_dtype=pl.Boolean)
            return Converted(
                out.alias(name),
                _lost(present, out),
                lambda v: f"{show_value(v)} is not 0/1 or a bool",
            )
        return None
    if t is FieldType.DATE:
        if dtype != pl.Date and not isinstance(dtype, pl.Datetime):
            return None
        days = raw if dtype == pl.Date else raw.dt.date()
        out = in_date_range(days)
        return Converted(
            out.alias(name),
            _lost(days.is_not_null(), out),
            lambda v: f"{show_value(v)} {DATE_RANGE_REASON}",
        )
    if t is FieldType.LIST:
        if isinstance(dtype, pl.List):
            try:
                lst = raw.cast(pl.List(pl.String))
            except Exception:
                return None
            out = lst.list.eval(pl.element().str.strip_chars()).list.eval(
                pl.element().filter(pl.element().is_not_null() & (pl.element().str.len_bytes() > 0))
            )
            return Converted(out.alias(name), None, show_value)
        return None
    if t is FieldType.STRING and isinstance(dtype, pl.Categorical | pl.Enum):
        return _from_strings(raw.cast(pl.String), f)
    return None
