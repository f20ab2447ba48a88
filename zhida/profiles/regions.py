"""Names of places and industries: Zhejiang's prefecture-level cities and districts, the
provinces, GB/T 4754 industry sections; `place_name` is how a region code is shown to
people (a code never is)."""

from __future__ import annotations

from zhida.profiles.synth.places import DISTRICT_NAMES

ZHEJIANG_CITIES = {
    "3301": "杭州市",
    "3302": "宁波市",
    "3303": "温州市",
    "3304": "嘉兴市",
    "3305": "湖州市",
    "3306": "绍兴市",
    "3307": "金华市",
    "3308": "衢州市",
    "3309": "舟山市",
    "3310": "台州市",
    "3311": "丽水市",
}

PROVINCES = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省",
    "81": "香港特别行政区",
    "82": "澳门特别行政区",
}

INDUSTRY_SECTIONS = {
    "A": "农、林、牧、渔业",
    "B": "采矿业",
    "C": "制造业",
    "D": "电力、热力、燃气及水生产和供应业",
    "E": "建筑业",
    "F": "批发和零售业",
    "G": "交通运输、仓储和邮政业",
    "H": "住宿和餐饮业",
    "I": "信息传输、软件和信息技术服务业",
    "J": "金融业",
    "K": "房地产业",
    "L": "租赁和商务服务业",
    "M": "科学研究和技术服务业",
    "N": "水利、环境和公共设施管理业",
    "O": "居民服务、修理和其他服务业",
    "P": "教育",
    "Q": "卫生和社会工作",
    "R": "文化、体育和娱乐业",
    "S": "公共管理、社会保障和社会组织",
    "T": "国际组织",
}


def city_of(region: str | None) -> str:
    """'杭州市' for 330106; '省外' for other provinces; '未知' when missing."""
    if not region:
        return "未知"
    return ZHEJIANG_CITIES.get(region[:4], "省外" if not region.startswith("33") else "浙江其他")


def place_name(region: str | None) -> str:
    """A region code as people read it: 浙江省杭州市西湖区 for 330106, as far down as the
    tables know it (浙江省杭州市 for a district they do not name, 安徽省 for 340102),
    未知地区 for a code they cannot place; never the code itself."""
    code = (region or "").strip()
    province = PROVINCES.get(code[:2])
    if province is None:
        return "未知地区"
    city = ZHEJIANG_CITIES.get(code[:4], "")
    return province + city + (DISTRICT_NAMES.get(code, "") if city else "")


def section_of(industry: str | None) -> str:
    if not industry:
        return "未知"
    return INDUSTRY_SECTIONS.get(industry[:1].upper(), "其他")
