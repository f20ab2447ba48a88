"""Seeded synthetic profiles with plausible Zhejiang distributions.

Everything is drawn with numpy in bulk (a million enterprises in about a second)
and returned as polars frames with exactly the columns and dtypes that
`read_profiles` produces, so synthetic data can go straight to the evaluator or
to a file. The reference date is fixed (`SYNTH_AS_OF`) so the same seed always
gives the same data.

The figures are plausible, not official: city weights follow each city's rough
share of Zhejiang's market entities (Jinhua high because of Yiwu), industries
are dominated by wholesale/retail trade and manufacturing, firm sizes are
lognormal, R&D concentrates in manufacturing, software and research services.
No real person or ID number is involved: `id_hash` hashes a made-up string.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from zhida.profiles.readers import polars_dtype, write_profiles
from zhida.profiles.schema import Audience, Field, FieldType, ProfileSchema, SchemaSet
from zhida.profiles.uscc import check_values, codes_to_bytes

__all__ = [
    "SYNTH_AS_OF",
    "make_usccs",
    "synth_to_file",
    "synthesize",
    "synthesize_citizens",
    "synthesize_enterprises",
]

SYNTH_AS_OF = date(2026, 3, 1)
_EPOCH = date(1970, 1, 1)
_AS_OF_DAY = (SYNTH_AS_OF - _EPOCH).days
_FIRST_DAY = (date(1995, 1, 1) - _EPOCH).days

Rng = np.random.Generator
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# --------------------------------------------------------------------------- regions

# city code, short name, rough share of the province's market entities (%)
_CITIES: tuple[tuple[str, str, float], ...] = (
    ("3301", "杭州", 19.0),
    ("3302", "宁波", 13.0),
    ("3303", "温州", 13.0),
    ("3304", "嘉兴", 7.0),
    ("3305", "湖州", 4.5),
    ("3306", "绍兴", 7.0),
    ("3307", "金华", 15.0),
    ("3308", "衢州", 3.0),
    ("3309", "舟山", 1.5),
    ("3310", "台州", 9.0),
    ("3311", "丽水", 3.5),
)

# district code, name, weight within its city
_DISTRICTS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "3301": (
        ("330102", "上城区", 10),
        ("330105", "拱墅区", 11),
        ("330106", "西湖区", 11),
        ("330108", "滨江区", 8),
        ("330109", "萧山区", 15),
        ("330110", "余杭区", 15),
        ("330111", "富阳区", 6),
        ("330112", "临安区", 5),
        ("330113", "临平区", 7),
        ("330114", "钱塘区", 5),
        ("330122", "桐庐县", 3),
        ("330127", "淳安县", 2),
        ("330182", "建德市", 2),
    ),
    "3302": (
        ("330203", "海曙区", 11),
        ("330205", "江北区", 7),
        ("330206", "北仑区", 10),
        ("330211", "镇海区", 6),
        ("330212", "鄞州区", 19),
        ("330213", "奉化区", 6),
        ("330225", "象山县", 6),
        ("330226", "宁海县", 7),
        ("330281", "余姚市", 12),
        ("330282", "慈溪市", 16),
    ),
    "3303": (
        ("330302", "鹿城区", 14),
        ("330303", "龙湾区", 8),
        ("330304", "瓯海区", 10),
        ("330305", "洞头区", 1),
        ("330324", "永嘉县", 8),
        ("330326", "平阳县", 8),
        ("330327", "苍南县", 7),
        ("330328", "文成县", 2),
        ("330329", "泰顺县", 2),
        ("330381", "瑞安市", 15),
        ("330382", "乐清市", 17),
        ("330383", "龙港市", 8),
    ),
    "3304": (
        ("330402", "南湖区", 15),
        ("330411", "秀洲区", 13),
        ("330421", "嘉善县", 12),
        ("330424", "海盐县", 9),
        ("330481", "海宁市", 16),
        ("330482", "平湖市", 13),
        ("330483", "桐乡市", 22),
    ),
    "3305": (
        ("330502", "吴兴区", 24),
        ("330503", "南浔区", 16),
        ("330521", "德清县", 18),
        ("330522", "长兴县", 24),
        ("330523", "安吉县", 18),
    ),
    "3306": (
        ("330602", "越城区", 20),
        ("330603", "柯桥区", 25),
        ("330604", "上虞区", 15),
        ("330624", "新昌县", 8),
        ("330681", "诸暨市", 24),
        ("330683", "嵊州市", 8),
    ),
    "3307": (
        ("330702", "婺城区", 6),
        ("330703", "金东区", 4),
        ("330723", "武义县", 3),
        ("330726", "浦江县", 4),
        ("330727", "磐安县", 1),
        ("330781", "兰溪市", 3),
        ("330782", "义乌市", 60),
        ("330783", "东阳市", 9),
        ("330784", "永康市", 10),
    ),
    "3308": (
        ("330802", "柯城区", 22),
        ("330803", "衢江区", 15),
        ("330822", "常山县", 12),
        ("330824", "开化县", 11),
        ("330825", "龙游县", 17),
        ("330881", "江山市", 23),
    ),
    "3309": (
        ("330902", "定海区", 42),
        ("330903", "普陀区", 36),
        ("330921", "岱山县", 15),
        ("330922", "嵊泗县", 7),
    ),
    "3310": (
        ("331002", "椒江区", 13),
        ("331003", "黄岩区", 11),
        ("331004", "路桥区", 13),
        ("331022", "三门县", 5),
        ("331023", "天台县", 6),
        ("331024", "仙居县", 5),
        ("331081", "温岭市", 20),
        ("331082", "临海市", 14),
        ("331083", "玉环市", 13),
    ),
    "3311": (
        ("331102", "莲都区", 26),
        ("331121", "青田县", 13),
        ("331122", "缙云县", 14),
        ("331123", "遂昌县", 8),
        ("331124", "松阳县", 8),
        ("331125", "云和县", 5),
        ("331126", "庆元县", 6),
        ("331127", "景宁畲族自治县", 4),
        ("331181", "龙泉市", 16),
    ),
}

# districts elsewhere in China, for citizens' hukou (migrants)
_OTHER_PROVINCES: tuple[str, ...] = (
    "340102",
    "340202",
    "341202",
    "360102",
    "360302",
    "410102",
    "410302",
    "420102",
    "430102",
    "430602",
    "450102",
    "500101",
    "510104",
    "510722",
    "520102",
    "522601",
    "530102",
    "320102",
    "320506",
    "310101",
    "310115",
    "350102",
    "370102",
    "220102",
)


def _region_tables() -> tuple[list[str], list[str], list[str], FloatArray]:
    codes: list[str] = []
    places: list[str] = []  # how a company name starts: city, or county-level city
    cities: list[str] = []
    probs: list[float] = []
    for city_code, city_name, share in _CITIES:
        districts = _DISTRICTS[city_code]
        total = sum(w for *_, w in districts)
        for code, name, w in districts:
            codes.append(code)
            cities.append(city_name)
            county_city = int(code[4:]) >= 81 and name.endswith("市")
            places.append(name[:-1] if county_city else city_name)
            probs.append(share * w / total)
    p = np.array(probs, dtype=np.float64)
    return codes, places, cities, p / p.sum()


_REGION_CODES, _REGION_PLACES, _REGION_CITIES, _REGION_P = _region_tables()

# --------------------------------------------------------------------------- industries

# GB/T 4754-2017 division, weight (%), words for company names, business scope phrases
_INDUSTRIES: tuple[tuple[str, float, tuple[str, ...], tuple[str, ...]], ...] = (
    ("C13", 1.5, ("食品", "粮油"), ("粮食加工；食用农产品初加工", "饲料加工；农副食品加工")),
    ("C14", 0.8, ("食品", "食品科技"), ("食品生产；食品销售", "保健食品生产；食品添加剂销售")),
    ("C17", 3.0, ("纺织", "织造", "印染"), ("纺织品制造；面料印染加工", "化纤织造；针纺织品销售")),
    ("C18", 2.5, ("服饰", "制衣"), ("服装制造；服饰制造", "服装服饰批发；针纺织品及原料销售")),
    ("C19", 1.0, ("鞋业", "皮革"), ("制鞋；皮革制品制造", "箱包制造；鞋帽批发")),
    ("C21", 0.8, ("家具", "家居"), ("家具制造；家具销售", "木质家具制造；家居用品销售")),
    ("C22", 0.6, ("纸业", "包装"), ("纸制品制造；包装材料销售", "纸和纸板容器制造")),
    (
        "C24",
        1.2,
        ("文具", "工艺品", "体育用品"),
        ("文具制造；工艺美术品制造", "体育用品制造；玩具制造"),
    ),
    (
        "C26",
        1.0,
        ("化工", "新材料"),
        ("化工产品生产（不含许可类化工产品）", "专用化学产品制造；新材料技术研发"),
    ),
    ("C27", 0.4, ("药业", "生物医药"), ("药品生产；医药中间体研发", "生物医药技术研发；药品批发")),
    ("C29", 2.0, ("塑业", "橡胶"), ("塑料制品制造；橡胶制品销售", "日用塑料制品制造")),
    ("C30", 0.8, ("建材", "陶瓷"), ("水泥制品制造；建筑材料销售", "玻璃制品制造；石材加工")),
    ("C33", 3.0, ("五金", "金属制品"), ("五金产品制造；金属制品销售", "金属表面处理；模具制造")),
    (
        "C34",
        3.0,
        ("机械", "机电", "阀门"),
        ("通用设备制造；机械设备销售", "泵及真空设备制造；阀门和旋塞研发"),
    ),
    (
        "C35",
        2.0,
        ("智能装备", "机械", "设备"),
        ("专用设备制造；智能基础制造装备制造", "工业机器人制造；医疗器械生产"),
    ),
    ("C36", 1.2, ("汽车部件", "汽配"), ("汽车零部件及配件制造", "摩托车零配件制造；电动车销售")),
    (
        "C38",
        2.5,
        ("电器", "电气", "新能源"),
        ("电机制造；家用电器制造", "光伏设备及元器件制造；电池制造"),
    ),
    (
        "C39",
        1.5,
        ("电子", "电子科技", "通信技术"),
        ("电子元器件制造；集成电路设计", "通信设备制造；计算机软硬件开发"),
    ),
    ("C40", 0.8, ("仪器", "仪表"), ("仪器仪表制造；检测设备销售", "智能仪器仪表制造")),
    ("C41", 0.6, ("制品", "日用品"), ("日用杂品制造；工艺品销售",)),
    (
        "F51",
        20.0,
        ("贸易", "商贸", "进出口", "供应链"),
        (
            "日用百货销售；货物进出口",
            "五金产品批发；服装服饰批发",
            "小商品批发；技术进出口",
            "电子产品销售；化工产品销售（不含许可类化工产品）",
        ),
    ),
    (
        "F52",
        12.0,
        ("商贸", "电子商务", "百货"),
        (
            "互联网销售（除销售需要许可的商品）",
            "日用百货零售；食品销售",
            "化妆品零售；母婴用品销售",
        ),
    ),
    (
        "I64",
        2.0,
        ("网络科技", "互联网科技"),
        ("互联网信息服务；网络技术服务", "互联网数据服务；信息系统集成服务"),
    ),
    (
        "I65",
        4.5,
        ("信息技术", "软件", "数字科技"),
        (
            "软件开发；信息技术咨询服务",
            "人工智能应用软件开发；数据处理服务",
            "集成电路设计；信息系统集成服务",
        ),
    ),
    (
        "M73",
        0.8,
        ("生物科技", "研究院"),
        ("工程和技术研究和试验发展", "生物技术研发；新材料技术研发"),
    ),
    (
        "M74",
        2.0,
        ("检测", "设计", "工程技术"),
        ("检验检测服务；工程设计", "规划设计管理；工程技术服务"),
    ),
    (
        "M75",
        3.0,
        ("科技", "技术"),
        (
            "技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广",
            "科技中介服务；新兴能源技术研发",
        ),
    ),
    (
        "L72",
        6.0,
        ("企业管理", "商务咨询", "人力资源"),
        ("企业管理咨询；市场营销策划", "会议及展览服务；人力资源服务"),
    ),
    ("E48", 2.0, ("建设", "工程"), ("建设工程施工；市政设施管理", "土石方工程施工")),
    ("E50", 1.5, ("装饰", "建筑装饰"), ("住宅室内装饰装修；建筑装饰材料销售",)),
    ("G54", 2.0, ("物流", "运输"), ("道路货物运输（不含危险货物）；普通货物仓储服务",)),
    ("G58", 1.0, ("供应链", "国际货运代理"), ("国际货物运输代理；报关业务", "多式联运和运输代理")),
    ("H61", 0.8, ("酒店", "民宿"), ("住宿服务；餐饮服务",)),
    ("H62", 3.0, ("餐饮", "餐饮管理"), ("餐饮服务；食品销售", "餐饮管理；外卖递送服务")),
    ("K70", 1.5, ("置业", "物业"), ("房地产开发经营；物业管理", "住房租赁；物业管理")),
    ("A01", 1.0, ("农业", "生态农业"), ("蔬菜种植；水果种植", "茶叶种植；农产品的生产、销售")),
    ("A04", 0.3, ("水产", "渔业"), ("水产养殖；水产品批发",)),
    ("O80", 2.0, ("家政", "生活服务"), ("家政服务；洗染服务", "居民日常生活服务")),
    (
        "R88",
        1.0,
        ("文化传媒", "文化创意"),
        ("文艺创作；组织文化艺术交流活动", "广告设计、代理；数字内容制作服务"),
    ),
    ("P83", 0.5, ("教育科技", "培训"), ("教育咨询服务（不含涉许可审批的教育培训活动）",)),
    ("Q84", 0.4, ("医疗", "健康管理"), ("医疗服务；健康咨询服务",)),
)

_BRAND_CHARS = (
    "华新恒鑫泰通达瑞丰宏盛隆远海天金永明光诚信德佳美安创博中正东方源兴旺力康福润嘉和宇睿航腾"
    "飞星辰智联汇合凯悦卓越锦晟弘翔立豪鸿昌荣帆银利顺浩佰亿优尚品力众宸"
)
_SUFFIXES = ("有限公司", "股份有限公司", "有限责任公司")
_SUFFIX_P = (0.85, 0.07, 0.08)

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
_GIVEN_CHARS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力兰海燕斌晨宇浩然子轩欣怡梓涵一诺雨泽思远佳琪俊杰诗雨博文婷雪峰志强嘉怡晓东亮鹏飞颖慧云龙国庆"  # noqa: E501

_EDUCATIONS = ("高中", "大专", "本科", "硕士", "博士")
_EDU_P = (0.20, 0.25, 0.35, 0.12, 0.03)  # + 5% missing
_GRAD_AGE = np.array([18, 21, 22, 25, 29], dtype=np.int64)


# =========================================================================== helpers


def _strings_from_bytes(mat: npt.NDArray[np.uint8], name: str) -> pl.Series:
    """An (n, w) ASCII byte matrix as a String series, without per-row Python."""
    n, w = mat.shape
    data = np.ascontiguousarray(mat)
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64)
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    out = pl.from_arrow(arr)
    assert isinstance(out, pl.Series)
    return out.cast(pl.String).alias(name)


def _digits(values: IntArray, width: int) -> npt.NDArray[np.uint8]:
    """Decimal digits of non-negative ints as an (n, width) ASCII matrix."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] // powers) % 10 + ord("0")).astype(np.uint8)


