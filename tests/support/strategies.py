"""Hypothesis strategies shared by several test modules: random policy expressions of
each type, criteria blocks and enterprise profiles over the fields of
`tests.support.factories.schemas_for_tests()`; and `examples(n)`, a test's example
count under the loaded Hypothesis profile (see tests/conftest.py)."""

from __future__ import annotations

import datetime as dt

from hypothesis import settings
from hypothesis import strategies as st


def examples(ci: int) -> int:
    """`ci` examples under the `ci` profile; the same share of the loaded profile's
    max_examples under another (`dev`: a tenth), but at least 5 (or `ci`, if fewer)."""
    from tests.conftest import HYPOTHESIS_CI_EXAMPLES

    scaled = ci * settings.default.max_examples // HYPOTHESIS_CI_EXAMPLES
    return max(min(ci, 5), scaled)


NUM_FIELDS = ["employees", "revenue", "rd_expense", "rd_staff", "invention_patents", "patents"]
DATE_FIELDS = ["established", "certified"]
STR_FIELDS = ["industry", "region", "tax_credit", "business_scope", "name"]
BOOL_FIELDS = ["high_tech", "specialized_sme"]
WORDS = ["软件", "集成电路", "制造", "贸易", "C", "33", "3301"]

num_lit = st.sampled_from(["0", "1", "2", "3", "10", "0.5", "15%", "1万", "1.5亿", "100"])
date_lit = st.sampled_from(["2020-02-29", "2024-02-29", "2025-02-28", "2023-01-31", "2019-05-01"])
str_lit = st.sampled_from(['"C39"', '"I65"', '"330106"', '"A"', '"B"', '"软件开发"', '""'])


def _join(op: str, parts: list[str]) -> str:
    return "(" + f" {op} ".join(parts) + ")"


def exprs(depth: int) -> dict[str, st.SearchStrategy[str]]:
    """Strategies for expressions of each type, `depth` levels deep."""
    if depth == 0:
        return {
            "num": st.one_of(num_lit, st.sampled_from(NUM_FIELDS)),
            "date": st.one_of(date_lit, st.sampled_from(DATE_FIELDS)),
            "str": st.one_of(str_lit, st.sampled_from(STR_FIELDS)),
            "bool": st.one_of(st.sampled_from(["true", "false"]), st.sampled_from(BOOL_FIELDS)),
        }
    sub = exprs(depth - 1)
    num, date, s, b = sub["num"], sub["date"], sub["str"], sub["bool"]
    num_e = st.one_of(
        num,
        st.tuples(num, st.sampled_from(["+", "-", "*", "/"]), num).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        num.map(lambda x: f"-{x}" if not x.startswith("-") else x),
        st.tuples(
            st.sampled_from(["years_since", "months_since", "days_since", "days_until"]), date
        ).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(b, num, num).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(num, num).map(
            lambda t: f"band({t[0]}, [[1亿, 30], [5000万, 20], [0, 5]], {t[1]})"
        ),
        st.tuples(num, num).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        st.tuples(st.sampled_from(["min", "max"]), st.lists(num, min_size=1, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        num.map(lambda x: f"abs({x})"),
        st.sampled_from(["len(business_scope)", "len(tags)", "len(name)"]),
        st.sampled_from(WORDS).map(lambda w: f'fuzzy(business_scope, "{w}")'),
    )
    date_e = st.one_of(
        date,
        st.tuples(b, date, date).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(date, date).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        st.tuples(st.sampled_from(["min", "max"]), date, date).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
    )
    str_e = st.one_of(
        s,
        st.tuples(b, s, s).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(s, s).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
    )
    cmp = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
    bool_e = st.one_of(
        b,
        st.tuples(b, st.sampled_from(["and", "or"]), b).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        b.map(lambda x: f"(not {x})"),
        st.tuples(num, cmp, num).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(date, cmp, date).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(s, st.sampled_from(["==", "!="]), s).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(b, st.sampled_from(["==", "!="]), b).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(s, st.sampled_from(["in", "not in"]), st.lists(str_lit, max_size=3)).map(
            lambda t: f"({t[0]} {t[1]} [{', '.join(t[2])}])"
        ),
        st.tuples(num, st.lists(num, max_size=3)).map(lambda t: f"({t[0]} in [{', '.join(t[1])}])"),
        st.tuples(num, num, num).map(lambda t: f"({t[0]} between {t[1]} and {t[2]})"),
        st.tuples(date, date, date).map(lambda t: f"({t[0]} between {t[1]} and {t[2]})"),
        st.lists(st.sampled_from(['"33"', '"3301"', '"330106"', '"3302"']), max_size=3).map(
            lambda ps: f"in_region(region, [{', '.join(ps)}])"
        ),
        st.sampled_from(['"C"', '"C3"', '"I"', '""']).map(lambda p: f"starts_with(industry, {p})"),
        st.sampled_from(WORDS).map(lambda w: f'contains(business_scope, "{w}")'),
        st.sampled_from(WORDS).map(lambda w: f'contains(tags, "{w}")'),
        st.sampled_from(WORDS).map(lambda w: f'("{w}" in tags)'),
        st.lists(st.sampled_from(WORDS), max_size=3).map(
            lambda ws: "contains_any(business_scope, [" + ", ".join(f'"{w}"' for w in ws) + "])"
        ),
        st.one_of(num, date, s, b).map(lambda x: f"is_known({x})"),
        st.tuples(b, b, b).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(b, b).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        st.tuples(str_e, s).map(lambda t: f"({t[0]} == {t[1]})"),
        st.tuples(num, cmp, num_e).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(date_e, cmp, date).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    )
    return {"num": num_e, "date": date_e, "str": str_e, "bool": bool_e}


BOOL_EXPR = exprs(2)["bool"]
NUM_EXPR = exprs(1)["num"]


@st.composite
def criteria_yaml(draw: st.DrawFn, conditions: st.SearchStrategy[str] | None = None) -> str:
    """Top-level criteria, some nested in all:/any:, with unique ids; `when:` expressions
    drawn from `conditions` (default: any boolean expression)."""
    if conditions is None:  # not `or`: bool() of a strategy builds its whole repr
        conditions = BOOL_EXPR
    lines = []
    counter = [0]

    def crit(indent: str, depth: int) -> list[str]:
        counter[0] += 1
        cid = f"c{counter[0]}"
        kind = draw(st.sampled_from(["when", "when", "all", "any"])) if depth < 2 else "when"
        if kind == "when":
            expr = draw(conditions).replace("'", "''")
            return [
                f"{indent}- id: {cid}",
                f"{indent}  label: 条件{cid}",
                f"{indent}  when: '{expr}'",
            ]
        out = [f"{indent}- id: {cid}", f"{indent}  label: 组合{cid}", f"{indent}  {kind}:"]
        for _ in range(draw(st.integers(1, 3))):
            out.extend(crit(indent + "    ", depth + 1))
        return out

    for _ in range(draw(st.integers(1, 4))):
        lines.extend(crit("  ", 0))
    return "\n".join(lines) + "\n"


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, object]:
    def maybe(strategy: st.SearchStrategy[object]) -> object:
        return draw(st.one_of(st.none(), strategy))

    dates = st.one_of(
        st.sampled_from(
            [
                dt.date(2020, 2, 29),
                dt.date(2024, 2, 29),
                dt.date(2023, 1, 31),
                dt.date(2025, 2, 28),
                dt.date(2026, 4, 1),
                dt.date(2026, 3, 31),
            ]
        ),
        st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)),
    )
    small = st.sampled_from([0, 1, 2, 3, 10, 100, 5000, 10_000, 50_000_000, 100_000_000])
    p: dict[str, object] = {"id": "x"}
    for f in NUM_FIELDS:
        p[f] = maybe(small)
    for f in DATE_FIELDS:
        p[f] = maybe(dates)
    p["industry"] = maybe(st.sampled_from(["C39", "C38", "I65", "F51", ""]))
    p["region"] = maybe(st.sampled_from(["330106", "330782", "330201", "110101"]))
    p["tax_credit"] = maybe(st.sampled_from(["A", "B", "M", "C", "D"]))
    p["business_scope"] = maybe(
        st.sampled_from(["软件开发；集成电路设计", "贸易", "金属制品制造", "集成电路制造", ""])
    )
    p["name"] = maybe(st.sampled_from(["杭州某某科技有限公司", "宁波集成电路有限公司"]))
    p["tags"] = maybe(st.lists(st.sampled_from(WORDS), max_size=3))
    for f in BOOL_FIELDS:
        p[f] = maybe(st.booleans())
    return p


