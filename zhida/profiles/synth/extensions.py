"""Pack schema fields beyond the built-ins: known ones by formula, others generic."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import polars as pl

from zhida.profiles.readers import polars_dtype
from zhida.profiles.schema import Field, FieldType, ProfileSchema
from zhida.profiles.synth.columns import AS_OF_DAY, Rng, dates, missing, null_where, pick

Maker = Callable[[], "pl.Series | npt.NDArray[np.generic]"]


def fill_extensions(
    cols: dict[str, pl.Series],
    schema: ProfileSchema,
    known: dict[str, tuple[FieldType, Maker]],
    rng: Rng,
    n: int,
) -> None:
    """Values for schema fields not generated yet: known names by formula, others generic."""
    for f in schema.fields.values():
        if f.name in cols:
            continue
        spec = known.get(f.name)
        if spec is not None and spec[0] is f.type:
            made = spec[1]()
            s = made if isinstance(made, pl.Series) else pl.Series(f.name, made)
            s = s.cast(polars_dtype(f.type)).alias(f.name)
        else:
            s = _generic(f, rng, n)
        cols[f.name] = null_where(s, missing(rng, n, 0.03))


def _generic(f: Field, rng: Rng, n: int) -> pl.Series:
    t = f.type
    if t is FieldType.INT:
        return pl.Series(f.name, rng.poisson(5.0, n).astype(np.int64))
    if t is FieldType.NUMBER:
        return pl.Series(f.name, np.round(rng.lognormal(10.0, 1.5, n), 2))
    if t is FieldType.BOOL:
        return pl.Series(f.name, rng.random(n) < 0.5)
    if t is FieldType.DATE:
        return dates(AS_OF_DAY - rng.integers(0, 3650, n), f.name)
    pool = [f"{f.label}{k}" for k in range(1, 11)]
    a = pick(pool, rng.integers(0, 10, n), "a")
    if t is FieldType.STRING:
        return a.alias(f.name)
    b = pick(pool, rng.integers(0, 10, n), "b")
    one = rng.random(n) < 0.5
    return (
        pl.DataFrame({"a": a, "b": b, "one": one})
        .select(
            pl.when(pl.col("one"))
            .then(pl.concat_list("a"))
            .otherwise(pl.concat_list("a", "b"))
            .alias(f.name)
        )
        .to_series()
    )


def frame(cols: dict[str, pl.Series], schema: ProfileSchema) -> pl.DataFrame:
    return pl.DataFrame(
        [cols[f.name].cast(polars_dtype(f.type)).alias(f.name) for f in schema.fields.values()]
    )
