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

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl
from rapidfuzz import fuzz, process

from zhida.profiles.schema import Audience

__all__ = [
    "MAX_BLOCK",
    "MERGE_SCORE",
    "RESOLUTION_SCHEMA",
    "REVIEW_SCORE",
    "Action",
    "FrameStore",
    "StoreView",
    "core_name",
    "core_names",
    "key_field",
    "name_score",
    "normalize_name",
    "normalize_names",
    "resolve",
]

MERGE_SCORE: Final = 95.0
REVIEW_SCORE: Final = 80.0
MAX_BLOCK: Final = 2000
CANONICAL_SUFFIX: Final = "有限公司"


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

# =========================================================================== names

_PROVINCES = (
    "北京市 北京 天津市 天津 上海市 上海 重庆市 重庆 河北省 河北 山西省 山西 辽宁省 辽宁 "
    "吉林省 吉林 黑龙江省 黑龙江 江苏省 江苏 浙江省 浙江 安徽省 安徽 福建省 福建 江西省 江西 "
    "山东省 山东 河南省 河南 湖北省 湖北 湖南省 湖南 广东省 广东 海南省 海南 四川省 四川 "
    "贵州省 贵州 云南省 云南 陕西省 陕西 甘肃省 甘肃 青海省 青海 台湾省 台湾 "
    "内蒙古自治区 内蒙古 广西壮族自治区 广西 西藏自治区 西藏 宁夏回族自治区 宁夏 "
    "新疆维吾尔自治区 新疆 香港特别行政区 香港 澳门特别行政区 澳门"
)
# Zhejiang's cities and county-level cities (short and full), other large cities (both)
_CITY_SHORT = (
    "杭州 宁波 温州 嘉兴 湖州 绍兴 金华 衢州 舟山 台州 丽水 "
    "建德 余姚 慈溪 瑞安 乐清 龙港 海宁 平湖 桐乡 诸暨 嵊州 兰溪 义乌 东阳 永康 江山 温岭 "
    "临海 玉环 龙泉 "
    "石家庄 太原 沈阳 大连 长春 哈尔滨 南京 苏州 无锡 常州 南通 合肥 福州 厦门 泉州 南昌 "
    "济南 青岛 郑州 武汉 长沙 广州 深圳 东莞 佛山 南宁 海口 成都 贵阳 昆明 西安 兰州 "
    "西宁 银川 乌鲁木齐 拉萨 呼和浩特"
)
# Zhejiang's districts and counties: full names only (short ones are often brand words)
_COUNTIES = (
    "上城区 拱墅区 西湖区 滨江区 萧山区 余杭区 富阳区 临安区 临平区 钱塘区 桐庐县 淳安县 "
    "海曙区 江北区 北仑区 镇海区 鄞州区 奉化区 象山县 宁海县 "
    "鹿城区 龙湾区 瓯海区 洞头区 永嘉县 平阳县 苍南县 文成县 泰顺县 "
    "南湖区 秀洲区 嘉善县 海盐县 吴兴区 南浔区 德清县 长兴县 安吉县 "
    "越城区 柯桥区 上虞区 新昌县 婺城区 金东区 武义县 浦江县 磐安县 "
    "柯城区 衢江区 常山县 开化县 龙游县 定海区 普陀区 岱山县 嵊泗县 "
    "椒江区 黄岩区 路桥区 三门县 天台县 仙居县 "
    "莲都区 青田县 缙云县 遂昌县 松阳县 云和县 庆元县 景宁畲族自治县"
)


def _place_names() -> tuple[str, ...]:
    names = set(_PROVINCES.split()) | set(_COUNTIES.split())
    for short in _CITY_SHORT.split():
        names.update((short, short + "市"))
    return tuple(sorted(names, key=lambda s: (-len(s), s)))  # longest first


PLACE_NAMES: Final = _place_names()
_PLACES = "|".join(re.escape(p) for p in PLACE_NAMES)

# already normal: lower-case ASCII letters, digits and CJK unified ideographs only
_SIMPLE = r"^[a-z0-9\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}]*$"
_OPEN = r"[\[{<【〔〖〘〚「『《〈]"
_CLOSE = r"[\]}>】〕〗〙〛」』》〉]"
_PLACE_GROUP = rf"\((?:{_PLACES}|中国)+\)"  # 某某(杭州)科技, 某某(中国)有限公司
_PUNCT = r"[\s\p{P}\p{S}\p{Z}\p{C}]"
_SUFFIX = r"(?:股份)*有限(?:责任)?公司$"  # 有限公司 / 有限责任公司 / 股份有限公司 -> 有限公司
_LEAD = rf"^(?:{_PLACES})+"
_CANON_END = CANONICAL_SUFFIX + "$"


