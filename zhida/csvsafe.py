"""CSV cells a spreadsheet will not run: the one helper every CSV the project writes uses.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read by
Excel, WPS and LibreOffice as a formula (`=HYPERLINK(...)`, `@SUM(...)`,
`-2+3+cmd|' /C calc'!A0`). Such a cell is written with a leading `'` (OWASP's
advice), which spreadsheets show as text. A plain number (`-5`, `+8613800000001`,
`-0.5`) is no formula and stays as it is, so numbers and phone numbers read back
unchanged. Only text cells are escaped: a numeric column never holds a formula.

- `escape_cell(text)`: one cell;
- `escape_row(values)`: a row for `csv.writer` (non-strings pass through);
- `escape_frame(frame)`: every String column of a polars frame, vectorised.

CSV written for PostgreSQL's COPY is not for people and is not escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import polars as pl

#: what makes a spreadsheet read a cell as a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
_RISKY = r"^[=+\-@\t\r]"


def escape_cell(text: str) -> str:
    """`text`, with a leading `'` when a spreadsheet would take it for a formula."""
    if text.startswith(FORMULA_STARTS) and not _NUMBER_RE.fullmatch(text):
        return "'" + text
    return text


def escape_row(values: Iterable[Any]) -> list[Any]:
    return [escape_cell(v) if isinstance(v, str) else v for v in values]


def escape_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every String column's risky cells escaped as `escape_cell` does."""
    strings = [c for c, t in frame.schema.items() if t == pl.String]
    if not strings:
        return frame
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_RISKY) & ~pl.col(c).str.contains(f"^{_NUMBER}$"))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in strings
    )
