"""Columns of a file to the field's dtype, vectorised, and which values are invalid.

A text column is stripped (empty is missing), put in its field's type and checked
against the field's format (`zhida.profiles.validate`); a typed column (Parquet)
is cast when its type is compatible. Every bad value gets its reason.

Each column's conversion is a `Plan`: polars expressions in three stages (the
text or typed source, the converted value, the bad flag), so that all the columns
of a batch are converted and checked by one lazy query (`convert_frame`), not by a
few dozen small calls per column. A formatted text column whose every value is
valid as it stands (the common case) needs no plan stages at all: it is taken as it
is (`_valid_as_given`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

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
    date_range_expr,
    date_reason,
    format_of,
    has_nul_expr,
    parse_dates_expr,
    show_text,
)

BoolArray = npt.NDArray[np.bool_]
Explain = Callable[[object], str]
_BOOL_WORDS = {w: True for w in TRUE_WORDS} | {w: False for w in FALSE_WORDS}


def clean_expr(e: pl.Expr) -> pl.Expr:
    """Strip whitespace; an empty string is missing."""
    return _non_empty(e.str.strip_chars())


def _non_empty(t: pl.Expr) -> pl.Expr:
    return pl.when(t.str.len_bytes() > 0).then(t)


def clean_strings(s: pl.Series) -> pl.Series:
    """`clean_expr` over a series."""
    return s.to_frame("v").select(clean_expr(pl.col("v")).alias(s.name)).to_series()


def show_value(v: object) -> str:
    """A file's value as a reason quotes it."""
    if isinstance(v, str):
        return show_text(v)
    if isinstance(v, float) and v.is_integer():
        return repr(v)
    return str(v)


def _not_of_type(t: FieldType) -> Explain:
    """The reason for a value that does not convert to type `t`."""
    return lambda v: f"{show_value(v)} {TYPE_REASONS[t]}"


# The stages of a plan read these columns of the query (`T`: the stripped text, `S`: the
# source, `V`: the value).
def _txt(name: str) -> pl.Expr:
    return pl.col(f"\x00\x01t:{name}")


def _src(name: str) -> pl.Expr:
    return pl.col(f"\x00\x01s:{name}")


def _val(name: str) -> pl.Expr:
    return pl.col(f"\x00\x01v:{name}")


def bad_column(name: str) -> str:
    """The name of a field's bad flag in `convert_frame`'s result."""
    return f"\x00\x01b:{name}"


@dataclass
class Plan:
    """How one column becomes its field: the text to strip (`T`, for a text column),
    the source `S` (from `T` or the file's column), the value `V` (from `S`), the bad
    flag (from `S` and `V`), the final value (from `V` and the flag; `V` itself when
    None), and the reason for a bad raw value."""

    text: pl.Expr | None
    source: pl.Expr
    value: pl.Expr
    bad: pl.Expr | None
    explain: Explain
    final: pl.Expr | None = None


def _masked(name: str) -> pl.Expr:
    """The value, null where its bad flag is set."""
    return pl.when(~pl.col(bad_column(name))).then(_val(name))


def _lost(name: str) -> pl.Expr:
    """A present source whose value became null: a conversion failure."""
    return _src(name).is_not_null() & _val(name).is_null()


def plan_column(raw: pl.Series, f: Field) -> tuple[pl.Series, Plan]:
    """The column the plan reads (`raw`, or `raw` as text when only text fits) and the
    plan that converts it to field `f`.

    A text value holding a NUL is bad; it is reported as such unless the value is bad
    for another reason (a format, which no NUL passes, or the column's type)."""
    given = _valid_as_given(raw, f)
    if given is not None:
        return raw, given
    prepared, plan = _plan(raw, f)
    if f.type not in (FieldType.STRING, FieldType.LIST):
        return prepared, plan
    v = _val(f.name)
    dtype = pl.List(pl.String) if f.type is FieldType.LIST else pl.String()
    nul = has_nul_expr(v, dtype).fill_null(False)
    if plan.bad is not None:
        return prepared, replace(plan, bad=plan.bad | nul, final=_masked(f.name))
    return prepared, replace(plan, bad=nul, explain=_nul_reason, final=_masked(f.name))