def _null_where(s: pl.Series, mask: BoolArray) -> pl.Series:
    if not mask.any():
        return s
    return (
        pl.DataFrame({"v": s, "m": mask})
        .select(pl.when(pl.col("m")).then(None).otherwise(pl.col("v")).alias(s.name))
        .to_series()
        .cast(s.dtype)
    )


def _missing(rng: Rng, n: int, rate: float) -> BoolArray:
    return rng.random(n) < rate


def _dates(days: IntArray, name: str) -> pl.Series:
    return pl.Series(name, days.astype(np.int32)).cast(pl.Date)


def _pick(pool: list[str] | tuple[str, ...], idx: IntArray, name: str) -> pl.Series:
    return pl.Series(name, list(pool), dtype=pl.String).gather(idx)


def _concat(parts: list[pl.Series], name: str) -> pl.Series:
    frame = pl.DataFrame({f"p{i}": p for i, p in enumerate(parts)})
    return frame.select(pl.concat_str(pl.all()).alias(name)).to_series()


def _ids(prefix: str, n: int) -> pl.Series:
    width = max(7, len(str(n)))
    return pl.select(
        (
            pl.lit(prefix) + pl.int_range(1, n + 1, dtype=pl.Int64).cast(pl.String).str.zfill(width)
        ).alias("id")
    ).to_series()


