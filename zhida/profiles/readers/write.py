"""Write profiles to CSV, JSON Lines or Parquet, with a `kind` column first."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from zhida.csvsafe import escape_frame
from zhida.errors import ProfileDataError
from zhida.profiles.readers.batch import (
    ALL_EXTENSIONS,
    CSV_EXTENSIONS,
    JSONL_EXTENSIONS,
    LIST_SEPARATOR,
    PARQUET_EXTENSIONS,
    ProfileBatch,
    audience_arg,
)
from zhida.profiles.schema import Audience


def write_profiles(
    data: pl.DataFrame
    | Mapping[Audience, pl.DataFrame]
    | Mapping[str, pl.DataFrame]
    | ProfileBatch,
    path: str | Path,
    kind: Audience | str | None = None,
) -> int:
    """Write profiles to CSV, JSON Lines or Parquet (by extension), with a `kind` column first.

    `data` is a frame (with a `kind` column, or `kind` given), a mapping of
    audience -> frame, or a ProfileBatch. Lists are `;`-joined in CSV, and text cells
    a spreadsheet would run as a formula are escaped (zhida/csvsafe.py). Returns the
    number of rows written.
    """
    p = Path(path)
    forced = audience_arg(kind)
    parts: list[pl.DataFrame] = []
    if isinstance(data, ProfileBatch):
        data = data.frames
    if isinstance(data, pl.DataFrame):
        if forced is not None:
            parts.append(_with_kind(data, forced))
        elif "kind" in data.columns:
            parts.append(data.select("kind", pl.exclude("kind")))
        else:
            raise ValueError("write_profiles: the frame has no 'kind' column; pass kind=")
    else:
        for a, frame in data.items():
            parts.append(_with_kind(frame, audience_arg(a) or Audience.ENTERPRISE))
    non_empty = [f for f in parts if f.height] or parts[:1]
    if not non_empty:
        raise ValueError("write_profiles: nothing to write")
    out = non_empty[0] if len(non_empty) == 1 else pl.concat(non_empty, how="diagonal_relaxed")
    ext = p.suffix.lower()
    if ext in CSV_EXTENSIONS:
        lists = [c for c, t in out.schema.items() if isinstance(t, pl.List)]
        if lists:
            out = out.with_columns(pl.col(c).list.join(LIST_SEPARATOR) for c in lists)
        escape_frame(out).write_csv(p)
    elif ext in JSONL_EXTENSIONS:
        out.write_ndjson(p)
    elif ext in PARQUET_EXTENSIONS:
        out.write_parquet(p)
    else:
        raise ProfileDataError(
            f"{p}: unsupported profile file type ('{ext}'); use {ALL_EXTENSIONS}"
        )
    return out.height


def _with_kind(frame: pl.DataFrame, a: Audience) -> pl.DataFrame:
    body = frame.drop("kind") if "kind" in frame.columns else frame
    return body.select(pl.lit(a.value, dtype=pl.String).alias("kind"), pl.all())