def _valid_as_given(raw: pl.Series, f: Field) -> Plan | None:
    """The plan of a text column of a formatted field whose every present value is
    valid as it stands, so its own normal form (see `FieldFormat`): taken as it is,
    nothing flagged. Else None (the full plan; the format is then checked twice)."""
    if f.type is not FieldType.STRING or raw.dtype != pl.String:
        return None
    fmt = format_of(f.name)
    if fmt is None or int(fmt.valid_mask(raw).sum()) != len(raw) - raw.null_count():
        return None
    return Plan(None, pl.col(f.name), _src(f.name), None, show_value)


def _nul_reason(v: object) -> str:
    return NUL_REASON


def _plan(raw: pl.Series, f: Field) -> tuple[pl.Series, Plan]:
    dtype = raw.dtype
    c = pl.col(f.name)
    if dtype == pl.Null:
        return raw, Plan(None, c, pl.lit(None, dtype=polars_dtype(f.type)), None, show_value)
    if dtype == pl.String:
        return raw, _from_strings(c, f)
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
        return raw, Plan(
            None,
            c,
            pl.lit(None, dtype=polars_dtype(f.type)),
            _src(f.name).is_not_null(),
            lambda v: f"has the wrong type ({dtype}, expected {f.type.value})",
        )
    return as_str, _from_strings(c, f)


def _int_from_float(x: pl.Expr) -> pl.Expr:
    """Integral, finite floats as Int64; anything else becomes null."""
    ok = x.is_finite() & (x.abs() < 9.2e18) & (x == x.floor())
    return pl.when(ok).then(x).cast(pl.Int64, strict=False)


def _from_strings(c: pl.Expr, f: Field) -> Plan:
    """The plan of a text column `c`: stripped (empty is missing), then converted and
    checked."""
    return replace(_text_plan(f), text=c, source=_non_empty(_txt(f.name)))


def _text_plan(f: Field) -> Plan:
    name = f.name
    source = _src(name)  # set by _from_strings
    s = _src(name)
    t = f.type
    if t is FieldType.STRING:
        fmt = format_of(name)
        if fmt is None:
            return Plan(None, source, s, None, show_value)
        bad = s.is_not_null() & ~fmt.valid_expr(_val(name)).fill_null(False)
        return Plan(
            None,
            source,
            fmt.normalise_expr(s),
            bad,
            lambda v: fmt.file_error(fmt.normalise(str(v))),
            _masked(name),
        )
    if t is FieldType.INT:
        # "5.0", "1e3": integral numbers written as floats
        as_int = _int_from_float(s.cast(pl.Float64, strict=False))
        value = s.cast(pl.Int64, strict=False).fill_null(as_int)
        return Plan(None, source, value, _lost(name), _not_of_type(FieldType.INT))
    if t is FieldType.NUMBER:
        return _number_from_strings(source, name)
    if t is FieldType.BOOL:
        value = s.str.to_lowercase().replace_strict(
            _BOOL_WORDS, default=None, return_dtype=pl.Boolean
        )
        return Plan(None, source, value, _lost(name), _not_of_type(FieldType.BOOL))
    if t is FieldType.DATE:
        return Plan(
            None,
            source,
            parse_dates_expr(s),
            _lost(name),
            lambda v: f"{show_value(v)} {date_reason(v)}",
        )
    # LIST: "a;b;c"
    parts = (
        s.str.replace_all("；", LIST_SEPARATOR)
        .str.split(LIST_SEPARATOR)
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element().str.len_bytes() > 0))
    )
    return Plan(None, source, parts, None, show_value)


def _number_from_strings(source: pl.Expr, name: str) -> Plan:
    """8000万 / 1.5亿, as in the policy language; NaN reads as missing."""
    s = _src(name)
    digits = s
    for unit in NUMBER_UNITS:
        digits = digits.str.strip_suffix(unit)
    scale = s.str.slice(-1).replace_strict(NUMBER_UNITS, default=1.0, return_dtype=pl.Float64)
    x = digits.str.strip_chars().cast(pl.Float64, strict=False) * scale
    return _finite_number(source, x, name)


