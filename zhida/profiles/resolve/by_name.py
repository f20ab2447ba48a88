"""Rule 5, enterprises by name: blocking, rapidfuzz scores, and merge, review or new.

Candidates are found by blocking, never by comparing every pair: stored and
incoming names meet only when they share the first two characters of the core
name (any region; a block larger than `MAX_BLOCK` is split by the third
character), or the region and the first character, or the phone number.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
from rapidfuzz import fuzz, process

from zhida.profiles.resolve.decisions import Action, decided
from zhida.profiles.resolve.names import core_names, normalize_names

MERGE_SCORE: Final = 95.0
REVIEW_SCORE: Final = 80.0
MAX_BLOCK: Final = 2000

IntArray = npt.NDArray[np.int64]


def _block_pairs(
    q_keys: pl.Series, c_keys: pl.Series, q_core: pl.Series, c_core: pl.Series
) -> tuple[IntArray, IntArray, npt.NDArray[np.float64]]:
    """Score every (query, candidate) pair that shares a block key; keep scores >= REVIEW_SCORE."""
    qg = (
        pl.DataFrame({"k": q_keys, "i": pl.int_range(q_keys.len(), eager=True), "s": q_core})
        .drop_nulls("k")
        .group_by("k")
        .agg("i", "s")
    )
    cg = (
        pl.DataFrame({"k": c_keys, "j": pl.int_range(c_keys.len(), eager=True), "t": c_core})
        .drop_nulls("k")
        .join(qg.select("k"), on="k", how="semi")
        .group_by("k")
        .agg("j", "t")
    )
    joined = qg.join(cg, on="k", how="inner")
    qi: list[IntArray] = []
    ci: list[IntArray] = []
    sc: list[npt.NDArray[np.float64]] = []
    for q_idx, q_str, c_idx, c_str in zip(
        joined["i"].to_list(),
        joined["s"].to_list(),
        joined["j"].to_list(),
        joined["t"].to_list(),
        strict=True,
    ):
        m = process.cdist(
            q_str, c_str, scorer=fuzz.ratio, score_cutoff=REVIEW_SCORE, dtype=np.float32
        )
        r, c = np.nonzero(m >= REVIEW_SCORE)
        if r.size:
            qi.append(np.asarray(q_idx, dtype=np.int64)[r])
            ci.append(np.asarray(c_idx, dtype=np.int64)[c])
            sc.append(m[r, c].astype(np.float64))
    if not qi:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    return np.concatenate(qi), np.concatenate(ci), np.concatenate(sc)


def _prefix_keys(q_core: pl.Series, c_core: pl.Series) -> tuple[pl.Series, pl.Series]:
    """First two characters of the core name; three where a two-character block is too big."""
    c2 = c_core.str.slice(0, 2)
    counts = c2.value_counts()
    big = counts.filter(pl.col("count") > MAX_BLOCK).get_column(c2.name)

    def key(core: pl.Series) -> pl.Series:
        k2 = core.str.slice(0, 2)
        return (
            pl.DataFrame({"c": core, "k": k2})
            .select(
                pl.when(pl.col("k").is_in(big.implode()))
                .then(pl.col("c").str.slice(0, 3))
                .otherwise(pl.col("k"))
            )
            .to_series()
        )

    return key(q_core), key(c_core)


def by_name(rows: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    """Decisions for pending enterprise rows (row, id, uscc, name, region, phone)."""
    everything_new = decided(rows, action=Action.NEW.value, target=pl.col("id"))
    if candidates.height == 0 or rows.get_column("name").is_null().all():
        return everything_new
    q = rows.with_columns(core=core_names(normalize_names(rows["name"].fill_null(""))))
    usable = q.filter(pl.col("core").str.len_chars() > 0)
    if usable.height == 0:
        return everything_new
    c = candidates.with_columns(core=core_names(normalize_names(candidates["name"].fill_null(""))))
    c = c.filter(pl.col("core").str.len_chars() > 0)
    if c.height == 0:
        return everything_new
    q_core, c_core = usable["core"], c["core"]

    pairs_i: list[IntArray] = []
    pairs_j: list[IntArray] = []
    scores: list[npt.NDArray[np.float64]] = []
    qk, ck = _prefix_keys(q_core, c_core)
    for q_keys, c_keys in (
        (qk, ck),
        (
            usable["region"] + "|" + q_core.str.slice(0, 1),
            c["region"] + "|" + c_core.str.slice(0, 1),
        ),
    ):
        i, j, s = _block_pairs(q_keys, c_keys, q_core, c_core)
        pairs_i.append(i)
        pairs_j.append(j)
        scores.append(s)
    # same phone: score those pairs directly
    ph = (
        pl.DataFrame({"p": usable["phone"], "i": pl.int_range(usable.height, eager=True)})
        .drop_nulls("p")
        .join(
            pl.DataFrame({"p": c["phone"], "j": pl.int_range(c.height, eager=True)}).drop_nulls(
                "p"
            ),
            on="p",
        )
    )
    if ph.height:
        i = ph["i"].to_numpy().astype(np.int64)
        j = ph["j"].to_numpy().astype(np.int64)
        s = np.asarray(
            process.cpdist(
                q_core.gather(i).to_list(),
                c_core.gather(j).to_list(),
                scorer=fuzz.ratio,
                dtype=np.float32,
            ),
            dtype=np.float64,
        )
        keep = s >= REVIEW_SCORE
        pairs_i.append(i[keep])
        pairs_j.append(j[keep])
        scores.append(s[keep])

    pairs = pl.DataFrame(
        {
            "i": np.concatenate(pairs_i),
            "j": np.concatenate(pairs_j),
            "score": np.round(np.concatenate(scores), 1),
        }
    ).unique(["i", "j"])
    qa = usable.select(pl.int_range(usable.height).alias("i"), "row", "uscc", "region", "phone")
    ca = c.select(
        pl.int_range(c.height).alias("j"),
        pl.col("id").alias("cid"),
        pl.col("uscc").alias("c_uscc"),
        pl.col("region").alias("c_region"),
        pl.col("phone").alias("c_phone"),
    )
    p = (
        pairs.join(qa, on="i")
        .join(ca, on="j")
        .filter(
            ~(
                pl.col("uscc").is_not_null()
                & pl.col("c_uscc").is_not_null()
                & (pl.col("uscc") != pl.col("c_uscc"))
            )
        )
        .with_columns(
            same_region=(pl.col("region") == pl.col("c_region")).fill_null(False),
            same_phone=(pl.col("phone") == pl.col("c_phone")).fill_null(False),
        )
        .with_columns(agree=pl.col("same_region") | pl.col("same_phone"))
        .with_columns(strong=(pl.col("score") >= MERGE_SCORE) & pl.col("agree"))
        .sort(
            ["row", "strong", "agree", "score", "cid"], descending=[False, True, True, True, False]
        )
    )
    best = p.group_by("row", maintain_order=True).agg(
        pl.col("strong").sum().alias("n_strong"),
        pl.col("cid").first(),
        pl.col("score").first(),
        pl.col("region").first(),
        pl.col("c_region").first(),
        pl.col("phone").first().is_not_null().alias("has_phone"),
        pl.col("c_phone").first().is_not_null().alias("c_has_phone"),
        pl.col("same_region").first(),
        pl.col("same_phone").first(),
        pl.col("cid").filter(pl.col("strong")).head(5).alias("strong_ids"),
    )
    merge = best.filter(pl.col("n_strong") == 1)
    review = best.filter(pl.col("n_strong") != 1)
    reasons = [_reason(r) for r in review.iter_rows(named=True)]
    review = review.with_columns(reason=pl.Series(reasons, dtype=pl.String))
    ids = rows.select("row", "id")
    out = [
        decided(
            merge,
            action=Action.MERGE.value,
            target=pl.col("cid"),
            rule="name",
            score=pl.col("score"),
            candidate=pl.col("cid"),
            reason=pl.format(
                "名称相似度 {}，{}",
                pl.col("score").round(1),
                pl.when(pl.col("same_region"))
                .then(pl.lit("地区相同"))
                .otherwise(pl.lit("电话相同")),
            ),
        ),
        decided(
            review,
            action=Action.REVIEW.value,
            rule="name",
            score=pl.col("score"),
            candidate=pl.col("cid"),
            reason=pl.col("reason"),
        ),
    ]
    rest = ids.join(best.select("row"), on="row", how="anti")
    out.append(decided(rest, action=Action.NEW.value, target=pl.col("id")))
    return pl.concat(out)


def _relation(same: bool, a_known: bool, b_known: bool, what: str) -> str:
    if same:
        return f"{what}相同"
    if not (a_known and b_known):
        return f"{what}缺失"
    return f"{what}不同"


def _reason(r: dict[str, object]) -> str:
    score = float(r["score"])  # type: ignore[arg-type]
    n_strong = int(r["n_strong"])  # type: ignore[call-overload]
    if n_strong >= 2:
        ids = r["strong_ids"]
        shown = "、".join(str(x) for x in ids) if isinstance(ids, Iterable) else ""
        return (
            f"有 {n_strong} 个现有档案名称相似度≥{MERGE_SCORE:.0f}且地区或电话一致"
            f"（{shown}），无法自动判断"
        )
    where = _relation(
        bool(r["same_region"]), r["region"] is not None, r["c_region"] is not None, "地区"
    )
    phone = _relation(bool(r["same_phone"]), bool(r["has_phone"]), bool(r["c_has_phone"]), "电话")
    if score >= MERGE_SCORE:
        return f"名称相似度 {score:.1f}，但{where}、{phone}，不能确认是同一主体"
    return f"名称相似度 {score:.1f}（低于自动合并阈值 {MERGE_SCORE:.0f}），{where}、{phone}"
