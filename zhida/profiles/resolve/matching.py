"""Entity resolution for imported profiles: which stored profile is this row?

Pure logic over polars frames; the store is reached only through `StoreView`, so
the importer can answer its questions with SQL and tests with a frame.

The rule, in order, for each incoming row of one audience (first match wins):

1. ``id`` — the row's id is a stored profile of the same audience: update it. A
   stored profile of the *other* audience with that id is a conflict (row skipped).
2. ``alias`` — the id was linked to another profile by an earlier import or an
   accepted review (audit log action ``profile.link``): update that profile.
3. ``uscc`` / ``id_hash`` — a stored profile has the same 统一社会信用代码
   (enterprises) or the same ``id_hash`` (citizens): same entity, merge into it.
4. the same key on an earlier row of the same file: follow that row (merge into
   whatever it became, or go to review with it).
5. enterprises only, by name (citizens are never matched fuzzily: no key match
   means a new profile). Names are normalised (`normalize_name`) and compared
   with rapidfuzz's ``ratio`` over the core name (the name without the legal-form
   suffix), 0-100. A stored profile is a candidate when the score is at least
   ``REVIEW_SCORE`` (80) and the two usccs do not contradict each other (both
   present and different means two registered entities, never a match).
   A candidate *agrees* when the region codes are equal or the phones are equal.

   - exactly one candidate with score >= ``MERGE_SCORE`` (95) that agrees: merge
     into it (rule ``name``);
   - two or more such candidates: review (ambiguous);
   - otherwise any candidate (80 <= score < 95, or >= 95 without region or phone
     agreement): review, with the best candidate (agreeing first, then score);
   - no candidate: a new profile.

Candidates are found by blocking, never by comparing every pair: stored and
incoming names meet only when they share the first two characters of the core
name (any region; a block larger than ``MAX_BLOCK`` is split by the third
character), or the region and the first character, or the phone number. Rows of
one file are not fuzzily matched against each other (a file is taken to hold each
entity once); exact key duplicates within a file are merged by rule 4.
"""

from __future__ import annotations

import polars as pl

from zhida.profiles.resolve.by_name import by_name
from zhida.profiles.resolve.decisions import RESOLUTION_SCHEMA, Action, decided, empty
from zhida.profiles.resolve.store import CANDIDATE_COLUMNS, StoreView, key_field
from zhida.profiles.schema import Audience