def _clean(s: pl.Series) -> pl.Series:
    """NFKC (full-width -> half-width, （） -> ()), lower case, no place-only brackets,
    no spaces, punctuation or symbols."""
    return (
        s.str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_all(_OPEN, "(")
        .str.replace_all(_CLOSE, ")")
        .str.replace_all(r"\s+", "")
        .str.replace_all(_PLACE_GROUP, "")
        .str.replace_all(_PUNCT, "")
    )


def _one_pass(s: pl.Series) -> tuple[pl.Series, pl.Series]:
    """One round of normalisation, and which values needed the full clean-up."""
    messy = ~s.str.contains(_SIMPLE).fill_null(True)
    if messy.any():
        idx = messy.arg_true()
        s = s.clone().scatter(idx, _clean(s.gather(idx)))
    frame = pl.DataFrame({"s": s})
    canon = pl.col("s").str.replace(_SUFFIX, CANONICAL_SUFFIX)
    stripped = canon.str.replace(_LEAD, "")
    keeps_core = stripped.str.replace(_CANON_END, "").str.len_chars() >= 2
    out = frame.select(pl.when(keeps_core).then(stripped).otherwise(canon).alias(s.name))
    return out.to_series(), messy


def normalize_names(names: pl.Series) -> pl.Series:
    """Vectorised `normalize_name` (nulls stay null)."""
    s = names.cast(pl.String)
    out, messy = _one_pass(s)
    # A name of lower-case letters, digits and ideographs is final after one round (the
    # suffix and place rules cannot create new matches for themselves). A name that needed
    # NFKC or lost punctuation may need more rounds (e.g. a place name freed by a bracket).
    again = messy & ~out.eq_missing(s)
    for _ in range(8):
        if not again.any():
            break
        idx = again.arg_true()
        before = out.gather(idx)
        after, _messy = _one_pass(before)
        out = out.scatter(idx, after)
        again = pl.Series(np.zeros(out.len(), dtype=np.bool_)).scatter(
            idx, ~after.eq_missing(before))
    return out.alias(names.name)


def normalize_name(name: str | None) -> str:
    """The comparable form of a company name.

    NFKC (full-width letters, digits and brackets become half-width), lower case;
    brackets that hold only a place name (``（杭州）``, ``(中国)``) are dropped, then
    every space, punctuation mark, symbol and bracket; the legal-form suffix
    有限公司/有限责任公司/股份有限公司 becomes 有限公司; leading province, city or
    Zhejiang county names (浙江省, 浙江, 杭州市, 杭州, 余杭区...) are removed unless
    fewer than two characters would remain before the suffix. Idempotent.
    """
    if name is None:
        return ""
    out = normalize_names(pl.Series("n", [name], dtype=pl.String))[0]
    return str(out) if out is not None else ""


def core_names(normalized: pl.Series) -> pl.Series:
    """Normalised names without the canonical legal-form suffix."""
    return normalized.str.replace(_CANON_END, "")


def core_name(normalized: str) -> str:
    return normalized.removesuffix(CANONICAL_SUFFIX)


def name_score(a: str | None, b: str | None) -> float:
    """Similarity 0-100 of two raw company names, as the resolver scores them."""
    ca, cb = core_name(normalize_name(a)), core_name(normalize_name(b))
    if not ca or not cb:
        return 0.0
    return float(fuzz.ratio(ca, cb))


# =========================================================================== the store


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


_CAND_COLUMNS = ("id", "uscc", "name", "region", "phone")


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
        return p.select(self._col(p, c).cast(pl.String).alias(c) for c in _CAND_COLUMNS)


# =========================================================================== resolving


def _decided(frame: pl.DataFrame, **values: pl.Expr | str | float | None) -> pl.DataFrame:
    """Rows of `frame` (which has `row`) as resolution rows with the given column values."""
    exprs: list[pl.Expr] = [pl.col("row")]
    for name, dtype in RESOLUTION_SCHEMA.items():
        if name == "row":
            continue
        v = values.get(name)
        e = v if isinstance(v, pl.Expr) else pl.lit(v)
        exprs.append(e.cast(dtype).alias(name))
    return frame.select(exprs)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=RESOLUTION_SCHEMA)


