"""The real-time path (durable_rules) agrees with the batch evaluator.

Hypothesis writes random policies and fully known profiles (no missing values,
no zero divisors): every outcome must equal the vectorised evaluator's and be
judged by durable_rules itself. With missing values and zero divisors the
reference interpreter steps in and the outcomes still agree. The durable_rules
pitfalls measured in this project each have a test.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.factories import make_frame, make_policy, schemas_for_tests
from tests.support.strategies import (
    BOOL_FIELDS,
    DATE_FIELDS,
    NUM_FIELDS,
    STR_FIELDS,
    WORDS,
    criteria_yaml,
    examples,
    profiles,
)
from zhida.errors import ZhidaError
from zhida.matcher.batch import BatchEvaluator
from zhida.matcher.realtime import VIA_DURABLE, VIA_REFERENCE, RealtimeMatcher, RealtimeResult
from zhida.matcher.realtime_compile import MAX_LEAVES
from zhida.matcher.realtime_rulesets import Fired, handler
from zhida.matcher.reference import evaluate_policy
from zhida.profiles.events import apply_event, parse_event
from zhida.profiles.synth import synthesize_citizens, synthesize_enterprises
from zhida.rules.loader import load_pack
from zhida.rules.policy import Policy

SCHEMAS = schemas_for_tests()
SCHEMA = SCHEMAS["enterprise"]
AS_OF = dt.date(2026, 4, 1)
NAMES = ["ineligible", "unknown", "eligible"]
EXAMPLES = (int(os.environ.get("ZHIDA_HYPOTHESIS_EXAMPLES", "0")) or examples(300)) * 2 // 3
DEFINES = (
    "define:\n  ratio: 'rd_expense / revenue'\n  age: 'years_since(established)'\n"
    "  big: 'revenue >= 5000万 and employees > 10'\n"
)


# --------------------------------------------------------------------------- strategies
# As in tests/support/strategies.py, restricted so that every value is known: divisors are
# non-zero constants or fields (which the profiles below never leave at zero).

num_lit = st.sampled_from(
    ["0", "1", "2", "3", "10", "0.5", "15%", "1万", "1.5亿", "100", "0.001%", "0.0000001"]
)
divisor = st.one_of(
    st.sampled_from(["1", "3", "0.5", "15%", "1万", "0.001%"]), st.sampled_from(NUM_FIELDS)
)
date_lit = st.sampled_from(["2020-02-29", "2024-02-29", "2025-02-28", "2023-01-31", "2019-05-01"])
str_lit = st.sampled_from(
    ['"C39"', '"I65"', '"330106"', '"A"', '"B"', '"软件开发"', '""', '"say \\"hi\\""']
)


def known_exprs(depth: int) -> dict[str, st.SearchStrategy[str]]:
    if depth == 0:
        return {
            "num": st.one_of(num_lit, st.sampled_from([*NUM_FIELDS, "ratio", "age"])),
            "date": st.one_of(date_lit, st.sampled_from(DATE_FIELDS)),
            "str": st.one_of(str_lit, st.sampled_from(STR_FIELDS)),
            "bool": st.one_of(
                st.sampled_from(["true", "false", "big"]), st.sampled_from(BOOL_FIELDS)
            ),
        }
    sub = known_exprs(depth - 1)
    num, date, s, b = sub["num"], sub["date"], sub["str"], sub["bool"]
    cmp = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
    num_e = st.one_of(
        num,
        st.tuples(num, st.sampled_from(["+", "-", "*"]), num).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(num, divisor).map(lambda t: f"({t[0]} / {t[1]})"),
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
        st.tuples(st.sampled_from(["min", "max"]), date, date).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
    )
    str_e = st.one_of(s, st.tuples(b, s, s).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"))
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
        st.tuples(num, num, num, st.booleans()).map(
            lambda t: f"({'not ' if t[3] else ''}{t[0]} between {t[1]} and {t[2]})"
        ),
        st.tuples(date, date, date).map(lambda t: f"({t[0]} between {t[1]} and {t[2]})"),
        st.lists(st.sampled_from(['"33"', '"3301"', '"330106"', '"3302"']), max_size=3).map(
            lambda ps: f"in_region(region, [{', '.join(ps)}])"
        ),
        st.sampled_from(['"C"', '"C3"', '"I"', '""']).map(lambda p: f"starts_with(industry, {p})"),
        st.sampled_from(WORDS).map(lambda w: f'contains(business_scope, "{w}")'),
        st.sampled_from(WORDS).map(lambda w: f'("{w}" in tags)'),
        st.lists(st.sampled_from(WORDS), max_size=3).map(
            lambda ws: "contains_any(business_scope, [" + ", ".join(f'"{w}"' for w in ws) + "])"
        ),
        st.one_of(num, date, s, b).map(lambda x: f"is_known({x})"),
        st.tuples(b, b, b).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(b, b).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        st.tuples(str_e, s).map(lambda t: f"({t[0]} == {t[1]})"),
        st.tuples(num, cmp, num_e).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(num_e, cmp, num_e).map(lambda t: f"(not ({t[0]} {t[1]} {t[2]}))"),
        # negated comparisons of equal values: the boundary a wrong inversion gets wrong
        st.tuples(
            st.sampled_from(["employees", "patents", "10", "100"]),
            cmp,
            st.sampled_from(["employees", "patents", "10", "100"]),
        ).map(lambda t: f"(not ({t[0]} {t[1]} {t[2]}))"),
        st.tuples(date, cmp, date).map(lambda t: f"(not ({t[0]} {t[1]} {t[2]}))"),
        st.tuples(date_e, cmp, date).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
    )
    return {"num": num_e, "date": date_e, "str": str_e, "bool": bool_e}


KNOWN_BOOL = known_exprs(2)["bool"]
KNOWN_NUM = known_exprs(1)["num"]


def known_criteria() -> st.SearchStrategy[str]:
    return criteria_yaml(KNOWN_BOOL)


@st.composite
def known_profiles(draw: st.DrawFn) -> dict[str, object]:
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
    ints = st.one_of(
        st.sampled_from([1, 2, 3, 10, 100, 5000, 10_000, 50_000_000, 100_000_000, 10**17]),
        st.integers(1, 10**9),
    )
    numbers = st.one_of(ints, st.floats(1e-3, 1e9).map(lambda x: round(x, 3) or 1.0))
    p: dict[str, object] = {}
    for f in NUM_FIELDS:
        p[f] = draw(numbers if f in ("revenue", "rd_expense") else ints)
    for f in DATE_FIELDS:
        p[f] = draw(dates)
    p["industry"] = draw(st.sampled_from(["C39", "C38", "I65", "F51", ""]))
    p["region"] = draw(st.sampled_from(["330106", "330782", "330201", "110101"]))
    p["tax_credit"] = draw(st.sampled_from(["A", "B", "M", "C", "D"]))
    p["business_scope"] = draw(
        st.sampled_from(
            [
                "软件开发；集成电路设计",
                "贸易",
                "金属制品制造",
                "集成电路制造",
                "",
                'say "hi"',
                "a\\b",
            ]
        )
    )
    p["name"] = draw(st.sampled_from(["杭州某某科技有限公司", "宁波集成电路有限公司", 'say "hi"']))
    p["tags"] = draw(st.lists(st.sampled_from(WORDS), max_size=3))
    for f in BOOL_FIELDS:
        p[f] = draw(st.booleans())
    return p


# --------------------------------------------------------------------------- helpers


def _batch(
    policies: list[Policy], rows: list[dict[str, object]], as_of: dt.date
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    frame = make_frame(rows, SCHEMA)
    results = list(BatchEvaluator(policies, as_of, chunk_size=5).evaluate(frame, SCHEMA))
    outcome = np.concatenate([r.outcome for r in results], axis=1)
    codes = [np.concatenate([r.criteria[j] for r in results], axis=1) for j in range(len(policies))]
    benefits = [np.concatenate([r.benefit[j] for r in results]) for j in range(len(policies))]
    return outcome, codes, benefits


def _same_benefit(a: float | None, b: float) -> bool:
    return bool(np.isnan(b)) if a is None else a == b


def _check_against_batch(
    policies: list[Policy], rows: list[dict[str, object]], as_of: dt.date, *, all_durable: bool
) -> RealtimeMatcher:
    for i, r in enumerate(rows):
        r["id"] = f"E{i}"
    outcome, codes, benefits = _batch(policies, rows, as_of)
    matcher = RealtimeMatcher(policies, name_prefix="prop-")
    try:
        for i, row in enumerate(rows):
            got = matcher.match(row, "enterprise", as_of)
            assert [r.policy_id for r in got] == [p.id for p in policies]
            for j, (policy, res) in enumerate(zip(policies, got, strict=True)):
                ids = policy.criterion_ids()
                context = f"row {row}\npolicy {policy.id}:\n{policy.text}\n{res}"
                assert res.outcome == NAMES[outcome[j, i]], context
                assert res.failed == [ids[k] for k in range(len(ids)) if codes[j][k, i] == 0]
                assert res.unknown == [ids[k] for k in range(len(ids)) if codes[j][k, i] == 1]
                assert _same_benefit(res.benefit, benefits[j][i]), context
                if all_durable:
                    assert res.via == VIA_DURABLE, context
                if res.via == VIA_DURABLE:
                    assert res.outcome != "unknown", context
                else:
                    assert res.via == VIA_REFERENCE
        assert matcher.stats["disagreements"] == 0
    finally:
        matcher.close()
    return matcher


def _policies(criteria: list[str], benefit: str) -> list[Policy]:
    extra = f"benefit: {{amount: '{benefit}'}}\n{DEFINES}"
    return [
        make_policy(criteria=c, extra=extra, pid=f"p{k}", path=f"p{k}.yaml", schemas=SCHEMAS)
        for k, c in enumerate(criteria)
    ]


AS_OF_ST = st.sampled_from(
    [dt.date(2026, 4, 1), dt.date(2025, 2, 28), dt.date(2024, 2, 29), dt.date(2026, 12, 31)]
)


# --------------------------------------------------------------------------- properties


# random policies over fully known profiles; over profiles with missing values
KNOWN_CASES = {
    "criteria": st.lists(known_criteria(), min_size=1, max_size=3),
    "benefit": KNOWN_NUM,
    "rows": st.lists(known_profiles(), min_size=1, max_size=8),
    "as_of": AS_OF_ST,
}
MISSING_CASES = {
    "criteria": st.lists(criteria_yaml(), min_size=1, max_size=2),
    "benefit": KNOWN_NUM,
    "rows": st.lists(profiles(), min_size=1, max_size=8),
    "as_of": AS_OF_ST,
}
KNOWN_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck)
)
MISSING_SETTINGS = settings(
    max_examples=max(20, EXAMPLES // 3), deadline=None, suppress_health_check=list(HealthCheck)
)


@KNOWN_SETTINGS
@given(**KNOWN_CASES)
def test_known_profiles_are_judged_by_durable_rules_as_batch_does(
    criteria: list[str], benefit: str, rows: list[dict[str, object]], as_of: dt.date
) -> None:
    _check_against_batch(_policies(criteria, benefit), rows, as_of, all_durable=True)


@MISSING_SETTINGS
@given(**MISSING_CASES)
def test_missing_values_go_via_the_reference_and_still_agree(
    criteria: list[str], benefit: str, rows: list[dict[str, object]], as_of: dt.date
) -> None:
    _check_against_batch(_policies(criteria, benefit), rows, as_of, all_durable=False)


# --------------------------------------------------------------------------- examples


def _one(criteria: str, pid: str = "p1", extra: str = "") -> Policy:
    return make_policy(criteria=criteria, pid=pid, extra=extra, schemas=SCHEMAS)


def _match(policy: Policy, profile: dict[str, object], as_of: dt.date = AS_OF) -> RealtimeResult:
    with RealtimeMatcher([policy], name_prefix="ex-") as m:
        (res,) = m.match(profile, "enterprise", as_of)
    return res


REV_EMP = (
    "  - {id: rev, label: 营收, when: revenue >= 1亿}\n"
    "  - {id: emp, label: 人数, when: employees >= 10}\n"
)


def test_unknown_values_are_judged_by_the_reference() -> None:
    policy = _one(REV_EMP)
    res = _match(policy, {"id": "E1", "revenue": None, "employees": 50})
    assert (res.outcome, res.via, res.unknown) == ("unknown", VIA_REFERENCE, ["rev"])
    # false and unknown is false: still judged by the reference, which knows Kleene logic
    res = _match(policy, {"id": "E1", "revenue": None, "employees": 5})
    assert (res.outcome, res.via, res.failed, res.unknown) == (
        "ineligible",
        VIA_REFERENCE,
        ["emp"],
        ["rev"],
    )
    res = _match(
        _one("  - {id: r, label: 比例, when: rd_expense / revenue >= 3%}\n"),
        {"id": "E1", "rd_expense": 5, "revenue": 0},
    )  # a zero divisor is unknown
    assert (res.outcome, res.via) == ("unknown", VIA_REFERENCE)


def test_eligible_and_ineligible_come_from_durable_rules() -> None:
    policy = _one(REV_EMP, extra="benefit: {amount: 'revenue / 1万'}\n")
    res = _match(policy, {"id": "E1", "revenue": 1.5e8, "employees": 50})
    assert res == RealtimeResult("p1", "eligible", [], [], 15000.0, VIA_DURABLE)
    res = _match(policy, {"id": "E1", "revenue": 1.5e7, "employees": 5})
    assert res == RealtimeResult("p1", "ineligible", ["rev", "emp"], [], 1500.0, VIA_DURABLE)


def test_an_event_that_matches_nothing_does_not_raise() -> None:
    policy = _one(REV_EMP + "  - {id: sme, label: 专精特新, when: specialized_sme}\n")
    with RealtimeMatcher([policy], name_prefix="nothing-") as m:
        for _ in range(3):  # and again: nothing is left behind in the engine
            (res,) = m.match(
                {"id": "E1", "revenue": 1.0, "employees": 1, "specialized_sme": False},
                "enterprise",
                AS_OF,
            )
            assert (res.outcome, res.via) == ("ineligible", VIA_DURABLE)
        assert m.stats == {VIA_DURABLE: 3, VIA_REFERENCE: 0, "disagreements": 0}


def test_recompiling_the_same_policies_in_one_process_uses_distinct_names() -> None:
    policy = _one(REV_EMP)
    first = RealtimeMatcher([policy], name_prefix="same-")
    second = RealtimeMatcher([policy], name_prefix="same-")
    try:
        a, b = first.ruleset_names["p1"], second.ruleset_names["p1"]
        assert a != b
        assert a.startswith(f"same-p1-{policy.sha256[:8]}")
        first.close()  # closing one leaves the other working
        (res,) = second.match({"id": "E1", "revenue": 2e8, "employees": 20}, "enterprise", AS_OF)
        assert res.outcome == "eligible"
        changed = _one(REV_EMP.replace("1亿", "3亿"))  # a new version: a new name
        with RealtimeMatcher([changed], name_prefix="same-") as third:
            assert third.ruleset_names["p1"].startswith(f"same-p1-{changed.sha256[:8]}")
            assert changed.sha256[:8] != policy.sha256[:8]
            (res,) = third.match({"id": "E1", "revenue": 2e8, "employees": 20}, "enterprise", AS_OF)
            assert res.outcome == "ineligible"
    finally:
        first.close()
        second.close()
    with pytest.raises(ZhidaError, match="closed"):
        second.match({"id": "E1"}, "enterprise", AS_OF)


def test_two_thousand_profile_ids_in_a_row_do_not_exhaust_the_state_cache() -> None:
    # per-profile session ids fail after 1,024 in durable_rules; one fixed session does not
    policy = _one(REV_EMP)
    with RealtimeMatcher([policy], name_prefix="many-") as m:
        for i in range(2_000):
            revenue = 2e8 if i % 2 else 5e7
            (res,) = m.match(
                {"id": f"E{i:05d}", "revenue": revenue, "employees": 20}, "enterprise", AS_OF
            )
            assert (res.outcome, res.via) == ("eligible" if i % 2 else "ineligible", VIA_DURABLE)


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.parametrize("revenue", [2e8, 1e7, None], ids=["fired", "never-fired", "unposted"])
def test_closing_a_matcher_frees_the_engine_memory(revenue: float | None) -> None:
    # durable_rules' delete_ruleset leaves each session's pools behind (about 80 KB a
    # ruleset that saw an event), and its delete_state crashes on a session in which
    # no action ever ran: close() runs one, deletes the session, then the ruleset
    policy = _one(REV_EMP)
    profile = {"id": "E1", "revenue": revenue, "employees": 20}
    for _ in range(50):  # warm up allocators
        with RealtimeMatcher([policy], name_prefix="free-") as m:
            m.match(profile, "enterprise", AS_OF)
    before = _rss_mb()
    for _ in range(1_000):
        with RealtimeMatcher([policy], name_prefix="free-") as m:
            m.match(profile, "enterprise", AS_OF)
    assert _rss_mb() - before < 20  # leaking, it grows by about 80 MB


def test_numbers_durable_rules_cannot_read_as_python_writes_them() -> None:
    # 1e-05 and 1e+16 (no fraction before the exponent) are rejected by its JSON reader
    ratio = _one("  - {id: r, label: 比例, when: rd_expense / revenue >= 0.001%}\n")
    assert _match(ratio, {"rd_expense": 1, "revenue": 100_000}).outcome == "eligible"
    assert _match(ratio, {"rd_expense": 1, "revenue": 100_001}).outcome == "ineligible"
    assert _match(ratio, {"rd_expense": 1, "revenue": 100_001}).via == VIA_DURABLE
    huge = _one("  - {id: r, label: 大, when: revenue > 10000000000亿}\n")  # 1e+18
    assert _match(huge, {"revenue": 1e18 * 1.5}).outcome == "eligible"
    assert _match(huge, {"revenue": 1e18}).outcome == "ineligible"
    tiny = _one("  - {id: r, label: 小, when: rd_expense / revenue < 0.0000001}\n")
    assert _match(tiny, {"rd_expense": 1, "revenue": 1e8}).outcome == "eligible"  # 1e-08
    assert _match(tiny, {"rd_expense": 1, "revenue": 1e8}).via == VIA_DURABLE
    # 15% is the double nearest 0.15: 15 of 100 qualifies, as in the batch evaluator
    pct = _one("  - {id: r, label: 比例, when: rd_staff / employees >= 15%}\n")
    assert _match(pct, {"rd_staff": 15, "employees": 100}).outcome == "eligible"
    assert _match(pct, {"rd_staff": 14.999999, "employees": 100}).outcome == "ineligible"


def test_strings_with_quotes_and_chinese_text() -> None:
    policy = _one(
        r"""  - {id: n, label: 名称, when: 'name == "say \"hi\""'}"""
        "\n"
        "  - {id: s, label: 范围, when: 'business_scope != \"软件\"'}\n"
    )
    assert policy.criteria[0].when is not None
    assert _match(policy, {"name": 'say "hi"', "business_scope": "软件开发"}).outcome == "eligible"
    assert _match(policy, {"name": 'say "hi', "business_scope": "软件开发"}).outcome == "ineligible"
    assert _match(policy, {"name": 'say "hi"', "business_scope": "软件"}).outcome == "ineligible"


def test_large_conditions_are_shrunk_to_fit_durable_rules() -> None:
    # 60 matching branches of one any: would overflow durable_rules' 64-entry stack;
    # an all: of 16 any: groups would exceed its 31 expression entries per rule
    wide = "  - id: w\n    label: 宽\n    any:\n" + "".join(
        f"      - {{id: w{k}, label: 条件{k}, when: employees >= {k}}}\n" for k in range(60)
    )
    deep = "  - id: d\n    label: 深\n    all:\n" + "".join(
        f"      - id: g{k}\n        label: 组{k}\n        any:\n"
        f"          - {{id: g{k}a, label: a, when: patents >= {k}}}\n"
        f"          - {{id: g{k}b, label: b, when: 'industry == \"C{k}\"'}}\n"
        for k in range(16)
    )
    for crit in (wide, deep):
        policy = _one(crit)
        for profile in (
            {"employees": 100, "patents": 20, "industry": "C39"},
            {"employees": 0, "patents": 3, "industry": "C5"},
            {"employees": 30, "patents": 15, "industry": "C15"},
        ):
            res = _match(policy, profile)
            assert res.outcome == evaluate_policy(policy, profile, AS_OF).outcome
            assert res.via == VIA_DURABLE
    assert MAX_LEAVES < 64


def test_audiences_are_kept_apart_and_kinds_checked() -> None:
    ent = _one(REV_EMP, pid="ent")
    cit = make_policy(
        criteria="  - {id: age, label: 年龄, when: years_since(birth_date) < 35}\n",
        pid="cit",
        audience="citizen",
        path="cit.yaml",
    )
    with RealtimeMatcher([ent, cit], name_prefix="aud-") as m:
        got = m.match({"id": "P1", "birth_date": dt.date(1995, 1, 1)}, "citizen", AS_OF)
        assert [(r.policy_id, r.outcome, r.via) for r in got] == [("cit", "eligible", VIA_DURABLE)]
        assert [r.policy_id for r in m.match({"id": "E1"}, "enterprise", AS_OF)] == ["ent"]
        with pytest.raises(ZhidaError, match="unknown profile kind"):
            m.match({"id": "X"}, "robot", AS_OF)


def test_handlers_take_one_parameter_and_no_dispatch_thread_runs() -> None:
    # a two-parameter handler is async to durable_rules and its errors are swallowed
    assert len(inspect.signature(handler(Fired())).parameters) == 1
    before = threading.active_count()
    with RealtimeMatcher([_one(REV_EMP)], name_prefix="threads-") as m:
        m.match({"id": "E1", "revenue": 2e8, "employees": 20}, "enterprise", AS_OF)
        assert threading.active_count() == before


def test_duplicate_policy_ids_are_refused() -> None:
    with pytest.raises(ZhidaError, match="unique"):
        RealtimeMatcher([_one(REV_EMP), _one(REV_EMP)])


def test_a_profile_update_event_finds_a_newly_qualifying_company() -> None:
    policy = _one(REV_EMP)
    profile: dict[str, object] = {"id": "E1", "revenue": 5e7, "employees": 20}
    with RealtimeMatcher([policy], name_prefix="event-") as m:
        assert m.match(profile, "enterprise", AS_OF)[0].outcome == "ineligible"
        event = parse_event(
            '{"type": "profile.updated", "profile": "E1", "kind": "enterprise",'
            ' "fields": {"revenue": "1.2亿"}}'
        )
        profile = apply_event(profile, event)
        (res,) = m.match(profile, event.kind, AS_OF)
        assert (res.outcome, res.via) == ("eligible", VIA_DURABLE)


def test_the_example_pack_agrees_with_the_batch_evaluator() -> None:
    pack = load_pack([Path(__file__).parents[2] / "examples" / "policies"])
    assert not pack.errors
    frames = {
        "enterprise": synthesize_enterprises(400, seed=5, schemas=pack.schemas),
        "citizen": synthesize_citizens(400, seed=5, schemas=pack.schemas),
    }
    with RealtimeMatcher(pack.policies, name_prefix="pack-") as m:
        for kind, frame in frames.items():
            policies = [p for p in pack.policies if p.audience == kind]
            schema = pack.schemas[kind]
            batch = list(BatchEvaluator(policies, AS_OF).evaluate(frame, schema))
            outcome = np.concatenate([r.outcome for r in batch], axis=1)
            for i, row in enumerate(frame.to_dicts()):
                got = m.match(row, kind, AS_OF)
                assert [NAMES[o] for o in outcome[:, i]] == [r.outcome for r in got], row
        assert m.stats["disagreements"] == 0
        assert m.stats[VIA_DURABLE] > m.stats[VIA_REFERENCE] > 0


def test_matcher_is_usable_from_several_threads() -> None:
    policy = _one(REV_EMP)
    errors: list[BaseException] = []
    with RealtimeMatcher([policy], name_prefix="mt-") as m:

        def work(k: int) -> None:
            try:
                for i in range(200):
                    revenue = 2e8 if (i + k) % 2 else 1e7
                    (res,) = m.match(
                        {"id": f"E{k}-{i}", "revenue": revenue, "employees": 20},
                        "enterprise",
                        AS_OF,
                    )
                    assert res.outcome == ("eligible" if (i + k) % 2 else "ineligible")
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