DATE_FUNCTIONS = ["years_since", "months_since", "days_since", "days_until"]
#: named values for near-miss policies: a date function's value, and date tests
NEAR_DEFINES = (
    "define: {age: 'years_since(established)', cert_days: 'days_until(certified)', "
    "fresh: 'months_since(certified) between 0 and 11', old: 'age >= 3'}\n"
)
#: thresholds worth testing for each unit: around 0 (dates in the future count negative,
#: truncated towards zero), a few units, and non-integers
_UNIT_CONSTS = {
    "years_since": ["-2", "-1", "0", "1", "2", "3", "5", "2.5"],
    "months_since": ["-13", "-12", "-1", "0", "1", "6", "11", "12", "36", "0.5"],
    "days_since": ["-400", "-30", "-1", "0", "1", "30", "365", "400"],
    "days_until": ["-400", "-30", "-1", "0", "1", "30", "365", "400"],
}
_DEFINED = {"age": "years_since", "cert_days": "days_until"}


@st.composite
def _date_test(draw: st.DrawFn) -> str:
    """A date function (directly or through NEAR_DEFINES' names) compared with constants."""
    name = draw(st.sampled_from([*DATE_FUNCTIONS, *DATE_FUNCTIONS, *_DEFINED]))
    fn = _DEFINED.get(name, name)
    call = name if name in _DEFINED else f"{fn}({draw(st.sampled_from(DATE_FIELDS))})"
    const = st.sampled_from(_UNIT_CONSTS[fn])
    form = draw(st.integers(0, 3))
    op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
    if form == 0:
        return f"({call} {op} {draw(const)})"
    if form == 1:
        return f"({draw(const)} {op} {call})"
    if form == 2:
        lo, hi = sorted([draw(const), draw(const)], key=float)
        return f"({call} between {lo} and {hi})"
    return draw(st.sampled_from(["fresh", "old"]))


def _near_conditions() -> st.SearchStrategy[str]:
    test = _date_test()
    plain = exprs(0)["bool"] | st.sampled_from(["revenue >= 1亿", "employees < 100"])
    part = test | plain
    return st.one_of(
        test,
        test,
        test,
        st.tuples(part, st.sampled_from(["and", "or"]), part).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(
            test, st.sampled_from(["and", "or"]), test, st.sampled_from(["and", "or"]), part
        ).map(lambda t: f"({t[0]} {t[1]} ({t[2]} {t[3]} {t[4]}))"),
        test.map(lambda x: f"(not {x})"),
        st.sampled_from(DATE_FUNCTIONS).map(lambda f: f"({f}(established) * 2 >= 3)"),
    )


#: `when:` conditions for near-miss tests: mostly date tests, some mixed with others
NEAR_CONDITIONS = _near_conditions()
