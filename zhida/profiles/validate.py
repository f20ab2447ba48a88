"""Field formats, each defined once, checked one value at a time or a column at a time.

A string field whose name says what it holds (``uscc``, ``*_phone``, ``region``,
``industry``...) has a `FieldFormat`: its rule (a regex, a set of values or a
checksum), the words that say why a value breaks it, a scalar check
(`FieldFormat.is_valid`, used for events) and a vectorised one as a polars
expression (`FieldFormat.valid_expr`, which the file readers put in the one
``select`` that checks a batch; `FieldFormat.valid_mask` runs it over a series),
both built from the same definition. `format_of(name)` finds the format of a field.

Every ``*_valid_mask`` function takes a polars String series and returns a numpy
boolean array that is True where the value is present *and* valid; nulls give
False (the caller decides that a null is "missing", not "invalid").

The id rule (at most 64 characters, no control character) and the NUL rule (no
string value holds U+0000, which PostgreSQL cannot store) are here too, so a row
the database would refuse is a bad row at the edge, the same on SQLite and
PostgreSQL, and never a failed import.

The words of typed values (yes/no, 万/亿, the reason a value is not of its
field's type) live here too, so the readers and the event parser say the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from zhida.profiles.schema import FieldType
from zhida.profiles.uscc import CHARSET, USCC_LENGTH, is_valid_uscc, uscc_valid_mask
from zhida.redact import mask_phone

__all__ = [
    "CN_MOBILE_RE",
    "DATE_MAX",
    "DATE_MIN",
    "DATE_RE",
    "FALSE_WORDS",
    "ID_MAX_LENGTH",
    "ID_RE",
    "NUL_REASON",
    "NUMBER_UNITS",
    "PEOPLE_TYPE_REASONS",
    "REGION_RE",
    "TRUE_WORDS",
    "TYPE_REASONS",
    "FieldFormat",
    "bool_np",
    "date_range_expr",
    "date_reason",
    "format_of",
    "has_nul_expr",
    "has_nul_mask",
    "id_problem",
    "id_valid_mask",
    "in_date_range",
    "is_valid_date",
    "is_valid_phone",
    "is_valid_region",
    "is_valid_uscc",
    "mask_phone",
    "parse_dates",
    "parse_dates_expr",
    "phone_valid_expr",
    "phone_valid_mask",
    "region_valid_expr",
    "region_valid_mask",
    "show_text",
    "uscc_valid_mask",
]

CN_MOBILE_RE = r"^\+861[3-9]\d{9}$"
E164_RE = r"^\+[1-9]\d{6,14}$"
REGION_RE = r"^\d{6}$"
DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
INDUSTRY_RE = r"^[A-T](\d{2}(\d{1,2})?)?$"  # GB/T 4754: section letter, 2-4 digits
ID_HASH_RE = r"^[0-9a-f]{32,128}$"

_E164 = re.compile(E164_RE)
_REGION = re.compile(REGION_RE)
_DATE = re.compile(DATE_RE)

BoolArray = npt.NDArray[np.bool_]


def bool_np(s: pl.Series) -> BoolArray:
    """A boolean series as a numpy array, null as False."""
    return s.fill_null(False).to_numpy().astype(np.bool_, copy=False)


def show_text(value: str) -> str:
    """A text value as error messages quote it: ``'C3'``, cut after 40 characters."""
    return repr(value if len(value) <= 40 else value[:40] + "…")


# --------------------------------------------------------------------------- phones


def is_valid_phone(value: str | None) -> bool:
    """True for a valid phone number written in E.164 form (``+8613812345678``)."""
    if not isinstance(value, str) or not _E164.match(value):
        return False
    import phonenumbers  # 70 ms to import: the readers need it only for rare numbers

    try:
        num = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(num))


def phone_valid_mask(s: pl.Series) -> BoolArray:
    """Vectorised :func:`is_valid_phone` over a series (see :func:`phone_valid_expr`)."""
    return _valid_where(s, phone_valid_expr)


def phone_valid_expr(e: pl.Expr) -> pl.Expr:
    """Vectorised :func:`is_valid_phone`.

    Chinese mobile numbers (``+861[3-9]`` and 9 digits, nearly all real data) are
    accepted by one regex over the column; only the distinct remaining values go
    through ``phonenumbers``.
    """
    return e.map_batches(_phones_valid, return_dtype=pl.Boolean)


def _phones_valid(s: pl.Series) -> pl.Series:
    fast = s.str.contains(CN_MOBILE_RE).fill_null(False)
    rest = s.filter(s.is_not_null() & ~fast).unique()
    good = [v for v in rest.to_list() if is_valid_phone(v)]
    if not good:
        return fast
    return fast | s.is_in(pl.Series(good, dtype=pl.String).implode()).fill_null(False)


def _valid_where(s: pl.Series, valid: Callable[[pl.Expr], pl.Expr]) -> BoolArray:
    """A format's expression over a series: True where present and valid."""
    return bool_np(s.to_frame("v").select(valid(pl.col("v"))).to_series())


