"""What the resolver decides for a row: the `Action`, and one frame layout for every decision."""

from __future__ import annotations

from enum import Enum
from typing import Final

import polars as pl


class Action(str, Enum):  # noqa: UP042
    UPDATE = "update"  # the row's own id, or an alias of it: update that profile
    MERGE = "merge"  # same entity as another profile: the row's fields update it
    NEW = "new"  # a new profile with the row's id
    REVIEW = "review"  # ambiguous: held for a person, nothing written
    CONFLICT = "conflict"  # the id belongs to a profile of the other audience: skipped


# one row per incoming row, ordered by `row` (0-based position in the incoming frame)
RESOLUTION_SCHEMA: Final[dict[str, pl.DataType]] = {
    "row": pl.Int64(),
    "action": pl.String(),
    "target": pl.String(),  # the profile written (update/merge/new)
    "rule": pl.String(),  # id | alias | uscc | id_hash | uscc-in-file | id_hash-in-file | name
    "score": pl.Float64(),  # name similarity (0-100) when names were compared
    "candidate": pl.String(),  # review: the best existing profile
    "reason": pl.String(),  # review / conflict / merge: why, in Chinese
}


def decided(frame: pl.DataFrame, **values: pl.Expr | str | float | None) -> pl.DataFrame:
    """Rows of `frame` (which has `row`) as resolution rows with the given column values."""
    exprs: list[pl.Expr] = [pl.col("row")]
    for name, dtype in RESOLUTION_SCHEMA.items():
        if name == "row":
            continue
        v = values.get(name)
        e = v if isinstance(v, pl.Expr) else pl.lit(v)
        exprs.append(e.cast(dtype).alias(name))
    return frame.select(exprs)


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=RESOLUTION_SCHEMA)
