"""A pack of policies for the /me tests: for profile E1 of tests/api/conftest.py
(established 2019-05-01, revenue 1.5亿, 120 employees, high-tech, no R&D data) three
eligible (two excluding each other), one unknown, one near miss with a date, one
automatic, and one it misses by two criteria."""

from __future__ import annotations

import datetime as dt

from tests.api.conftest import CLOSES, OPENS
from zhida.publishing.officers import add_officer
from zhida.publishing.versions import approve, submit
from zhida.store.db import session_scope

WINDOW = f"window: {{opens: {OPENS.isoformat()}, closes: {CLOSES.isoformat()}}}\n"


def policy(pid: str, title: str, criteria: str, extra: str = "", amount: str = "") -> str:
    benefit = f"benefit: {{amount: {amount}, summary: 奖励}}\n" if amount else ""
    return (
        f"id: {pid}\ntitle: {title}\ndepartment: 测试市经信局\naudience: enterprise\n"
        f"{WINDOW}{benefit}{extra}criteria:\n{criteria}"
    )


REV = "  - {id: revenue, label: 营业收入不低于1亿元, when: revenue >= 1亿}\n"
POLICIES = [
    policy("t-big", "测试市规上企业奖励", REV, "reference: 测试〔2026〕1号\n", "30万"),
    policy(
        "t-one",
        "测试市高企奖励（甲）",
        "  - {id: ht, label: 高新技术企业, when: high_tech}\n",
        "excludes: [t-two]\n",
        "10万",
    ),
    policy(
        "t-two",
        "测试市高企奖励（乙）",
        "  - {id: ht, label: 高新技术企业, when: high_tech}\n",
        "excludes: [t-one]\n",
        "25万",
    ),
    policy(
        "t-rd",
        "测试市研发投入补助",
        REV + "  - {id: rd, label: 研发费用不低于100万元, when: rd_expense >= 100万}\n",
        amount="rd_expense * 10%",
    ),
    policy(
        "t-old",
        "测试市老字号企业奖励",
        REV + "  - {id: age, label: 成立满10年, when: 'years_since(established) >= 10'}\n",
        amount="50万",
    ),
    policy(
        "t-auto",
        "测试市稳岗返还",
        "  - {id: staff, label: 职工人数不少于50人, when: employees >= 50}\n",
        "grant: automatic\n",
        "3万",
    ),
    policy(
        "t-far",
        "测试市大型企业奖励",
        "  - {id: rev, label: 营收10亿, when: revenue >= 10亿}\n"
        "  - {id: staff, label: 职工1000人, when: employees >= 1000}\n",
        amount="100万",
    ),
]


def publish_all(url: str) -> dict[str, int]:
    out: dict[str, int] = {}
    with session_scope(url) as s:
        officer = add_officer(s, "me-admin", "admin")[0]
        for text in POLICIES:
            pid = text.split("\n", 1)[0].removeprefix("id: ")
            version = submit(s, officer, text, f"{pid}.yaml")
            approve(s, officer, version, None, allow_self_approval=True)
            out[pid] = version.id
    return out


def publish_automatic(url: str, pid: str, excludes: str) -> None:
    """One more 免申即享 policy for 50 employees or more, excluding `excludes`."""
    text = policy(
        pid,
        "测试市稳岗补贴（另一项）",
        "  - {id: staff, label: 职工人数不少于50人, when: employees >= 50}\n",
        f"grant: automatic\nexcludes: [{excludes}]\n",
        "2万",
    )
    with session_scope(url) as s:
        officer = add_officer(s, f"{pid}-admin", "admin")[0]
        approve(s, officer, submit(s, officer, text, f"{pid}.yaml"), None, True)


AS_OF = dt.date.today()