# --------------------------------------------------------------------------- regions


def is_valid_region(value: str | None) -> bool:
    """True for a 6-digit administrative division code (``330106``)."""
    return isinstance(value, str) and bool(_REGION.match(value))


def region_valid_mask(s: pl.Series) -> BoolArray:
    return _valid_where(s, region_valid_expr)


def region_valid_expr(e: pl.Expr) -> pl.Expr:
    return e.str.contains(REGION_RE)


# --------------------------------------------------------------------------- dates


#: the dates a profile may hold (establishment, birth, graduation...): one range for every
#: reader and for events, so a year 0 or 9999 never reaches the evaluators or the planner
DATE_MIN = date(1800, 1, 1)
DATE_MAX = date(2199, 12, 31)
DATE_RANGE_REASON = f"is outside the dates a profile may hold ({DATE_MIN} to {DATE_MAX})"


def is_valid_date(value: str | None) -> bool:
    """True for a real calendar date written ``YYYY-MM-DD``, within DATE_MIN..DATE_MAX."""
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    try:
        return DATE_MIN <= date.fromisoformat(value) <= DATE_MAX
    except ValueError:
        return False


def date_reason(value: object) -> str:
    """Why a value is not a profile date: out of range, or not a date at all."""
    text = str(value).strip()
    if _DATE.match(text):
        try:
            date.fromisoformat(text)
            return DATE_RANGE_REASON  # a real date, outside the range
        except ValueError:
            if text.startswith("0000-"):  # year 0: a calendar date Python cannot hold
                return DATE_RANGE_REASON
    return TYPE_REASONS[FieldType.DATE]


def in_date_range(s: pl.Series) -> pl.Series:
    """A pl.Date series with the dates outside DATE_MIN..DATE_MAX set to null."""
    return s.to_frame("v").select(date_range_expr(pl.col("v")).alias(s.name)).to_series()


def date_range_expr(e: pl.Expr) -> pl.Expr:
    """A pl.Date expression with the dates outside DATE_MIN..DATE_MAX set to null."""
    return pl.when(e.is_between(DATE_MIN, DATE_MAX)).then(e)


def parse_dates(s: pl.Series) -> pl.Series:
    """Parse ``YYYY-MM-DD`` strings to ``pl.Date``; anything else, or a date outside
    DATE_MIN..DATE_MAX, becomes null."""
    return s.to_frame("s").select(parse_dates_expr(pl.col("s")).alias(s.name)).to_series()


def parse_dates_expr(e: pl.Expr) -> pl.Expr:
    """:func:`parse_dates` as an expression over a String expression."""
    return date_range_expr(
        pl.when(e.str.contains(DATE_RE)).then(e.str.to_date("%Y-%m-%d", strict=False))
    )


# --------------------------------------------------------------------------- string formats

Case = Literal["", "upper", "lower"]


