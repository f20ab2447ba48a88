"""zhida/csvsafe.py: cells a spreadsheet would run as formulas are written as text."""

from __future__ import annotations

import csv
import io

import polars as pl

from zhida.csvsafe import escape_cell, escape_frame, escape_row

RISKY = [
    '=HYPERLINK("http://x","点我")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1",
    "\r=1",
    "=",
    "-",
    "+86 138",
]
SAFE = ["杭州测试科技有限公司", "", "-5", "+8613800000001", "-0.5", "1e5", "a=b", "'=x", " =1"]


def test_formula_cells_get_a_leading_quote_and_numbers_stay() -> None:
    for text in RISKY:
        assert escape_cell(text) == "'" + text, text
    for text in SAFE:
        assert escape_cell(text) == text, text
    assert escape_row(["=1", 5, None, "-3"]) == ["'=1", 5, None, "-3"]


def test_the_frame_version_escapes_exactly_what_the_cell_version_does() -> None:
    cells = RISKY + SAFE + [None]
    frame = pl.DataFrame({"s": cells, "n": list(range(len(cells)))})
    out = escape_frame(frame)
    expected = [escape_cell(c) if c is not None else None for c in cells]
    assert out["s"].to_list() == expected
    assert out["n"].to_list() == frame["n"].to_list()  # numbers are never touched


def test_a_written_csv_opens_as_text() -> None:
    buf = io.StringIO()
    csv.writer(buf).writerow(escape_row(["=1+1", "ok"]))
    assert buf.getvalue().startswith("'=1+1,ok")
