"""What the resolver asks of the stored profiles (`StoreView`), and an in-memory answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import polars as pl

from zhida.profiles.schema import Audience


class StoreView(Protocol):
    """What the resolver asks of the stored profiles (all answers are frames of strings)."""

    def existing(self, ids: pl.Series) -> pl.DataFrame:
        """Columns id, kind: the stored profiles whose id is among `ids`."""
        ...

    def aliases(self, ids: pl.Series) -> pl.DataFrame:
        """Columns id, target: ids among `ids` linked earlier to another stored profile."""
        ...

    def key_owners(self, kind: Audience, keys: pl.Series) -> pl.DataFrame:
        """Columns key, id: stored profiles of `kind` whose uscc/id_hash is among `keys`."""
        ...

    def candidates(self, kind: Audience) -> pl.DataFrame:
        """Columns id, uscc, name, region, phone: stored profiles to match names against."""
        ...


def key_field(kind: Audience | str) -> str:
    """The field that identifies an entity exactly: uscc (enterprise) or id_hash (citizen)."""
    return "uscc" if Audience(kind) is Audience.ENTERPRISE else "id_hash"


CANDIDATE_COLUMNS = ("id", "uscc", "name", "region", "phone")


@dataclass
class FrameStore:
    """A StoreView over an in-memory frame with columns id, kind and the profile fields."""

    profiles: pl.DataFrame
    links: dict[str, str] = field(default_factory=dict)  # alias id -> profile id

    def _col(self, frame: pl.DataFrame, name: str) -> pl.Expr:
        return pl.col(name) if name in frame.columns else pl.lit(None, dtype=pl.String)

    def existing(self, ids: pl.Series) -> pl.DataFrame:
        return self.profiles.filter(pl.col("id").is_in(ids.implode())).select("id", "kind")

    def aliases(self, ids: pl.Series) -> pl.DataFrame:
        known = set(self.profiles["id"].to_list())
        wanted = set(ids.to_list())
        rows = [(a, t) for a, t in self.links.items() if a in wanted and t in known]
        return pl.DataFrame(rows, schema={"id": pl.String, "target": pl.String}, orient="row")

    def key_owners(self, kind: Audience, keys: pl.Series) -> pl.DataFrame:
        kf = key_field(kind)
        p = self.profiles
        return (
            p.filter(pl.col("kind") == Audience(kind).value)
            .select(self._col(p, kf).cast(pl.String).alias("key"), pl.col("id"))
            .filter(pl.col("key").is_in(keys.implode()))
            .group_by("key")
            .agg(pl.col("id").min())
        )

    def candidates(self, kind: Audience) -> pl.DataFrame:
        p = self.profiles.filter(pl.col("kind") == Audience(kind).value)
        return p.select(self._col(p, c).cast(pl.String).alias(c) for c in CANDIDATE_COLUMNS)