@dataclass(frozen=True)
class FieldFormat:
    """The format of one kind of string field, with both checks and the words for a bad value.

    A value is stripped and then put in `case` before it is checked. A value valid as
    it stands must be its own normal form (stripped, in `case`, non-empty, without
    NUL): the readers take a column of such values as it is (`readers.convert`), and
    tests/profiles/test_convert.py holds every built-in format to it.

    A bad value is reported as ``<value as shown> <reason>``; profile files and events
    show the value their own way (`shown_in_file`, `shown_in_event`), and a file may
    give a more precise reason (`file_reason`). People filling in a form read
    `people_reason`, in Chinese.
    """

    reason: str
    is_valid: Callable[[str], bool]
    valid_expr: Callable[[pl.Expr], pl.Expr]  # over a String expression: True where valid
    case: Case = ""
    people_reason: str = "格式不正确"
    shown_in_file: Callable[[str], str] = show_text
    shown_in_event: Callable[[str], str] = show_text
    file_reason: Callable[[str], str] | None = None

    def normalise(self, value: str) -> str:
        """A stripped value in this format's case."""
        s = value.strip()
        return s.upper() if self.case == "upper" else s.lower() if self.case == "lower" else s

    def normalise_expr(self, e: pl.Expr) -> pl.Expr:
        """An expression of stripped values in this format's case."""
        if self.case == "upper":
            return e.str.to_uppercase()
        return e.str.to_lowercase() if self.case == "lower" else e

    def valid_mask(self, s: pl.Series) -> BoolArray:
        """`valid_expr` over a series of normalised values: True where present and valid."""
        return _valid_where(s, self.valid_expr)

    def file_error(self, value: str) -> str:
        """Why a normalised value in a profile file is bad."""
        if self.file_reason is not None:
            return self.file_reason(value)
        return f"{self.shown_in_file(value)} {self.reason}"

    def event_error(self, value: str) -> str:
        """Why a normalised value in an event is bad."""
        return f"{self.shown_in_event(value)} {self.reason}"


def _regex_format(
    pattern: str,
    reason: str,
    people_reason: str,
    case: Case = "",
    shown_in_file: Callable[[str], str] = show_text,
    shown_in_event: Callable[[str], str] = show_text,
) -> FieldFormat:
    compiled = re.compile(pattern)
    return FieldFormat(
        reason=reason,
        is_valid=lambda v: compiled.match(v) is not None,
        valid_expr=lambda e: e.str.contains(pattern),
        case=case,
        people_reason=people_reason,
        shown_in_file=shown_in_file,
        shown_in_event=shown_in_event,
    )


def _one_of(allowed: tuple[str, ...], shown: str) -> FieldFormat:
    values = pl.Series(list(allowed), dtype=pl.String)
    return FieldFormat(
        reason=f"is not one of {shown}",
        is_valid=frozenset(allowed).__contains__,
        valid_expr=lambda e: e.is_in(values.implode()),
        case="upper",
        people_reason=f"须为 {'、'.join(allowed)} 之一",
    )


def _uscc_problem(value: str) -> str:
    """Which part of the USCC rule a value breaks: its length, its characters or its check."""
    if len(value) != USCC_LENGTH:
        return f"{show_text(value)} is not a USCC (18 characters, got {len(value)})"
    bad = sorted({c for c in value if c not in CHARSET})
    if bad:
        return f"{show_text(value)} has characters not allowed in a USCC ({''.join(bad)})"
    return f"{show_text(value)} has an invalid USCC check digit"


def _mask_secret(value: str) -> str:
    return f"'{value[:4]}…'" if len(value) > 4 else "'…'"


USCC = FieldFormat(
    reason="is not a valid USCC (统一社会信用代码)",
    is_valid=is_valid_uscc,
    valid_expr=lambda e: e.map_batches(
        lambda s: pl.Series(s.name, uscc_valid_mask(s)), return_dtype=pl.Boolean
    ),
    case="upper",
    file_reason=_uscc_problem,
    people_reason="不是有效的统一社会信用代码（18位，含校验位）",
)
PHONE = FieldFormat(
    reason="is not a valid phone number (E.164, like +8613800000000)",
    is_valid=is_valid_phone,
    valid_expr=phone_valid_expr,
    shown_in_file=mask_phone,
    shown_in_event=lambda _: "a phone number",
    people_reason="不是有效的电话号码（如 +8613800000000）",
)
REGION = FieldFormat(
    reason="is not a 6-digit region code",
    is_valid=is_valid_region,
    valid_expr=region_valid_expr,
    people_reason="须为6位行政区划代码（如 330106）",
)
INDUSTRY = _regex_format(
    INDUSTRY_RE,
    "is not a GB/T 4754 industry code (like C39)",
    "须为国民经济行业代码（如 C39）",
    "upper",
)
ID_HASH = _regex_format(
    ID_HASH_RE,
    "is not a hex digest (store a hash, never the ID number itself)",
    "格式不正确",
    "lower",
    shown_in_file=_mask_secret,
    shown_in_event=_mask_secret,  # it may be a raw ID number: never quote it whole
)
TAX_CREDIT = _one_of(("A", "B", "M", "C", "D"), "A, B, M, C, D")
TALENT_LEVEL = _one_of(("A", "B", "C", "D", "E"), "A-E")

