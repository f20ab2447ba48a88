"""One audience's synthetic profiles, in memory or written to a profile file."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from zhida.profiles.readers import write_profiles
from zhida.profiles.schema import Audience, SchemaSet
from zhida.profiles.synth.citizens import synthesize_citizens
from zhida.profiles.synth.enterprises import synthesize_enterprises


def synthesize(
    n: int, kind: Audience | str, seed: int = 0, schemas: SchemaSet | None = None
) -> pl.DataFrame:
    """`n` synthetic profiles of one audience."""
    if Audience(kind) is Audience.ENTERPRISE:
        return synthesize_enterprises(n, seed, schemas)
    return synthesize_citizens(n, seed, schemas)


def synth_to_file(
    n: int,
    path: str | Path,
    kind: Audience | str = Audience.ENTERPRISE,
    seed: int = 0,
    schemas: SchemaSet | None = None,
) -> int:
    """Write `n` synthetic profiles (with a `kind` column) to CSV, JSON Lines or Parquet."""
    audience = Audience(kind)
    return write_profiles(synthesize(n, audience, seed, schemas), path, kind=audience)
