"""Near misses in plain Chinese, with the gap or the day."""

from __future__ import annotations

import datetime as dt

from tests.support.factories import make_policy
from zhida.matcher.nearmiss import NearMiss, near_miss_scalar
from zhida.matcher.nearmiss_text import near_miss_text
from zhida.profiles.schema import builtin_schema

CRIT = (
    "  - {id: rd, label: 研发费用占比不低于4%, when: rd_ratio >= 4%}\n"
    "  - {id: age, label: 成立满3年, when: 'years_since(established) >= 3'}\n"
    "  - {id: rev, label: 营业收入不低于1亿元, when: 1亿 <= revenue}\n"
    "  - id: inno\n    label: 创新能力（满足其一）\n    any:\n"
    "      - {id: pat, label: 发明专利2项以上, when: invention_patents >= 2}\n"
    "      - {id: hi, label: 高新技术企业, when: high_tech}\n"
)
POLICY = make_policy(criteria=CRIT, extra="define: {rd_ratio: rd_expense / revenue}\n")
AS_OF = dt.date(2026, 4, 1)
BASE = {
    "rd_expense": 5e6,
    "revenue": 1e8,
    "established": dt.date(2020, 1, 1),
    "invention_patents": 3,
    "high_tech": False,
}


def text(**changes: object) -> str:
    profile = {**BASE, **changes}
    near = near_miss_scalar(POLICY, profile, AS_OF)
    assert near is not None
    return near_miss_text(POLICY, near, profile, AS_OF, builtin_schema("enterprise"))


def test_a_ratio_gap_reads_as_percentages() -> None:
    assert text(rd_expense=3.2e6) == "研发费用 / 上年度营业收入 3.2%，需达到 4%"


def test_an_amount_gap_reads_as_money_with_the_constant_on_the_left() -> None:
    assert text(revenue=8e7, rd_expense=4e6) == "上年度营业收入 8,000万，需达到 1亿"


def test_a_date_reads_as_the_day_it_holds() -> None:
    assert text(established=dt.date(2024, 3, 1)) == "2027年3月1日起成立满3年"


def test_a_nested_criterion_names_what_is_missing() -> None:
    assert text(invention_patents=0) == "尚差一项：创新能力（满足其一）"


def test_near_miss_json() -> None:
    assert NearMiss("age", dt.date(2027, 3, 1)).as_json() == {
        "criterion": "age",
        "holds_on": "2027-03-01",
    }