def resolve(incoming: pl.DataFrame, kind: Audience | str, store: StoreView) -> pl.DataFrame:
    """Decide, for every row of `incoming` (one audience, typed as read), what to do.

    Returns one row per incoming row, ordered by position, with the columns of
    `RESOLUTION_SCHEMA`. See the module docstring for the rule.
    """
    aud = Audience(kind)
    kf = key_field(aud)
    n = incoming.height
    if n == 0:
        return _empty()

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
    parts.append(_decided(hit.filter(pl.col("kind") == aud.value), action=Action.UPDATE.value,
                          target=pl.col("id"), rule="id"))
    other = hit.filter(pl.col("kind") != aud.value)
    why = pl.format("编号 {} 在库中是{}档案，不能作为{}档案导入", pl.col("id"),
                    pl.col("kind").replace(_KIND_ZH), pl.lit(_KIND_ZH[aud.value]))
    parts.append(_decided(other, action=Action.CONFLICT.value, reason=why))
    pending = inc.join(hit.select("row"), on="row", how="anti")

    # 2. an alias from an earlier link
    if pending.height:
        al = pending.join(store.aliases(pending["id"]), on="id", how="inner")
        parts.append(_decided(al, action=Action.UPDATE.value, target=pl.col("target"),
                              rule="alias"))
        pending = pending.join(al.select("row"), on="row", how="anti")

    # 3. the key (uscc / id_hash) of a stored profile
    keyed = pending.filter(pl.col("key").is_not_null())
    if keyed.height:
        owners = store.key_owners(aud, keyed["key"].unique())
        kh = keyed.join(owners.rename({"id": "owner"}), on="key", how="inner")
        parts.append(_decided(kh, action=Action.MERGE.value, target=pl.col("owner"), rule=kf,
                              score=100.0))
        pending = pending.join(kh.select("row"), on="row", how="anti")

    # 4. the same key earlier in this file
    decided = pl.concat(parts)
    written = decided.filter(pl.col("action").is_in([Action.UPDATE.value, Action.MERGE.value]))
    key_target = (
        written.select("row", "target")
        .join(inc.select("row", "key"), on="row")
        .filter(pl.col("key").is_not_null())
        .sort("row")
        .group_by("key", maintain_order=True)
        .agg(pl.col("target").first())
    )
    same_key = pending.filter(pl.col("key").is_not_null()).join(key_target, on="key", how="inner")
    parts.append(_decided(same_key, action=Action.MERGE.value, target=pl.col("target"),
                          rule=f"{kf}-in-file", score=100.0))
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
            *(col(c).alias(c) for c in _CAND_COLUMNS),
        ).join(pending.select("row"), on="row", how="semi")
        heads = _by_name(rows, store.candidates(aud))
    else:
        heads = _decided(pending, action=Action.NEW.value, target=pl.col("id"))
    parts.append(heads)

    if followers.height:
        parts.append(_follow(followers, heads, inc, kf))
    out = pl.concat(parts).sort("row")
    assert out.height == n, "every incoming row gets exactly one decision"
    return out


_KIND_ZH = {"enterprise": "企业", "citizen": "个人"}


def _follow(followers: pl.DataFrame, heads: pl.DataFrame, inc: pl.DataFrame,
            kf: str) -> pl.DataFrame:
    """Rows whose key appeared on an earlier pending row take that row's outcome."""
    label = "统一社会信用代码" if kf == "uscc" else "身份标识"
    h = heads.join(inc.select(pl.col("row"), pl.col("id").alias("head_id")), on="row").rename(
        {c: f"h_{c}" for c in RESOLUTION_SCHEMA if c != "row"}).rename({"row": "head"})
    f = followers.join(h, on="head", how="left")
    review = pl.col("h_action") == Action.REVIEW.value
    return _decided(
        f,
        action=pl.when(review).then(pl.lit(Action.REVIEW.value)).otherwise(
            pl.lit(Action.MERGE.value)),
        target=pl.when(review).then(None).otherwise(pl.col("h_target")),
        rule=pl.when(review).then(pl.col("h_rule")).otherwise(pl.lit(f"{kf}-in-file")),
        score=pl.when(review).then(pl.col("h_score")).otherwise(pl.lit(100.0)),
        candidate=pl.col("h_candidate"),
        reason=pl.when(review)
        .then(pl.format("与本文件中编号 {} 的行{}相同；{}", pl.col("head_id"), pl.lit(label),
                        pl.col("h_reason")))
        .otherwise(None),
    )


# --------------------------------------------------------------------------- by name

IntArray = npt.NDArray[np.int64]


def _block_pairs(q_keys: pl.Series, c_keys: pl.Series, q_core: pl.Series,
                 c_core: pl.Series) -> tuple[IntArray, IntArray, npt.NDArray[np.float64]]:
    """Score every (query, candidate) pair that shares a block key; keep scores >= REVIEW_SCORE."""
    qg = (pl.DataFrame({"k": q_keys, "i": pl.int_range(q_keys.len(), eager=True), "s": q_core})
          .drop_nulls("k").group_by("k").agg("i", "s"))
    cg = (pl.DataFrame({"k": c_keys, "j": pl.int_range(c_keys.len(), eager=True), "t": c_core})
          .drop_nulls("k").join(qg.select("k"), on="k", how="semi")
          .group_by("k").agg("j", "t"))
    joined = qg.join(cg, on="k", how="inner")
    qi: list[IntArray] = []
    ci: list[IntArray] = []
    sc: list[npt.NDArray[np.float64]] = []
    for q_idx, q_str, c_idx, c_str in zip(joined["i"].to_list(), joined["s"].to_list(),
                                          joined["j"].to_list(), joined["t"].to_list(),
                                          strict=True):
        m = process.cdist(q_str, c_str, scorer=fuzz.ratio, score_cutoff=REVIEW_SCORE,
                          dtype=np.float32)
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
        return pl.DataFrame({"c": core, "k": k2}).select(
            pl.when(pl.col("k").is_in(big.implode())).then(pl.col("c").str.slice(0, 3))
            .otherwise(pl.col("k"))).to_series()

    return key(q_core), key(c_core)


