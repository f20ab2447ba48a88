"""Parquet profile files: typed columns, converted by `convert` like any other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from zhida.errors import ProfileDataError
from zhida.profiles.readers.raw import Raw, header_names


def read_parquet(path: Path, fname: str) -> Raw:
    if not path.exists():
        raise ProfileDataError(f"{fname}: no such file")
    if path.is_dir():
        raise ProfileDataError(f"{fname}: is a directory, not a profile file")
    try:
        df = pl.read_parquet(path)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ProfileDataError(f"{fname}: not a readable Parquet file ({first[:120]})") from None
    names = header_names(list(df.columns), fname)
    if names != df.columns:
        df = df.rename(dict(zip(df.columns, names, strict=True)))
    return Raw(df, np.arange(1, df.height + 1, dtype=np.int64))