def _region_choice(rng: Rng, n: int) -> IntArray:
    return rng.choice(len(_REGION_CODES), size=n, p=_REGION_P).astype(np.int64)


def make_usccs(rng: Rng, region_codes: IntArray) -> pl.Series:
    """Valid USCCs: ``91`` + 6-digit region + 9 random characters + check."""
    n = region_codes.size
    vals = np.empty((n, 18), dtype=np.int64)
    vals[:, 0] = 9
    vals[:, 1] = 1
    powers = 10 ** np.arange(5, -1, -1, dtype=np.int64)
    vals[:, 2:8] = (region_codes[:, None] // powers) % 10
    vals[:, 8:17] = rng.integers(0, 31, size=(n, 9))
    vals[:, 17] = check_values(vals[:, :17])
    return _strings_from_bytes(codes_to_bytes(vals), "uscc")


def _phones(rng: Rng, n: int, missing_rate: float) -> pl.Series:
    mat = np.empty((n, 14), dtype=np.uint8)
    mat[:, :4] = np.frombuffer(b"+861", dtype=np.uint8)
    mat[:, 4] = rng.integers(3, 10, size=n) + ord("0")
    mat[:, 5:] = rng.integers(0, 10, size=(n, 9)) + ord("0")
    return _null_where(_strings_from_bytes(mat, "phone"), _missing(rng, n, missing_rate))


def _region_series(idx: IntArray, name: str) -> pl.Series:
    return _pick(_REGION_CODES, idx, name)


# =========================================================================== enterprises


def synthesize_enterprises(n: int, seed: int = 0, schemas: SchemaSet | None = None) -> pl.DataFrame:
    """`n` synthetic enterprises; extension fields of `schemas` are filled too."""
    rng = np.random.default_rng([seed, 1])
    schema = (schemas or SchemaSet.builtin())[Audience.ENTERPRISE]
    cols: dict[str, pl.Series] = {}

    cols["id"] = _ids("E", n)
    reg = _region_choice(rng, n)
    region_int = np.array([int(c) for c in _REGION_CODES], dtype=np.int64)[reg]
    cols["region"] = _region_series(reg, "region")
    cols["uscc"] = make_usccs(rng, region_int)

    # industry and its parameters
    ind_codes = [c for c, *_ in _INDUSTRIES]
    ind_p = np.array([w for _, w, *_ in _INDUSTRIES], dtype=np.float64)
    ind = rng.choice(len(ind_codes), size=n, p=ind_p / ind_p.sum()).astype(np.int64)
    section = np.array([c[0] for c in ind_codes])[ind]
    is_c = section == "C"
    is_tech = np.isin(section, ["I", "M"])
    is_trade = section == "F"
    cols["industry"] = _null_where(_pick(ind_codes, ind, "industry"), _missing(rng, n, 0.01))

    # name: place + brand + industry word + suffix
    alt_place = rng.random(n) < 0.5
    place_idx = reg
    places = _pick(_REGION_PLACES, place_idx, "p")
    cities = _pick(_REGION_CITIES, place_idx, "c")
    place = pl.select(pl.when(pl.lit(alt_place)).then(places).otherwise(cities)).to_series()
    nb = len(_BRAND_CHARS)
    b1 = rng.integers(0, nb, size=n)
    b2 = (b1 + rng.integers(1, nb, size=n)) % nb
    words: list[str] = []
    word_start = np.zeros(len(_INDUSTRIES), dtype=np.int64)
    word_count = np.zeros(len(_INDUSTRIES), dtype=np.int64)
    for k, (_, _, ws, _) in enumerate(_INDUSTRIES):
        word_start[k] = len(words)
        word_count[k] = len(ws)
        words.extend(ws)
    widx = word_start[ind] + (rng.random(n) * word_count[ind]).astype(np.int64)
    sfx = rng.choice(len(_SUFFIXES), size=n, p=_SUFFIX_P)
    cols["name"] = _concat(
        [
            place,
            _pick(list(_BRAND_CHARS), b1, "b1"),
            _pick(list(_BRAND_CHARS), b2, "b2"),
            _pick(words, widx, "w"),
            _pick(_SUFFIXES, sfx, "s"),
        ],
        "name",
    )
    cols["phone"] = _phones(rng, n, 0.05)

    # established: 1995..SYNTH_AS_OF, skewed recent
    span = _AS_OF_DAY - _FIRST_DAY
    age_days = (rng.exponential(7.0, size=n) * 365.25).astype(np.int64)
    too_old = age_days > span
    age_days[too_old] = rng.integers(0, span, size=int(too_old.sum()))
    age_years = age_days / 365.25
    cols["established"] = _dates(_AS_OF_DAY - age_days, "established")

    # size: employees lognormal by sector; revenue correlated with employees
    emp_mu = np.select([is_c, is_tech, is_trade], [3.0, 2.5, 1.6], 2.1) - 0.6 * (age_years < 2)
    employees = np.maximum(1, np.round(rng.lognormal(emp_mu, 1.1))).astype(np.int64)
    employees = np.minimum(employees, 60_000)
    rev_mu = np.select([is_c, is_tech, is_trade], [13.3, 12.9, 14.2], 12.6)
    revenue = employees * rng.lognormal(rev_mu, 0.7)
    revenue[(age_years < 1) & (rng.random(n) < 0.3)] = 0.0
    revenue = np.round(revenue)

    # R&D: staff share by sector, expense share tied to staff share
    has_rd = rng.random(n) < np.select([is_c, is_tech, is_trade], [0.6, 0.75, 0.05], 0.1)
    frac = np.select(
        [is_c, is_tech],
        [rng.beta(2.0, 14.0, size=n), rng.beta(3.0, 7.0, size=n)],
        rng.beta(1.0, 30.0, size=n),
    )
    rd_staff = np.where(has_rd, np.maximum(1, np.floor(employees * frac)), 0).astype(np.int64)
    rd_staff = np.minimum(rd_staff, employees)
    staff_share = rd_staff / employees
    rd_ratio = np.clip(
        staff_share * rng.uniform(0.15, 0.5, size=n) * rng.lognormal(0, 0.3, n), 0, 0.6
    )
    rd_expense = np.round(np.where(has_rd, revenue * rd_ratio, 0.0))

    # patents: negative binomial, mean rising with R&D staff
    sector_k = np.where(is_c | is_tech, 1.0, 0.3)
    inv_mean = 0.03 + 0.5 * rd_staff**0.7 * sector_k
    r = 0.8
    invention = rng.negative_binomial(r, r / (r + inv_mean)).astype(np.int64)
    other_mean = 0.2 + 1.2 * rd_staff**0.7 * sector_k
    patents = invention + rng.negative_binomial(r, r / (r + other_mean)).astype(np.int64)

    # labels tied to R&D
    score = (
        -5.0
        + 2.0 * (rd_ratio >= 0.03)
        + 1.5 * (invention >= 1)
        + 0.6 * np.log1p(patents)
        + 0.8 * (is_c | is_tech)
        + 0.5 * (revenue >= 2e7)
    )
    high_tech = rng.random(n) < 1 / (1 + np.exp(-score))
    sme_score = (
        -6.5 + 2.5 * high_tech + 1.0 * (invention >= 2) + 1.0 * (revenue >= 5e7) + 0.8 * is_c
    )
    specialized = rng.random(n) < 1 / (1 + np.exp(-sme_score))

    tax_p = np.array([0.35, 0.45, 0.12, 0.05, 0.03])
    tax = rng.choice(5, size=n, p=tax_p)
    tax = np.where(age_years < 1, np.where(rng.random(n) < 0.8, 2, tax), tax)
    tax = np.where(high_tech & (rng.random(n) < 0.5), 0, tax)
    cols["tax_credit"] = _null_where(
        _pick(list("ABMCD"), tax, "tax_credit"), _missing(rng, n, 0.02)
    )

    cols["employees"] = _null_where(pl.Series("employees", employees), _missing(rng, n, 0.03))
    cols["revenue"] = _null_where(pl.Series("revenue", revenue), _missing(rng, n, 0.04))
    cols["rd_expense"] = _null_where(pl.Series("rd_expense", rd_expense), _missing(rng, n, 0.05))
    cols["rd_staff"] = _null_where(pl.Series("rd_staff", rd_staff), _missing(rng, n, 0.04))
    cols["invention_patents"] = _null_where(
        pl.Series("invention_patents", invention), _missing(rng, n, 0.03)
    )
    cols["patents"] = _null_where(pl.Series("patents", patents), _missing(rng, n, 0.03))
    cols["high_tech"] = _null_where(pl.Series("high_tech", high_tech), _missing(rng, n, 0.02))
    cols["specialized_sme"] = _null_where(
        pl.Series("specialized_sme", specialized), _missing(rng, n, 0.02)
    )

    scopes: list[str] = []
    sc_start = np.zeros(len(_INDUSTRIES), dtype=np.int64)
    sc_count = np.zeros(len(_INDUSTRIES), dtype=np.int64)
    for k, (_, _, _, ss) in enumerate(_INDUSTRIES):
        sc_start[k] = len(scopes)
        sc_count[k] = len(ss)
        scopes.extend(ss)
    sidx = sc_start[ind] + (rng.random(n) * sc_count[ind]).astype(np.int64)
    cols["business_scope"] = _null_where(
        _pick(scopes, sidx, "business_scope"), _missing(rng, n, 0.02)
    )

    # extension fields
    known: dict[str, tuple[FieldType, Maker]] = {
        "tech_staff": (
            FieldType.INT,
            lambda: (
                rd_staff + rng.binomial(employees - rd_staff, np.where(is_c | is_tech, 0.1, 0.02))
            ),
        ),
        "hitech_revenue": (
            FieldType.NUMBER,
            lambda: np.round(
                revenue * np.where(high_tech, rng.uniform(0.5, 0.95, n), rng.uniform(0, 0.3, n))
            ),
        ),
        "rd_expense_2y": (
            FieldType.NUMBER,
            lambda: np.round(rd_expense * rng.uniform(1.7, 2.3, n)),
        ),
        "revenue_growth": (FieldType.NUMBER, lambda: np.round(rng.normal(0.08, 0.2, n), 4)),
        "debt_ratio": (FieldType.NUMBER, lambda: np.round(rng.beta(4.0, 5.0, n), 4)),
        "main_revenue_ratio": (FieldType.NUMBER, lambda: np.round(rng.uniform(0.5, 1.0, n), 4)),
        "equity_financing_2y": (
            FieldType.NUMBER,
            lambda: np.where(rng.random(n) < 0.08, np.round(rng.lognormal(16.0, 1.2, n), -4), 0.0),
        ),
    }
    _fill_extensions(cols, schema, known, rng, n)
    return _frame(cols, schema)


Maker = Callable[[], "pl.Series | npt.NDArray[np.generic]"]


def _fill_extensions(
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
        cols[f.name] = _null_where(s, _missing(rng, n, 0.03))


def _generic(f: Field, rng: Rng, n: int) -> pl.Series:
    t = f.type
    if t is FieldType.INT:
        return pl.Series(f.name, rng.poisson(5.0, n).astype(np.int64))
    if t is FieldType.NUMBER:
        return pl.Series(f.name, np.round(rng.lognormal(10.0, 1.5, n), 2))
    if t is FieldType.BOOL:
        return pl.Series(f.name, rng.random(n) < 0.5)
    if t is FieldType.DATE:
        return _dates(_AS_OF_DAY - rng.integers(0, 3650, n), f.name)
    pool = [f"{f.label}{k}" for k in range(1, 11)]
    a = _pick(pool, rng.integers(0, 10, n), "a")
    if t is FieldType.STRING:
        return a.alias(f.name)
    b = _pick(pool, rng.integers(0, 10, n), "b")
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


def _frame(cols: dict[str, pl.Series], schema: ProfileSchema) -> pl.DataFrame:
    return pl.DataFrame(
        [cols[f.name].cast(polars_dtype(f.type)).alias(f.name) for f in schema.fields.values()]
    )


# =========================================================================== citizens


def _id_hashes(seed: int, n: int) -> pl.Series:
    prefix = f"zhida-synthetic-person:{seed}:".encode()
    sha = hashlib.sha256
    return pl.Series(
        "id_hash", [sha(prefix + str(i).encode()).hexdigest() for i in range(n)], dtype=pl.String
    )


def synthesize_citizens(n: int, seed: int = 0, schemas: SchemaSet | None = None) -> pl.DataFrame:
    """`n` synthetic citizens; extension fields of `schemas` are filled too."""
    rng = np.random.default_rng([seed, 2])
    schema = (schemas or SchemaSet.builtin())[Audience.CITIZEN]
    cols: dict[str, pl.Series] = {}
    cols["id"] = _ids("P", n)
    cols["id_hash"] = _id_hashes(seed, n)

    surname = rng.integers(0, len(_SURNAMES), size=n)
    surname = np.minimum(surname, rng.integers(0, len(_SURNAMES), size=n))  # common ones first
    g1 = rng.integers(0, len(_GIVEN_CHARS), size=n)
    g2 = rng.integers(0, len(_GIVEN_CHARS), size=n)
    two = rng.random(n) < 0.7
    given2 = _null_where(_pick(list(_GIVEN_CHARS), g2, "g2"), ~two).fill_null("")
    cols["name"] = _concat(
        [
            _pick(list(_SURNAMES), surname, "s"),
            _pick(list(_GIVEN_CHARS), g1, "g1"),
            given2,
        ],
        "name",
    )
    cols["phone"] = _phones(rng, n, 0.03)

    age = np.clip(rng.normal(36.0, 11.0, size=n), 18.0, 70.0)
    birth_day = _AS_OF_DAY - (age * 365.25).astype(np.int64)
    cols["birth_date"] = _null_where(_dates(birth_day, "birth_date"), _missing(rng, n, 0.01))

    edu = rng.choice(len(_EDUCATIONS), size=n, p=np.array(_EDU_P) / sum(_EDU_P))
    birth_year = (birth_day / 365.2425 + 1970).astype(np.int64)
    jitter = rng.integers(0, 2, size=n)  # a gap year or a longer programme
    # still studying: the coming summer's graduates stay, the rest step down a degree
    for _ in range(len(_EDUCATIONS)):
        too_young = (birth_year + _GRAD_AGE[edu] + jitter > SYNTH_AS_OF.year) & (edu > 0)
        if not too_young.any():
            break
        edu = np.where(too_young, edu - 1, edu)
    grad_year = birth_year + _GRAD_AGE[edu] + jitter
    grad_days = (
        pl.select(pl.date(pl.lit(pl.Series(grad_year)), 6, 30).alias("d"))
        .to_series()
        .cast(pl.Int32)
        .to_numpy()
        .astype(np.int64)
    )
    edu_missing = _missing(rng, n, 0.05)
    cols["education"] = _null_where(_pick(_EDUCATIONS, edu, "education"), edu_missing)
    no_degree = (edu == 0) | edu_missing
    cols["graduation_date"] = _null_where(_dates(grad_days, "graduation_date"), no_degree)

    zj_hukou = rng.random(n) < 0.78
    hukou_zj = _region_choice(rng, n)
    other = rng.integers(0, len(_OTHER_PROVINCES), size=n)
    hukou = pl.select(
        pl.when(pl.lit(zj_hukou))
        .then(_region_series(hukou_zj, "h"))
        .otherwise(_pick(_OTHER_PROVINCES, other, "o"))
        .alias("hukou_region")
    ).to_series()
    cols["hukou_region"] = hukou
    same = zj_hukou & (rng.random(n) < 0.75)
    res_idx = np.where(same, hukou_zj, _region_choice(rng, n))
    residence = _region_series(res_idx, "residence_region")
    cols["residence_region"] = residence

    start_age = np.where(edu == 0, 19, _GRAD_AGE[edu])
    work_months = np.maximum(0.0, (age - start_age) * 12)
    insured = np.floor(work_months * rng.beta(5.0, 2.0, size=n)).astype(np.int64)
    insured[rng.random(n) < 0.08] = 0
    cols["social_insurance_months"] = _null_where(
        pl.Series("social_insurance_months", insured), _missing(rng, n, 0.03)
    )

    region_int = np.array([int(c) for c in _REGION_CODES], dtype=np.int64)[res_idx]
    employed = rng.random(n) < 0.85
    cols["employer_uscc"] = _null_where(
        make_usccs(rng, region_int).alias("employer_uscc"), ~employed
    )

    p_talent = np.array([0.005, 0.01, 0.05, 0.2, 0.5])[edu]
    talent = rng.random(n) < p_talent
    lvl = np.where(
        edu == 4,
        rng.choice(5, size=n, p=[0.05, 0.15, 0.3, 0.3, 0.2]),
        rng.choice(5, size=n, p=[0.01, 0.04, 0.15, 0.3, 0.5]),
    )
    cols["talent_level"] = _null_where(_pick(list("ABCDE"), lvl, "talent_level"), ~talent)

    household = rng.choice(6, size=n, p=[0.15, 0.25, 0.33, 0.17, 0.07, 0.03]) + 1
    cols["household_size"] = _null_where(
        pl.Series("household_size", household.astype(np.int64)), _missing(rng, n, 0.04)
    )

    def insured_region() -> pl.Series:
        moved = rng.random(n) < 0.1
        return pl.select(
            pl.when(pl.lit(moved))
            .then(_region_series(_region_choice(rng, n), "x"))
            .otherwise(residence)
        ).to_series()

    def employment_region() -> pl.Series:
        moved = rng.random(n) < 0.15
        return pl.select(
            pl.when(pl.lit(moved))
            .then(_region_series(_region_choice(rng, n), "x"))
            .otherwise(residence)
        ).to_series()

    known_series: dict[str, tuple[FieldType, Maker]] = {
        "insured_region": (FieldType.STRING, insured_region),
        "employment_region": (FieldType.STRING, employment_region),
        "has_house_in_city": (
            FieldType.BOOL,
            lambda: pl.Series(rng.random(n) < np.clip(0.25 + 0.01 * (age - 22), 0.1, 0.8)),
        ),
    }
    _fill_extensions(cols, schema, known_series, rng, n)
    return _frame(cols, schema)


# =========================================================================== files


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