def _by_name(rows: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    """Decisions for pending enterprise rows (row, id, uscc, name, region, phone)."""
    everything_new = _decided(rows, action=Action.NEW.value, target=pl.col("id"))
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
        (usable["region"] + "|" + q_core.str.slice(0, 1),
         c["region"] + "|" + c_core.str.slice(0, 1)),
    ):
        i, j, s = _block_pairs(q_keys, c_keys, q_core, c_core)
        pairs_i.append(i)
        pairs_j.append(j)
        scores.append(s)
    # same phone: score those pairs directly
    ph = (pl.DataFrame({"p": usable["phone"], "i": pl.int_range(usable.height, eager=True)})
          .drop_nulls("p")
          .join(pl.DataFrame({"p": c["phone"], "j": pl.int_range(c.height, eager=True)})
                .drop_nulls("p"), on="p"))
    if ph.height:
        i = ph["i"].to_numpy().astype(np.int64)
        j = ph["j"].to_numpy().astype(np.int64)
        s = np.asarray(process.cpdist(q_core.gather(i).to_list(), c_core.gather(j).to_list(),
                                      scorer=fuzz.ratio, dtype=np.float32), dtype=np.float64)
        keep = s >= REVIEW_SCORE
        pairs_i.append(i[keep])
        pairs_j.append(j[keep])
        scores.append(s[keep])

    pairs = pl.DataFrame({
        "i": np.concatenate(pairs_i), "j": np.concatenate(pairs_j),
        "score": np.round(np.concatenate(scores), 1),
    }).unique(["i", "j"])
    qa = usable.select(pl.int_range(usable.height).alias("i"), "row", "uscc", "region", "phone")
    ca = c.select(pl.int_range(c.height).alias("j"), pl.col("id").alias("cid"),
                  pl.col("uscc").alias("c_uscc"), pl.col("region").alias("c_region"),
                  pl.col("phone").alias("c_phone"))
    p = (
        pairs.join(qa, on="i").join(ca, on="j")
        .filter(~(pl.col("uscc").is_not_null() & pl.col("c_uscc").is_not_null()
                  & (pl.col("uscc") != pl.col("c_uscc"))))
        .with_columns(
            same_region=(pl.col("region") == pl.col("c_region")).fill_null(False),
            same_phone=(pl.col("phone") == pl.col("c_phone")).fill_null(False),
        )
        .with_columns(agree=pl.col("same_region") | pl.col("same_phone"))
        .with_columns(strong=(pl.col("score") >= MERGE_SCORE) & pl.col("agree"))
        .sort(["row", "strong", "agree", "score", "cid"],
              descending=[False, True, True, True, False])
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
        _decided(merge, action=Action.MERGE.value, target=pl.col("cid"), rule="name",
                 score=pl.col("score"), candidate=pl.col("cid"),
                 reason=pl.format("名称相似度 {}，{}", pl.col("score").round(1),
                                  pl.when(pl.col("same_region")).then(pl.lit("地区相同"))
                                  .otherwise(pl.lit("电话相同")))),
        _decided(review, action=Action.REVIEW.value, rule="name", score=pl.col("score"),
                 candidate=pl.col("cid"), reason=pl.col("reason")),
    ]
    rest = ids.join(best.select("row"), on="row", how="anti")
    out.append(_decided(rest, action=Action.NEW.value, target=pl.col("id")))
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
        return (f"有 {n_strong} 个现有档案名称相似度≥{MERGE_SCORE:.0f}且地区或电话一致"
                f"（{shown}），无法自动判断")
    where = _relation(bool(r["same_region"]), r["region"] is not None,
                      r["c_region"] is not None, "地区")
    phone = _relation(bool(r["same_phone"]), bool(r["has_phone"]), bool(r["c_has_phone"]), "电话")
    if score >= MERGE_SCORE:
        return f"名称相似度 {score:.1f}，但{where}、{phone}，不能确认是同一主体"
    return (f"名称相似度 {score:.1f}（低于自动合并阈值 {MERGE_SCORE:.0f}），{where}、{phone}")
