"""Where synthetic profiles live: Zhejiang's districts with weights, migrants' home districts.

The figures are plausible, not official: city weights follow each city's rough
share of Zhejiang's market entities (Jinhua high because of Yiwu).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

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
OTHER_PROVINCES: tuple[str, ...] = (
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


REGION_CODES, REGION_PLACES, REGION_CITIES, REGION_P = _region_tables()
#: district code -> its name (西湖区), for every district above
DISTRICT_NAMES: dict[str, str] = {
    code: name for districts in _DISTRICTS.values() for code, name, _ in districts
}
