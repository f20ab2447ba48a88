from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from zhida.profiles.readers import polars_dtype, read_profiles
from zhida.profiles.schema import Audience, Field, FieldType, SchemaSet
from zhida.profiles.synth import (
    SYNTH_AS_OF,
    synth_to_file,
    synthesize_citizens,
    synthesize_enterprises,
)
from zhida.profiles.uscc import uscc_valid_mask
from zhida.profiles.validate import phone_valid_mask

E, C = Audience.ENTERPRISE, Audience.CITIZEN
N = 50_000
CITY_PREFIXES = "杭州|宁波|温州|嘉兴|湖州|绍兴|金华|衢州|舟山|台州|丽水|义乌"

EXT = SchemaSet.builtin().extended(
    {
        E: {
            name: Field(name, FieldType(t), name)
            for name, t in [
                ("tech_staff", "int"),
                ("hitech_revenue", "number"),
                ("rd_expense_2y", "number"),
                ("revenue_growth", "number"),
                ("debt_ratio", "number"),
                ("main_revenue_ratio", "number"),
                ("equity_financing_2y", "number"),
                ("export_share", "number"),  # unknown name: generic values
                ("certified_on", "date"),
                ("labels", "list"),
            ]
        },
        C: {
            name: Field(name, FieldType(t), name)
            for name, t in [
                ("insured_region", "string"),
                ("employment_region", "string"),
                ("has_house_in_city", "bool"),
                ("veteran", "bool"),
            ]
        },
    }
)


@pytest.fixture(scope="module")
def ent() -> pl.DataFrame:
    return synthesize_enterprises(N, seed=5, schemas=EXT)


@pytest.fixture(scope="module")
def cit() -> pl.DataFrame:
    return synthesize_citizens(N, seed=5, schemas=EXT)


def _num(value: object) -> float:
    """A polars aggregate (mean, min, ...) as a float, for comparisons."""
    assert isinstance(value, int | float)
    return float(value)


def _dtypes_match(df: pl.DataFrame, schemas: SchemaSet, a: Audience) -> None:
    fields = list(schemas[a].fields.values())
    assert df.columns == [f.name for f in fields]
    assert [df.schema[f.name] for f in fields] == [polars_dtype(f.type) for f in fields]


def test_seeded_and_typed() -> None:
    a = synthesize_enterprises(500, seed=1)
    assert a.equals(synthesize_enterprises(500, seed=1))
    assert not a.equals(synthesize_enterprises(500, seed=2))
    _dtypes_match(a, SchemaSet.builtin(), E)
    c = synthesize_citizens(500, seed=1)
    assert c.equals(synthesize_citizens(500, seed=1))
    _dtypes_match(c, SchemaSet.builtin(), C)
    assert synthesize_enterprises(0).height == 0


def test_enterprise_identity_fields(ent: pl.DataFrame) -> None:
    _dtypes_match(ent, EXT, E)
    assert ent["id"][0] == "E0000001" and ent["id"][-1] == f"E{N:07d}"
    assert ent["id"].is_unique().all()
    assert uscc_valid_mask(ent["uscc"]).all()
    assert (ent["uscc"].str.slice(2, 6) == ent["region"]).all()
    phones = ent["phone"].drop_nulls()
    assert phone_valid_mask(phones).all()
    assert phones.str.contains(r"^\+861[3-9]\d{9}$").all()
    assert 0.03 < ent["phone"].null_count() / N < 0.07
    names = ent["name"]
    assert names.str.ends_with("公司").all()
    assert _num(names.str.contains(f"^({CITY_PREFIXES})").mean()) > 0.6


def test_enterprise_regions_and_industries(ent: pl.DataFrame) -> None:
    region = ent["region"]
    assert region.str.contains(r"^33(0[1-9]|1[01])\d{2}$").all()
    city_share = region.str.slice(0, 4).value_counts(normalize=True)
    share = dict(zip(city_share["region"], city_share["proportion"], strict=True))
    assert len(share) == 11
    assert share["3301"] > share["3302"] > share["3309"]
    top_district = region.value_counts(sort=True)["region"][0]
    assert top_district == "330782"  # 义乌
    assert ent.filter(pl.col("region") == "330106").height > 0  # 西湖区
    industry = ent["industry"].drop_nulls()
    assert industry.str.contains(r"^[A-T]\d{2}$").all()
    section = industry.str.slice(0, 1)
    assert _num(((section == "C") | (section == "F")).mean()) > 0.5


