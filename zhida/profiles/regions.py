"""Names for grouping: Zhejiang's prefecture-level cities and GB/T 4754 industry sections."""

from __future__ import annotations

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


def section_of(industry: str | None) -> str:
    if not industry:
        return "未知"
    return INDUSTRY_SECTIONS.get(industry[:1].upper(), "其他")
