"""Synthetic enterprises: region, industry, name, size, R&D, patents and labels tied together.

Firm sizes are lognormal, R&D concentrates in manufacturing, software and
research services, and the labels (high-tech, 专精特新) follow R&D.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from zhida.profiles.schema import Audience, FieldType, SchemaSet
from zhida.profiles.synth.columns import (
    AS_OF_DAY,
    FIRST_DAY,
    concat,
    dates,
    ids,
    make_usccs,
    missing,
    null_where,
    phones,
    pick,
    region_choice,
    region_series,
)
from zhida.profiles.synth.extensions import Maker, fill_extensions, frame
from zhida.profiles.synth.industries import BRAND_CHARS, INDUSTRIES, SUFFIX_P, SUFFIXES
from zhida.profiles.synth.places import REGION_CITIES, REGION_CODES, REGION_PLACES


def synthesize_enterprises(n: int, seed: int = 0, schemas: SchemaSet | None = None) -> pl.DataFrame:
    """`n` synthetic enterprises; extension fields of `schemas` are filled too."""
    rng = np.random.default_rng([seed, 1])
    schema = (schemas or SchemaSet.builtin())[Audience.ENTERPRISE]
    cols: dict[str, pl.Series] = {}

    cols["id"] = ids("E", n)
    reg = region_choice(rng, n)
    region_int = np.array([int(c) for c in REGION_CODES], dtype=np.int64)[reg]
    cols["region"] = region_series(reg, "region")
    cols["uscc"] = make_usccs(rng, region_int)

    # industry and its parameters
    ind_codes = [c for c, *_ in INDUSTRIES]
    ind_p = np.array([w for _, w, *_ in INDUSTRIES], dtype=np.float64)
    ind = rng.choice(len(ind_codes), size=n, p=ind_p / ind_p.sum()).astype(np.int64)
    section = np.array([c[0] for c in ind_codes])[ind]
    is_c = section == "C"
    is_tech = np.isin(section, ["I", "M"])
    is_trade = section == "F"
    cols["industry"] = null_where(pick(ind_codes, ind, "industry"), missing(rng, n, 0.01))

    # name: place + brand + industry word + suffix
    alt_place = rng.random(n) < 0.5
    place_idx = reg
    places = pick(REGION_PLACES, place_idx, "p")
    cities = pick(REGION_CITIES, place_idx, "c")
    place = pl.select(pl.when(pl.lit(alt_place)).then(places).otherwise(cities)).to_series()
    nb = len(BRAND_CHARS)
    b1 = rng.integers(0, nb, size=n)
    b2 = (b1 + rng.integers(1, nb, size=n)) % nb
    words: list[str] = []
    word_start = np.zeros(len(INDUSTRIES), dtype=np.int64)
    word_count = np.zeros(len(INDUSTRIES), dtype=np.int64)
    for k, (_, _, ws, _) in enumerate(INDUSTRIES):
        word_start[k] = len(words)
        word_count[k] = len(ws)
        words.extend(ws)
    widx = word_start[ind] + (rng.random(n) * word_count[ind]).astype(np.int64)
    sfx = rng.choice(len(SUFFIXES), size=n, p=SUFFIX_P)
    cols["name"] = concat(
        [
            place,
            pick(list(BRAND_CHARS), b1, "b1"),
            pick(list(BRAND_CHARS), b2, "b2"),
            pick(words, widx, "w"),
            pick(SUFFIXES, sfx, "s"),
        ],
        "name",
    )
    cols["phone"] = phones(rng, n, 0.05)

    # established: 1995..SYNTH_AS_OF, skewed recent
    span = AS_OF_DAY - FIRST_DAY
    age_days = (rng.exponential(7.0, size=n) * 365.25).astype(np.int64)
    too_old = age_days > span
    age_days[too_old] = rng.integers(0, span, size=int(too_old.sum()))
    age_years = age_days / 365.25
    cols["established"] = dates(AS_OF_DAY - age_days, "established")

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
    cols["tax_credit"] = null_where(pick(list("ABMCD"), tax, "tax_credit"), missing(rng, n, 0.02))

    cols["employees"] = null_where(pl.Series("employees", employees), missing(rng, n, 0.03))
    cols["revenue"] = null_where(pl.Series("revenue", revenue), missing(rng, n, 0.04))
    cols["rd_expense"] = null_where(pl.Series("rd_expense", rd_expense), missing(rng, n, 0.05))
    cols["rd_staff"] = null_where(pl.Series("rd_staff", rd_staff), missing(rng, n, 0.04))
    cols["invention_patents"] = null_where(
        pl.Series("invention_patents", invention), missing(rng, n, 0.03)
    )
    cols["patents"] = null_where(pl.Series("patents", patents), missing(rng, n, 0.03))
    cols["high_tech"] = null_where(pl.Series("high_tech", high_tech), missing(rng, n, 0.02))
    cols["specialized_sme"] = null_where(
        pl.Series("specialized_sme", specialized), missing(rng, n, 0.02)
    )

    scopes: list[str] = []
    sc_start = np.zeros(len(INDUSTRIES), dtype=np.int64)
    sc_count = np.zeros(len(INDUSTRIES), dtype=np.int64)
    for k, (_, _, _, ss) in enumerate(INDUSTRIES):
        sc_start[k] = len(scopes)
        sc_count[k] = len(ss)
        scopes.extend(ss)
    sidx = sc_start[ind] + (rng.random(n) * sc_count[ind]).astype(np.int64)
    cols["business_scope"] = null_where(pick(scopes, sidx, "business_scope"), missing(rng, n, 0.02))

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
    fill_extensions(cols, schema, known, rng, n)
    return frame(cols, schema)
