"""Company names made comparable: NFKC, case, brackets, punctuation, legal-form suffix, places.

`normalize_names` (vectorised) and `normalize_name` give the comparable form;
`core_names` / `core_name` drop the canonical suffix; `name_score` is the
similarity the resolver uses (rapidfuzz's ``ratio`` of the core names, 0-100).
"""

from __future__ import annotations

import re
from typing import Final

import numpy as np
import polars as pl
from rapidfuzz import fuzz

CANONICAL_SUFFIX: Final = "有限公司"

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
            idx, ~after.eq_missing(before)
        )
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