_BY_NAME: dict[str, FieldFormat] = {
    "uscc": USCC,
    "phone": PHONE,
    "mobile": PHONE,
    "region": REGION,
    "id_hash": ID_HASH,
    "industry": INDUSTRY,
    "tax_credit": TAX_CREDIT,
    "talent_level": TALENT_LEVEL,
}
_BY_SUFFIX: tuple[tuple[str, FieldFormat], ...] = (
    ("_uscc", USCC),
    ("_phone", PHONE),
    ("_region", REGION),
)


def format_of(name: str) -> FieldFormat | None:
    """The format of a string field, chosen by its name (``employer_uscc`` is a USCC)."""
    found = _BY_NAME.get(name)
    if found is not None:
        return found
    return next((fmt for suffix, fmt in _BY_SUFFIX if name.endswith(suffix)), None)


# --------------------------------------------------------------------------- ids and text

#: a profile id: 1 to 64 characters (the store's column), none of them a control character
ID_MAX_LENGTH = 64
_CONTROL = r"\x00-\x1f\x7f"
ID_RE = rf"^[^{_CONTROL}]{{1,{ID_MAX_LENGTH}}}$"
_ID = re.compile(ID_RE)
#: a NUL cannot be stored (PostgreSQL's jsonb and text refuse U+0000); SQLite would keep it
NUL_REASON = "contains a NUL character (\\u0000), which cannot be stored"


def id_problem(value: str) -> str | None:
    """Why a (stripped) profile id breaks the id rule, or None when it keeps it."""
    if _ID.match(value):
        return None
    if len(value) > ID_MAX_LENGTH:
        return f"id {show_text(value)} is longer than {ID_MAX_LENGTH} characters"
    return f"id {show_text(value)} contains a control character"


def id_valid_mask(s: pl.Series) -> BoolArray:
    """Present ids that keep the id rule."""
    return bool_np(s.str.contains(ID_RE))


def has_nul_mask(s: pl.Series) -> BoolArray:
    """Strings (or lists of strings) holding a NUL character."""
    return bool_np(s.to_frame("v").select(has_nul_expr(pl.col("v"), s.dtype)).to_series())


def has_nul_expr(e: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """:func:`has_nul_mask` as an expression over a String or List(String) expression."""
    if isinstance(dtype, pl.List):
        return e.list.eval(pl.element().str.contains("\x00", literal=True)).list.any()
    return e.str.contains("\x00", literal=True)


# --------------------------------------------------------------------------- typed values

TRUE_WORDS = ("true", "1", "是", "yes", "y", "t")
FALSE_WORDS = ("false", "0", "否", "no", "n", "f")
NUMBER_UNITS = {"亿": 1e8, "万": 1e4}  # 8000万, 1.5亿, as in the policy language

#: why a value is not of its field's type (after the value as shown)
TYPE_REASONS: dict[FieldType, str] = {
    FieldType.INT: "is not an integer",
    FieldType.NUMBER: "is not a number",
    FieldType.BOOL: "is not a yes/no value (true/false, 1/0, 是/否)",
    FieldType.DATE: "is not a valid date (YYYY-MM-DD)",
}
#: the same, for people filling in a form (Chinese, no value quoted)
PEOPLE_TYPE_REASONS: dict[FieldType, str] = {
    FieldType.INT: "须为整数",
    FieldType.NUMBER: "须为数字（可带“万”“亿”）",
    FieldType.BOOL: "请选择“是”或“否”",
    FieldType.DATE: f"须为有效日期，格式如 2020-01-31（{DATE_MIN.year}年至{DATE_MAX.year}年）",
}