def resolve(incoming: pl.DataFrame, kind: Audience | str, store: StoreView) -> pl.DataFrame:
    """Decide, for every row of `incoming` (one audience, typed as read), what to do.

    Returns one row per incoming row, ordered by position, with the columns of
    `RESOLUTION_SCHEMA`. See the module docstring for the rule.
    """
    aud = Audience(kind)
    kf = key_field(aud)
    n = incoming.height
    if n == 0:
        return empty()

    def col(name: str) -> pl.Expr:
        if name in incoming.columns:
            return pl.col(name).cast(pl.String)
        return pl.lit(None, dtype=pl.String)

    inc = incoming.select(
        pl.int_range(n, dtype=pl.Int64).alias("row"),
        pl.col("id").cast(pl.String),
        col(kf).alias("key"),
    )
    parts: list[pl.DataFrame] = []

    # 1. the row's own id
    hit = inc.join(store.existing(inc["id"]), on="id", how="inner")
    parts.append(
        decided(
            hit.filter(pl.col("kind") == aud.value),
            action=Action.UPDATE.value,
            target=pl.col("id"),
            rule="id",
        )
    )
    other = hit.filter(pl.col("kind") != aud.value)
    why = pl.format(
        "编号 {} 在库中是{}档案，不能作为{}档案导入",
        pl.col("id"),
        pl.col("kind").replace(_KIND_ZH),
        pl.lit(_KIND_ZH[aud.value]),
    )
    parts.append(decided(other, action=Action.CONFLICT.value, reason=why))
    pending = inc.join(hit.select("row"), on="row", how="anti")

    # 2. an alias from an earlier link
    if pending.height:
        al = pending.join(store.aliases(pending["id"]), on="id", how="inner")
        parts.append(decided(al, action=Action.UPDATE.value, target=pl.col("target"), rule="alias"))
        pending = pending.join(al.select("row"), on="row", how="anti")

    # 3. the key (uscc / id_hash) of a stored profile
    keyed = pending.filter(pl.col("key").is_not_null())
    if keyed.height:
        owners = store.key_owners(aud, keyed["key"].unique())
        kh = keyed.join(owners.rename({"id": "owner"}), on="key", how="inner")
        parts.append(
            decided(kh, action=Action.MERGE.value, target=pl.col("owner"), rule=kf, score=100.0)
        )
        pending = pending.join(kh.select("row"), on="row", how="anti")

    # 4. the same key earlier in this file
    so_far = pl.concat(parts)
    written = so_far.filter(pl.col("action").is_in([Action.UPDATE.value, Action.MERGE.value]))
    key_target = (
        written.select("row", "target")
        .join(inc.select("row", "key"), on="row")
        .filter(pl.col("key").is_not_null())
        .sort("row")
        .group_by("key", maintain_order=True)
        .agg(pl.col("target").first())
    )
    same_key = pending.filter(pl.col("key").is_not_null()).join(key_target, on="key", how="inner")
    parts.append(
        decided(
            same_key,
            action=Action.MERGE.value,
            target=pl.col("target"),
            rule=f"{kf}-in-file",
            score=100.0,
        )
    )
    pending = pending.join(same_key.select("row"), on="row", how="anti")
    heads_of = (
        pending.filter(pl.col("key").is_not_null())
        .sort("row")
        .with_columns(pl.col("row").first().over("key").alias("head"))
    )
    followers = heads_of.filter(pl.col("row") != pl.col("head")).select("row", "head")
    pending = pending.join(followers.select("row"), on="row", how="anti")

    # 5. names (enterprises), or a new profile
    if aud is Audience.ENTERPRISE and pending.height:
        rows = incoming.select(
            pl.int_range(n, dtype=pl.Int64).alias("row"),
            *(col(c).alias(c) for c in CANDIDATE_COLUMNS),
        ).join(pending.select("row"), on="row", how="semi")
        heads = by_name(rows, store.candidates(aud))
    else:
        heads = decided(pending, action=Action.NEW.value, target=pl.col("id"))
    parts.append(heads)

    if followers.height:
        parts.append(_follow(followers, heads, inc, kf))
    out = pl.concat(parts).sort("row")
    assert out.height == n, "every incoming row gets exactly one decision"
    return out


_KIND_ZH = {"enterprise": "企业", "citizen": "个人"}


def _follow(
    followers: pl.DataFrame, heads: pl.DataFrame, inc: pl.DataFrame, kf: str
) -> pl.DataFrame:
    """Rows whose key appeared on an earlier pending row take that row's outcome."""
    label = "统一社会信用代码" if kf == "uscc" else "身份标识"
    h = (
        heads.join(inc.select(pl.col("row"), pl.col("id").alias("head_id")), on="row")
        .rename({c: f"h_{c}" for c in RESOLUTION_SCHEMA if c != "row"})
        .rename({"row": "head"})
    )
    f = followers.join(h, on="head", how="left")
    review = pl.col("h_action") == Action.REVIEW.value
    return decided(
        f,
        action=pl.when(review)
        .then(pl.lit(Action.REVIEW.value))
        .otherwise(pl.lit(Action.MERGE.value)),
        target=pl.when(review).then(None).otherwise(pl.col("h_target")),
        rule=pl.when(review).then(pl.col("h_rule")).otherwise(pl.lit(f"{kf}-in-file")),
        score=pl.when(review).then(pl.col("h_score")).otherwise(pl.lit(100.0)),
        candidate=pl.col("h_candidate"),
        reason=pl.when(review)
        .then(
            pl.format(
                "与本文件中编号 {} 的行{}相同；{}",
                pl.col("head_id"),
                pl.lit(label),
                pl.col("h_reason"),
            )
        )
        .otherwise(None),
    )
