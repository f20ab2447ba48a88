"""Entity resolution: name normalisation, the matching rule, blocking (pure, no database)."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.factories import make_frame
from tests.support.strategies import examples
from zhida.profiles.resolve import (
    MERGE_SCORE,
    PLACE_NAMES,
    REVIEW_SCORE,
    Action,
    FrameStore,
    name_score,
    normalize_name,
    normalize_names,
    resolve,
)
from zhida.profiles.resolve import by_name as rs
from zhida.profiles.schema import Audience, SchemaSet
from zhida.profiles.uscc import make_uscc

E, C = Audience.ENTERPRISE, Audience.CITIZEN
SCHEMAS = SchemaSet.builtin()
U1 = make_uscc("91330106MA2AAAAA1")
U2 = make_uscc("91330106MA2BBBBB2")
U3 = make_uscc("91330106MA2CCCCC3")
P1, P2 = "+8613800000001", "+8613900000002"


def store(*rows: dict[str, Any], links: dict[str, str] | None = None) -> FrameStore:
    """A store of profiles; rows carry `kind` (default enterprise) and their fields."""
    cols = ["id", "kind", "uscc", "name", "region", "phone", "id_hash"]
    data = {c: [r.get(c, "enterprise" if c == "kind" else None) for r in rows] for c in cols}
    return FrameStore(pl.DataFrame(data, schema=dict.fromkeys(cols, pl.String)), links or {})


def ent(*rows: dict[str, Any]) -> pl.DataFrame:
    return make_frame(list(rows), SCHEMAS[E])


def cit(*rows: dict[str, Any]) -> pl.DataFrame:
    return make_frame(list(rows), SCHEMAS[C])


def one(frame: pl.DataFrame, kind: Audience, st_: FrameStore) -> dict[str, Any]:
    out = resolve(frame, kind, st_)
    assert out.height == frame.height == 1
    return out.row(0, named=True)


HANGZHOU = {"id": "E1", "uscc": U1, "name": "杭州某某科技有限公司", "region": "330106", "phone": P1}

# =========================================================================== normalisation


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("杭州某某科技有限公司", "某某科技有限公司"),
        ("某某科技有限责任公司", "某某科技有限公司"),
        ("某某科技股份有限公司", "某某科技有限公司"),
        ("浙江省杭州市某某科技有限公司", "某某科技有限公司"),
        ("浙江某某科技有限公司", "某某科技有限公司"),
        ("杭州市余杭区某某科技有限公司", "某某科技有限公司"),
        ("某某（杭州）科技有限公司", "某某科技有限公司"),
        ("某某(中国)有限公司", "某某有限公司"),
        ("【浙江】某某科技有限公司", "某某科技有限公司"),
        ("ＡＢＣ（杭州）信息技术有限公司", "abc信息技术有限公司"),
        ("某某 · 科技  有限公司", "某某科技有限公司"),
        ("某某科技有限公司（上城分公司）", "某某科技有限公司上城分公司"),
        ("杭州有限公司", "杭州有限公司"),  # nothing would be left: the place stays
        ("义乌", "义乌"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_name_examples(raw: str | None, normal: str) -> None:
    assert normalize_name(raw) == normal


def test_normalize_names_vector_matches_scalar_and_keeps_nulls() -> None:
    names = ["杭州某某科技有限公司", None, "ＡＢＣ（杭州）公司", "某某科技有限责任公司"]
    out = normalize_names(pl.Series("name", names, dtype=pl.String))
    assert out.name == "name"
    assert out.to_list() == [normalize_name(n) if n is not None else None for n in names]


def test_name_score_on_core_names() -> None:
    assert name_score("杭州某某科技有限公司", "某某科技有限责任公司") == 100.0
    assert name_score("华新纺织有限公司", "华新纺丝有限公司") == 75.0  # the suffix does not pad it
    assert name_score("有限公司", "有限公司") == 0.0  # no core name, no match
    assert name_score(None, "某某") == 0.0


# --------------------------------------------------------------------------- properties

_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))
_BRAND = [
    c
    for c in "华新恒鑫泰通达瑞丰宏盛隆远天金永明光诚信德佳美创博正东方源兴旺力康福润嘉和宇睿航腾"
    "飞星辰智联汇凯悦卓越锦晟弘翔豪鸿昌荣帆银利顺浩佰亿优尚品众宸科技贸易纺织机械电子"
    if not any(c in p for p in PLACE_NAMES) and c not in "股份有限责任公司"
]
_SUFFIXES = ["有限公司", "有限责任公司", "股份有限公司"]
_PLACES = ["浙江省", "浙江", "杭州市", "杭州", "浙江省杭州市", "宁波", "义乌市", "北京"]


def _fullwidth(s: str) -> str:
    return "".join(
        chr(ord(c) + 0xFEE0) if 0x21 <= ord(c) <= 0x7E else ("\u3000" if c == " " else c) for c in s
    )


brand = st.text(alphabet=st.sampled_from(_BRAND), min_size=2, max_size=8)
mixed = st.text(alphabet=st.sampled_from([*_BRAND, *_ASCII, " ", "（", "）", "·"]), max_size=20)


@settings(max_examples=examples(200), deadline=None)
@given(st.text(max_size=30))
def test_normalisation_is_idempotent(text: str) -> None:
    once = normalize_name(text)
    assert normalize_name(once) == once


@settings(max_examples=examples(300), deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("股份有限责任公司杭州浙江省市义乌某(（)） a")), max_size=24
    )
)
def test_normalisation_is_idempotent_on_suffix_and_place_words(text: str) -> None:
    once = normalize_name(text)
    assert normalize_name(once) == once


@settings(max_examples=examples(150), deadline=None)
@given(mixed)
def test_normalisation_ignores_full_width(text: str) -> None:
    assert normalize_name(_fullwidth(text)) == normalize_name(text)


@settings(max_examples=examples(150), deadline=None)
@given(
    brand, brand, st.sampled_from(["（）", "()", "【】", "[]", "〔〕"]), st.sampled_from(_SUFFIXES)
)
def test_normalisation_ignores_bracket_style(a: str, b: str, pair: str, suffix: str) -> None:
    plain = normalize_name(f"{a}({b}){suffix}")
    assert normalize_name(f"{a}{pair[0]}{b}{pair[1]}{suffix}") == plain


@settings(max_examples=examples(150), deadline=None)
@given(
    brand,
    st.sampled_from(_SUFFIXES),
    st.sampled_from(_SUFFIXES),
    st.one_of(st.just(""), st.sampled_from(_PLACES)),
)
def test_normalisation_ignores_suffix_variant_and_leading_place(
    base: str, s1: str, s2: str, place: str
) -> None:
    assert normalize_name(place + base + s1) == normalize_name(base + s2) == base + "有限公司"
    assert normalize_name(f"{base}（{place or '杭州'}）{s1}") == base + "有限公司"


# =========================================================================== the rule


def test_same_uscc_is_the_same_entity_whatever_the_name() -> None:
    r = one(
        ent({"id": "X9", "uscc": U1, "name": "完全不同的名字有限公司", "region": "330281"}),
        E,
        store(HANGZHOU),
    )
    assert (r["action"], r["target"], r["rule"]) == ("merge", "E1", "uscc")


def test_city_prefix_and_suffix_variant_in_same_region_merge() -> None:
    r = one(
        ent({"id": "S1", "name": "某某科技有限责任公司", "region": "330106"}), E, store(HANGZHOU)
    )
    assert (r["action"], r["target"], r["rule"], r["score"]) == ("merge", "E1", "name", 100.0)
    assert "地区相同" in r["reason"]


def test_same_phone_agrees_like_the_same_region() -> None:
    r = one(
        ent({"id": "S1", "name": "某某科技有限公司", "region": "330281", "phone": P1}),
        E,
        store(HANGZHOU),
    )
    assert (r["action"], r["target"]) == ("merge", "E1")
    assert "电话相同" in r["reason"]


def test_same_name_different_region_and_phone_goes_to_review() -> None:
    r = one(
        ent({"id": "S1", "name": "杭州某某科技有限公司", "region": "330281", "phone": P2}),
        E,
        store(HANGZHOU),
    )
    assert (r["action"], r["target"], r["candidate"]) == ("review", None, "E1")
    assert r["score"] == 100.0
    assert "地区不同" in r["reason"] and "电话不同" in r["reason"]


def test_same_name_without_region_or_phone_goes_to_review() -> None:
    r = one(ent({"id": "S1", "name": "某某科技有限公司"}), E, store(HANGZHOU))
    assert (r["action"], r["candidate"]) == ("review", "E1")
    assert "地区缺失" in r["reason"]


def test_similar_name_same_region_goes_to_review() -> None:
    st_ = store({"id": "E1", "name": "杭州华新精密机械制造有限公司", "region": "330106"})
    r = one(ent({"id": "S1", "name": "华新精密机械有限公司", "region": "330106"}), E, st_)
    assert REVIEW_SCORE <= r["score"] < MERGE_SCORE
    assert (r["action"], r["candidate"]) == ("review", "E1")
    assert "低于自动合并阈值" in r["reason"]


def test_clearly_different_is_new() -> None:
    r = one(
        ent({"id": "S1", "name": "宁波东方贸易有限公司", "region": "330106", "phone": P1}),
        E,
        store(HANGZHOU),
    )
    assert (r["action"], r["target"], r["candidate"]) == ("new", "S1", None)


def test_full_width_brackets_match() -> None:
    st_ = store({"id": "E1", "name": "某某（杭州）科技有限公司", "region": "330106"})
    r = one(ent({"id": "S1", "name": "某某(杭州)科技有限公司", "region": "330106"}), E, st_)
    assert (r["action"], r["target"], r["score"]) == ("merge", "E1", 100.0)


def test_two_confident_candidates_are_ambiguous() -> None:
    st_ = store(
        {"id": "E1", "name": "杭州某某科技有限公司", "region": "330106"},
        {"id": "E2", "name": "某某科技股份有限公司", "region": "330106"},
    )
    r = one(ent({"id": "S1", "name": "某某科技有限公司", "region": "330106"}), E, st_)
    assert (r["action"], r["candidate"]) == ("review", "E1")
    assert "E1" in r["reason"] and "E2" in r["reason"]


def test_one_agreeing_candidate_beats_a_same_name_elsewhere() -> None:
    st_ = store(
        {"id": "E1", "name": "某某科技有限公司", "region": "330281"},
        {"id": "E2", "name": "某某科技有限公司", "region": "330106"},
    )
    r = one(ent({"id": "S1", "name": "某某科技有限公司", "region": "330106"}), E, st_)
    assert (r["action"], r["target"]) == ("merge", "E2")


def test_different_usccs_are_never_merged_by_name() -> None:
    r = one(
        ent({"id": "S1", "uscc": U2, "name": "杭州某某科技有限公司", "region": "330106"}),
        E,
        store(HANGZHOU),
    )
    assert (r["action"], r["target"]) == ("new", "S1")


def test_a_uscc_fills_a_stored_profile_without_one() -> None:
    st_ = store({"id": "E1", "name": "杭州某某科技有限公司", "region": "330106"})
    r = one(ent({"id": "S1", "uscc": U2, "name": "某某科技有限公司", "region": "330106"}), E, st_)
    assert (r["action"], r["target"]) == ("merge", "E1")


def test_own_id_updates_and_other_kind_conflicts() -> None:
    st_ = store(HANGZHOU, {"id": "C1", "kind": "citizen", "id_hash": "h1"})
    out = resolve(
        ent({"id": "E1", "name": "别的名字有限公司"}, {"id": "C1", "name": "某人"}), E, st_
    )
    assert out["action"].to_list() == ["update", "conflict"]
    assert out["target"].to_list() == ["E1", None]
    assert "个人档案" in out["reason"][1]


def test_alias_from_an_earlier_link_updates_the_linked_profile() -> None:
    r = one(ent({"id": "S1", "name": "别的名字有限公司"}), E, store(HANGZHOU, links={"S1": "E1"}))
    assert (r["action"], r["target"], r["rule"]) == ("update", "E1", "alias")


def test_same_uscc_twice_in_one_file_is_one_entity() -> None:
    out = resolve(
        ent(
            {"id": "A1", "uscc": U3, "name": "甲有限公司"},
            {"id": "A2", "uscc": U3, "name": "甲公司"},
            {"id": "A3", "uscc": U1, "name": "乙公司"},
            {"id": "E1", "uscc": U1, "name": "杭州某某科技有限公司"},
        ),
        E,
        store(HANGZHOU),
    )
    rows = out.select("action", "target", "rule").rows()
    assert rows == [
        ("new", "A1", None),
        ("merge", "A1", "uscc-in-file"),
        ("merge", "E1", "uscc"),
        ("update", "E1", "id"),
    ]


def test_a_row_following_a_review_goes_to_review_too() -> None:
    out = resolve(
        ent(
            {"id": "S1", "uscc": U3, "name": "杭州某某科技有限公司", "region": "330281"},
            {"id": "S2", "uscc": U3, "name": "某某科技", "region": "330281"},
        ),
        E,
        store({**HANGZHOU, "uscc": None}),
    )
    assert out["action"].to_list() == ["review", "review"]
    assert out["candidate"].to_list() == ["E1", "E1"]
    assert "编号 S1" in out["reason"][1]


def test_citizens_resolve_by_id_hash_only() -> None:
    st_ = store({"id": "C1", "kind": "citizen", "id_hash": "h1", "name": "张伟"})
    out = resolve(
        cit(
            {"id": "P1", "id_hash": "h1", "name": "张三"},
            {"id": "P2", "id_hash": "h2", "name": "张伟"},
            {"id": "P3", "name": "张伟"},
        ),
        C,
        st_,
    )
    assert out.select("action", "target").rows() == [("merge", "C1"), ("new", "P2"), ("new", "P3")]


def test_nameless_rows_are_new() -> None:
    r = one(ent({"id": "S1", "region": "330106"}), E, store(HANGZHOU))
    assert (r["action"], r["target"]) == ("new", "S1")


def test_empty_input_and_empty_store() -> None:
    assert resolve(ent(), E, store()).height == 0
    out = resolve(ent({"id": "S1", "name": "某某"}), E, store())
    assert out["action"].to_list() == ["new"]


# =========================================================================== blocking


def test_a_typo_in_the_first_characters_is_found_through_the_phone() -> None:
    st_ = store({"id": "E1", "name": "华新精密机械制造有限公司", "region": "330106", "phone": P1})
    typo = {"id": "S1", "name": "化新精密机械制造有限公司", "region": "330106"}
    assert one(ent(typo), E, st_)["action"] == "new"  # not in any block with E1
    r = one(ent({**typo, "phone": P1}), E, st_)
    assert (r["action"], r["candidate"]) == ("review", "E1")


def test_a_typo_in_the_second_character_is_found_through_the_region() -> None:
    st_ = store({"id": "E1", "name": "华新精密机械制造有限公司", "region": "330106"})
    r = one(ent({"id": "S1", "name": "华兴精密机械制造有限公司", "region": "330106"}), E, st_)
    assert (r["action"], r["candidate"]) == ("review", "E1")


def test_oversized_name_blocks_are_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rs, "MAX_BLOCK", 3)
    others = [
        {"id": f"E{i}", "name": f"华新{chr(0x4E00 + i)}机械有限公司", "region": "330281"}
        for i in range(10, 20)
    ]
    st_ = store(*others, {"id": "E1", "name": "华新精密机械有限公司", "region": "330106"})
    r = one(ent({"id": "S1", "name": "杭州华新精密机械有限公司", "region": "330106"}), E, st_)
    assert (r["action"], r["target"]) == ("merge", "E1")
    pairs_before = rs._prefix_keys(pl.Series(["华新精密"]), pl.Series([o["name"] for o in others]))
    assert pairs_before[0].to_list() == ["华新精"]


def test_many_rows_resolve_in_blocks() -> None:
    from zhida.profiles.synth import synthesize_enterprises

    stored = synthesize_enterprises(3000, seed=3)
    st_ = FrameStore(stored.with_columns(pl.lit("enterprise").alias("kind")))
    # a second source: other ids, no uscc, the names spelled differently
    incoming = stored.head(300).with_columns(
        ("S" + pl.col("id")).alias("id"),
        pl.lit(None, dtype=pl.String).alias("uscc"),
        (pl.col("name").str.replace("有限公司$", "有限责任公司")).alias("name"),
    )
    out = resolve(incoming, E, st_)
    by = dict(out.group_by("action").len().iter_rows())
    merged = out.filter(pl.col("action") == "merge")
    # every merge points at the profile the row was made from
    assert (merged["target"] == ("E" + merged["target"].str.slice(1))).all()
    src = incoming.with_row_index("row").select(
        pl.col("row").cast(pl.Int64), pl.col("id").str.slice(1).alias("orig")
    )
    check = merged.join(src, on="row")
    assert (check["target"] == check["orig"]).all()
    assert by.get("merge", 0) >= 250  # the rest: ambiguous synthetic look-alikes, reviewed
    assert by.get("new", 0) == 0


def test_action_values() -> None:
    assert {a.value for a in Action} == {"update", "merge", "new", "review", "conflict"}