def test_enterprise_numbers_are_plausible(ent: pl.DataFrame) -> None:
    est = ent["established"]
    dates = est.drop_nulls().to_list()
    assert dt.date(1995, 1, 1) <= min(dates) and max(dates) <= SYNTH_AS_OF
    assert _num(est.dt.year().median()) >= 2016
    for col in ["employees", "revenue", "rd_expense", "rd_staff", "invention_patents", "patents"]:
        assert 0.015 < ent[col].null_count() / N < 0.06, col
    full = ent.drop_nulls(["employees", "rd_staff", "revenue", "rd_expense", "tech_staff"])
    assert (full["employees"] >= 1).all()
    assert (full["rd_staff"] <= full["employees"]).all()
    assert (full["tech_staff"] >= full["rd_staff"]).all()
    assert (full["tech_staff"] <= full["employees"]).all()
    assert (full["rd_expense"] <= full["revenue"]).all()
    emp_rev = full.select(pl.corr(pl.col("employees").log(), pl.col("revenue").log1p())).item()
    assert emp_rev > 0.3

    by_section = (
        ent.drop_nulls(["industry", "rd_staff", "employees"])
        .group_by(pl.col("industry").str.slice(0, 1).alias("s"))
        .agg((pl.col("rd_staff").sum() / pl.col("employees").sum()).alias("rd"))
    )
    rd = dict(zip(by_section["s"], by_section["rd"], strict=True))
    assert rd["C"] > rd["F"] and rd["I"] > rd["F"] and rd["M"] > rd["F"]

    ht = ent.drop_nulls(["high_tech", "invention_patents"])
    with_inv = ht.filter(pl.col("invention_patents") > 0)["high_tech"].mean()
    without = ht.filter(pl.col("invention_patents") == 0)["high_tech"].mean()
    assert _num(with_inv) > 3 * _num(without)
    assert 0.005 < _num(ent["high_tech"].mean()) < 0.2
    assert _num(ent["specialized_sme"].mean()) < _num(ent["high_tech"].mean())
    # some large innovative firms for "小巨人"-style policies
    assert ent.filter((pl.col("revenue") >= 1e8) & (pl.col("invention_patents") >= 2)).height > 0

    tax = ent["tax_credit"].drop_nulls()
    assert set(tax.unique()) <= set("ABMCD")
    assert _num(tax.is_in(pl.Series(["A", "B"]).implode()).mean()) > 0.6


def test_enterprise_extension_fields(ent: pl.DataFrame) -> None:
    assert ent["debt_ratio"].drop_nulls().is_between(0, 1).all()
    assert ent["main_revenue_ratio"].drop_nulls().is_between(0.5, 1).all()
    assert _num((ent["equity_financing_2y"].drop_nulls() == 0).mean()) > 0.8
    both = ent.drop_nulls(["hitech_revenue", "revenue"])
    assert (both["hitech_revenue"] <= both["revenue"]).all()
    ratio = ent.drop_nulls(["rd_expense", "rd_expense_2y"]).filter(pl.col("rd_expense") > 0)
    assert (ratio["rd_expense_2y"] / ratio["rd_expense"]).is_between(1.6, 2.4).all()
    assert _num(ent["revenue_growth"].drop_nulls().abs().median()) < 1
    for generic in ["export_share", "certified_on", "labels"]:
        assert 0 < ent[generic].null_count() < N * 0.1


def test_citizens(cit: pl.DataFrame) -> None:
    _dtypes_match(cit, EXT, C)
    assert cit["id"][0] == "P0000001"
    assert cit["id_hash"].str.contains(r"^[0-9a-f]{64}$").all()
    assert cit["id_hash"].is_unique().all()
    assert cit["name"].str.len_chars().is_between(2, 3).all()
    edu = cit["education"]
    assert set(edu.drop_nulls().unique()) <= {"高中", "大专", "本科", "硕士", "博士"}
    assert 0.02 < edu.null_count() / N < 0.08
    with_grad = cit.drop_nulls(["graduation_date", "birth_date"])
    age_at_grad = (with_grad["graduation_date"] - with_grad["birth_date"]).dt.total_days() / 365.25
    assert _num(age_at_grad.min()) >= 19
    assert (with_grad["graduation_date"] <= dt.date(SYNTH_AS_OF.year, 6, 30)).all()
    assert cit.filter(pl.col("education") == "高中")["graduation_date"].null_count() == (
        cit.filter(pl.col("education") == "高中").height
    )
    age = (SYNTH_AS_OF - cit["birth_date"].drop_nulls()).dt.total_days() / 365.25
    assert _num(age.min()) >= 17.9 and _num(age.max()) <= 71
    hukou = cit["hukou_region"]
    assert hukou.str.contains(r"^\d{6}$").all()
    assert 0.1 < _num((~hukou.str.starts_with("33")).mean()) < 0.35
    assert cit["residence_region"].str.starts_with("33").all()
    assert uscc_valid_mask(cit["employer_uscc"].drop_nulls()).all()
    assert 0.85 < cit["talent_level"].null_count() / N < 0.99
    assert set(cit["talent_level"].drop_nulls().unique()) <= set("ABCDE")
    assert cit["household_size"].drop_nulls().is_between(1, 6).all()
    months = cit["social_insurance_months"].drop_nulls()
    assert _num(months.min()) >= 0 and _num(months.max()) <= 12 * 55
    assert cit["insured_region"].drop_nulls().str.contains(r"^33\d{4}$").all()
    assert _num((cit["insured_region"] == cit["residence_region"]).mean()) > 0.7
    assert 0.2 < _num(cit["has_house_in_city"].mean()) < 0.8


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_synth_to_file(tmp_path: Path, ext: str) -> None:
    p = tmp_path / f"c.{ext}"
    assert synth_to_file(300, p, kind="citizen", seed=9) == 300
    batch = read_profiles(p, SchemaSet.builtin())
    assert batch.errors == []
    assert batch.frames[C].equals(synthesize_citizens(300, seed=9))
