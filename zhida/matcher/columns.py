"""Profile columns as numpy arrays, the form the vectorised evaluator reads.

- int, number: float64, NaN = missing
- date: float64 days since 1970-01-01, NaN = missing
- bool: int8 three-valued code (0 false, 1 unknown, 2 true)
- string, list: `Coded`: intp codes into the column's distinct values, -1 = missing

(the encoding of `zhida.rules.vectors`).

Conversions happen once per frame and are cached; chunks are slices (views).
Functions of a string column are computed once per distinct value and cached
for the whole frame, then gathered by code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from zhida.profiles.schema import FieldType, ProfileSchema
from zhida.rules.vectors import Coded


def encode_strings(series: pl.Series) -> tuple[np.ndarray, list[Any]]:
    arr = series.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string())
    enc = arr.dictionary_encode()
    # intp, so that gathering by code (np.take) does not convert them each time
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.intp)
    return codes, enc.dictionary.to_pylist()


def encode_lists(series: pl.Series) -> tuple[np.ndarray, list[Any]]:
    index: dict[tuple[str, ...], int] = {}
    codes = np.empty(len(series), dtype=np.intp)
    for i, value in enumerate(series.to_list()):
        if value is None:
            codes[i] = -1
            continue
        key = tuple(value)
        codes[i] = index.setdefault(key, len(index))
    return codes, list(index)


class Columns:
    """All columns of one audience's profiles, converted lazily and cached."""

    def __init__(self, df: pl.DataFrame, schema: ProfileSchema):
        self.df = df
        self.schema = schema
        self.n = df.height
        self._arrays: dict[str, Any] = {}
        self._per_unique: dict[tuple[Any, ...], np.ndarray] = {}
        self._lock = threading.Lock()

    def prepare(self, names: Iterable[str]) -> None:
        """Convert the number and date columns among `names` in one polars pass (nulls
        filled with NaN, so each comes out without a copy); the others stay lazy."""
        numeric = (FieldType.INT, FieldType.NUMBER, FieldType.DATE)
        with self._lock:
            todo = [
                n
                for n in dict.fromkeys(names)
                if n not in self._arrays
                and n in self.df.columns
                and n in self.schema.fields
                and self.schema.fields[n].type in numeric
            ]
            if not todo:
                return
            exprs = [
                (
                    pl.col(n).cast(pl.Date).to_physical()
                    if self.schema.fields[n].type is FieldType.DATE
                    else pl.col(n)
                )
                .cast(pl.Float64)
                .fill_null(np.nan)
                for n in todo
            ]
            for name, series in zip(todo, self.df.select(exprs).get_columns(), strict=True):
                self._arrays[name] = series.to_numpy()

    def column(self, name: str) -> Any:
        with self._lock:
            if name not in self._arrays:
                self._arrays[name] = self._convert(name)
            return self._arrays[name]

    def _convert(self, name: str) -> Any:
        field = self.schema.fields[name]
        if name not in self.df.columns:
            return self._missing(field.type)
        s = self.df.get_column(name)
        if field.type in (FieldType.INT, FieldType.NUMBER):
            return s.cast(pl.Float64).to_numpy().astype(np.float64, copy=False)
        if field.type is FieldType.DATE:
            return s.cast(pl.Date).to_physical().cast(pl.Float64).to_numpy()
        if field.type is FieldType.BOOL:
            return (s.cast(pl.Int8) * 2).fill_null(1).cast(pl.Int8).to_numpy()
        if field.type is FieldType.STRING:
            codes, uniques = encode_strings(s.cast(pl.String))
            return Coded(codes, uniques, name)
        codes, uniques = encode_lists(s)
        return Coded(codes, uniques, name)

    def _missing(self, ftype: FieldType) -> Any:
        if ftype is FieldType.BOOL:
            return np.ones(self.n, dtype=np.int8)
        if ftype in (FieldType.STRING, FieldType.LIST):
            return Coded(np.full(self.n, -1, dtype=np.intp), [], "<missing>")
        return np.full(self.n, np.nan)

    def per_unique(self, key: tuple[Any, ...], compute: Callable[[], np.ndarray]) -> np.ndarray:
        """A result per distinct value, computed once per frame."""
        with self._lock:
            cached = self._per_unique.get(key)
        if cached is None:
            cached = compute()
            with self._lock:
                self._per_unique[key] = cached
        return cached


class Chunk:
    """Rows [start, stop) of a Columns: slices, no copies."""

    def __init__(self, columns: Columns, start: int, stop: int):
        self.columns, self.start, self.stop = columns, start, stop
        self.n = stop - start

    def get(self, name: str) -> Any:
        col = self.columns.column(name)
        if isinstance(col, Coded):
            return col.slice(self.start, self.stop)
        return col[self.start : self.stop]
