"""Vectorised value checks for profile columns, with scalar twins for single values.

Every ``*_valid_mask`` function takes a polars String series and returns a numpy
boolean array that is True where the value is present *and* valid; nulls give
False (the caller decides that a null is "missing", not "invalid").
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import numpy.typing as npt
import phonenumbers
import polars as pl

from zhida.profiles.uscc import is_valid_uscc, uscc_valid_mask
from zhida.redact import mask_phone

__all__ = [
    "CN_MOBILE_RE",
    "DATE_RE",
    "REGION_RE",
    "is_valid_date",
    "is_valid_phone",
    "is_valid_region",
    "is_valid_uscc",
    "mask_phone",
    "parse_dates",
    "phone_valid_mask",
    "region_valid_mask",
    "uscc_valid_mask",
]

CN_MOBILE_RE = r"^\+861[3-9]\d{9}$"
E164_RE = r"^\+[1-9]\d{6,14}$"
REGION_RE = r"^\d{6}$"
DATE_RE = r"^\d{4}-\d{2}-\d{2}$"

_E164 = re.compile(E164_RE)
_REGION = re.compile(REGION_RE)
_DATE = re.compile(DATE_RE)


def _bool_np(s: pl.Series) -> npt.NDArray[np.bool_]:
    return s.fill_null(False).to_numpy().astype(np.bool_, copy=False)


# --------------------------------------------------------------------------- phones


def is_valid_phone(value: str | None) -> bool:
    """True for a valid phone number written in E.164 form (``+8613812345678``)."""
    if not isinstance(value, str) or not _E164.match(value):
        return False
    try:
        num = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(num))


def phone_valid_mask(s: pl.Series) -> npt.NDArray[np.bool_]:
    """Vectorised :func:`is_valid_phone`.

    Chinese mobile numbers (``+861[3-9]`` and 9 digits, nearly all real data) are
    accepted by one regex over the column; only the distinct remaining values go
    through ``phonenumbers``.
    """
    fast = _bool_np(s.str.contains(CN_MOBILE_RE))
    rest_idx = np.flatnonzero(~fast & _bool_np(s.is_not_null()))
    if rest_idx.size == 0:
        return fast
    rest = s.gather(rest_idx)
    good = [v for v in rest.unique().to_list() if is_valid_phone(v)]
    if good:
        fast[rest_idx] = _bool_np(rest.is_in(pl.Series(good, dtype=pl.String).implode()))
    return fast



# --------------------------------------------------------------------------- regions


def is_valid_region(value: str | None) -> bool:
    """True for a 6-digit administrative division code (``330106``)."""
    return isinstance(value, str) and bool(_REGION.match(value))


def region_valid_mask(s: pl.Series) -> npt.NDArray[np.bool_]:
    return _bool_np(s.str.contains(REGION_RE))


# --------------------------------------------------------------------------- dates


def is_valid_date(value: str | None) -> bool:
    """True for a real calendar date written ``YYYY-MM-DD``."""
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def parse_dates(s: pl.Series) -> pl.Series:
    """Parse ``YYYY-MM-DD`` strings to ``pl.Date``; anything else becomes null."""
    frame = pl.DataFrame({"s": s})
    return frame.select(
        pl.when(pl.col("s").str.contains(DATE_RE))
        .then(pl.col("s").str.to_date("%Y-%m-%d", strict=False))
        .alias(s.name)
    ).to_series()
