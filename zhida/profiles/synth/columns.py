"""Column makers both kinds share: ids, regions, phones, USCCs, dates and missing values.

`SYNTH_AS_OF` is the fixed reference date, so the same seed always gives the
same data. Everything is drawn with numpy in bulk, without per-row Python.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from zhida.profiles.synth.places import REGION_CODES, REGION_P
from zhida.profiles.uscc import check_values, codes_to_bytes

SYNTH_AS_OF = date(2026, 3, 1)
_EPOCH = date(1970, 1, 1)
AS_OF_DAY = (SYNTH_AS_OF - _EPOCH).days
FIRST_DAY = (date(1995, 1, 1) - _EPOCH).days

Rng = np.random.Generator
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _strings_from_bytes(mat: npt.NDArray[np.uint8], name: str) -> pl.Series:
    """An (n, w) ASCII byte matrix as a String series, without per-row Python."""
    n, w = mat.shape
    data = np.ascontiguousarray(mat)
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64)
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    out = pl.from_arrow(arr)
    assert isinstance(out, pl.Series)
    return out.cast(pl.String).alias(name)


def null_where(s: pl.Series, mask: BoolArray) -> pl.Series:
    if not mask.any():
        return s
    return (
        pl.DataFrame({"v": s, "m": mask})
        .select(pl.when(pl.col("m")).then(None).otherwise(pl.col("v")).alias(s.name))
        .to_series()
        .cast(s.dtype)
    )


def missing(rng: Rng, n: int, rate: float) -> BoolArray:
    return rng.random(n) < rate


def dates(days: IntArray, name: str) -> pl.Series:
    return pl.Series(name, days.astype(np.int32)).cast(pl.Date)


def pick(pool: list[str] | tuple[str, ...], idx: IntArray, name: str) -> pl.Series:
    return pl.Series(name, list(pool), dtype=pl.String).gather(idx)


def concat(parts: list[pl.Series], name: str) -> pl.Series:
    frame = pl.DataFrame({f"p{i}": p for i, p in enumerate(parts)})
    return frame.select(pl.concat_str(pl.all()).alias(name)).to_series()


def ids(prefix: str, n: int) -> pl.Series:
    width = max(7, len(str(n)))
    return pl.select(
        (
            pl.lit(prefix) + pl.int_range(1, n + 1, dtype=pl.Int64).cast(pl.String).str.zfill(width)
        ).alias("id")
    ).to_series()


def region_choice(rng: Rng, n: int) -> IntArray:
    return rng.choice(len(REGION_CODES), size=n, p=REGION_P).astype(np.int64)


def make_usccs(rng: Rng, region_codes: IntArray) -> pl.Series:
    """Valid USCCs: ``91`` + 6-digit region + 9 random characters + check."""
    n = region_codes.size
    vals = np.empty((n, 18), dtype=np.int64)
    vals[:, 0] = 9
    vals[:, 1] = 1
    powers = 10 ** np.arange(5, -1, -1, dtype=np.int64)
    vals[:, 2:8] = (region_codes[:, None] // powers) % 10
    vals[:, 8:17] = rng.integers(0, 31, size=(n, 9))
    vals[:, 17] = check_values(vals[:, :17])
    return _strings_from_bytes(codes_to_bytes(vals), "uscc")


def phones(rng: Rng, n: int, missing_rate: float) -> pl.Series:
    mat = np.empty((n, 14), dtype=np.uint8)
    mat[:, :4] = np.frombuffer(b"+861", dtype=np.uint8)
    mat[:, 4] = rng.integers(3, 10, size=n) + ord("0")
    mat[:, 5:] = rng.integers(0, 10, size=(n, 9)) + ord("0")
    return null_where(_strings_from_bytes(mat, "phone"), missing(rng, n, missing_rate))


def region_series(idx: IntArray, name: str) -> pl.Series:
    return pick(REGION_CODES, idx, name)
