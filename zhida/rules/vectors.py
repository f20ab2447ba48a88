"""How values look in the vectorised evaluator, for a chunk of n rows (or numpy
scalars for constants):

- number, date: float64 (NaN = unknown; dates as days since 1970-01-01)
- bool: int8 three-valued code, 0 false / 1 unknown / 2 true, so Kleene
  `and` is minimum, `or` is maximum and `not` is 2 - x
- string, list: `Coded` (or a Python constant); functions run once per
  distinct value and are gathered by code
- a list literal with non-constant items: a Python list of the item values

It lives in rules/ so that the vector implementations of the expression
functions (`zhida.rules.functions`) and the evaluator in matcher/ share it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()

NAN = np.float64(np.nan)
F, U, T = np.int8(0), np.int8(1), np.int8(2)


def date_to_days(d: dt.date) -> float:
    return float(d.toordinal() - EPOCH_ORDINAL)


def days_to_date(days: float) -> dt.date:
    return dt.date.fromordinal(int(days) + EPOCH_ORDINAL)


@dataclass
class Coded:
    """A string or list column: codes into distinct values (`uniques`), -1 = missing."""

    codes: np.ndarray
    uniques: list[Any]
    uid: str  # names the uniques, for caching per-distinct-value results

    def slice(self, start: int, stop: int) -> Coded:
        return Coded(self.codes[start:stop], self.uniques, self.uid)


def tri(true: Any, unknown: Any = None) -> Any:
    """Three-valued code from 'definitely true' and 'unknown' masks (true must be False where
    unknown)."""
    code = np.left_shift(np.asarray(true, dtype=bool).view(np.int8), 1)
    if unknown is None:
        return code
    unk = np.asarray(unknown, dtype=bool)
    if unk.ndim == 0:
        return np.bitwise_or(code, U) if unk else code
    if code.shape == unk.shape:
        return np.bitwise_or(code, unk.view(np.int8), out=code)
    return np.bitwise_or(code, unk.view(np.int8))