def _finite_number(source: pl.Expr, x: pl.Expr, name: str) -> Plan:
    """A float value `x`: bad when present and infinite; NaN is missing, not bad. The
    value stage keeps NaN and infinities for the flag; the mask drops them."""
    v = _val(name)
    finite = v.is_finite().fill_null(False)
    bad = _src(name).is_not_null() & ~finite & ~v.is_nan().fill_null(False)
    return Plan(None, source, x, bad, _not_of_type(FieldType.NUMBER), pl.when(finite).then(v))


def _from_typed(raw: pl.Series, f: Field) -> tuple[pl.Series, Plan] | None:
    """Columns already typed (Parquet): cast when compatible, else None."""
    dtype = raw.dtype
    name = f.name
    c = pl.col(name)
    s = _src(name)
    t = f.type
    if t is FieldType.INT:
        if dtype.is_integer():
            return raw, Plan(None, c, s.cast(pl.Int64, strict=False), _lost(name), _not_of_type(t))
        if dtype.is_float() or dtype.is_decimal():
            x = c.cast(pl.Float64)
            lost = ~s.is_nan() & _lost(name)  # NaN reads as missing
            return raw, Plan(None, x, _int_from_float(s), lost, _not_of_type(t))
        return None
    if t is FieldType.NUMBER:
        if not dtype.is_numeric():
            return None
        return raw, _finite_number(c.cast(pl.Float64), s, name)
    if t is FieldType.BOOL:
        if dtype == pl.Boolean:
            return raw, Plan(None, c, s, None, show_value)
        if dtype.is_integer():
            value = s.replace_strict({0: False, 1: True}, default=None, return_dtype=pl.Boolean)
            return raw, Plan(
                None, c, value, _lost(name), lambda v: f"{show_value(v)} is not 0/1 or a bool"
            )
        return None
    if t is FieldType.DATE:
        if dtype != pl.Date and not isinstance(dtype, pl.Datetime):
            return None
        days = c if dtype == pl.Date else c.dt.date()
        return raw, Plan(
            None,
            days,
            date_range_expr(s),
            _lost(name),
            lambda v: f"{show_value(v)} {DATE_RANGE_REASON}",
        )
    if t is FieldType.LIST:
        return _typed_list(raw, f)
    if t is FieldType.STRING and isinstance(dtype, pl.Categorical | pl.Enum):
        return raw, _from_strings(c.cast(pl.String), f)
    return None


def _typed_list(raw: pl.Series, f: Field) -> tuple[pl.Series, Plan] | None:
    if not isinstance(raw.dtype, pl.List):
        return None
    try:
        lst = raw.cast(pl.List(pl.String))
    except Exception:
        return None
    items = (
        _src(f.name)
        .list.eval(pl.element().str.strip_chars())
        .list.eval(
            pl.element().filter(pl.element().is_not_null() & (pl.element().str.len_bytes() > 0))
        )
    )
    return lst, Plan(None, pl.col(f.name), items, None, show_value)


def convert_frame(
    columns: dict[str, tuple[pl.Series, Plan]], fields: dict[str, Field]
) -> pl.DataFrame:
    """All the planned columns converted by one lazy query: each field's values (in its
    dtype, named after it) and, for the fields that can hold bad values, the bad flag
    (`bad_column`), never null."""
    plans = {n: p for n, (_, p) in columns.items()}
    flagged = [n for n, p in plans.items() if p.bad is not None]
    frame = pl.DataFrame([s.alias(n) for n, (s, _) in columns.items()])
    texts = [
        p.text.str.strip_chars().alias(_name(_txt(n)))
        for n, p in plans.items()
        if p.text is not None
    ]
    return (
        frame.lazy()
        .with_columns(texts)
        .select(p.source.alias(_name(_src(n))) for n, p in plans.items())
        .with_columns(p.value.alias(_name(_val(n))) for n, p in plans.items())
        .with_columns(plans[n].bad.fill_null(False).alias(bad_column(n)) for n in flagged)  # type: ignore[union-attr]
        .select(
            *(
                (_val(n) if p.final is None else p.final)
                .cast(polars_dtype(fields[n].type))
                .alias(n)
                for n, p in plans.items()
            ),
            *(pl.col(bad_column(n)) for n in flagged),
        )
        .collect()
    )


def _name(e: pl.Expr) -> str:
    return e.meta.output_name()
