"""Synthetic citizens: names, ages, education, hukou and residence, insurance, employers.

No real person or ID number is involved: `id_hash` hashes a made-up string.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from zhida.profiles.schema import Audience, FieldType, SchemaSet
from zhida.profiles.synth.columns import (
    AS_OF_DAY,
    SYNTH_AS_OF,
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
from zhida.profiles.synth.places import OTHER_PROVINCES, REGION_CODES

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
_GIVEN_CHARS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力兰海燕斌晨宇浩然子轩欣怡梓涵一诺雨泽思远佳琪俊杰诗雨博文婷雪峰志强嘉怡晓东亮鹏飞颖慧云龙国庆"  # noqa: E501

_EDUCATIONS = ("高中", "大专", "本科", "硕士", "博士")
_EDU_P = (0.20, 0.25, 0.35, 0.12, 0.03)  # + 5% missing
_GRAD_AGE = np.array([18, 21, 22, 25, 29], dtype=np.int64)


def _id_hashes(seed: int, n: int) -> pl.Series:
    prefix = f"zhida-synthetic-person:{seed}:".encode()
    sha = hashlib.sha256
    return pl.Series(
        "id_hash", [sha(prefix + str(i).encode()).hexdigest() for i in range(n)], dtype=pl.String
    )


def synthesize_citizens(n: int, seed: int = 0, schemas: SchemaSet | None = None) -> pl.DataFrame:
    """`n` synthetic citizens; extension fields of `schemas` are filled too."""
    rng = np.random.default_rng([seed, 2])
    schema = (schemas or SchemaSet.builtin())[Audience.CITIZEN]
    cols: dict[str, pl.Series] = {}
    cols["id"] = ids("P", n)
    cols["id_hash"] = _id_hashes(seed, n)

    surname = rng.integers(0, len(_SURNAMES), size=n)
    surname = np.minimum(surname, rng.integers(0, len(_SURNAMES), size=n))  # common ones first
    g1 = rng.integers(0, len(_GIVEN_CHARS), size=n)
    g2 = rng.integers(0, len(_GIVEN_CHARS), size=n)
    two = rng.random(n) < 0.7
    given2 = null_where(pick(list(_GIVEN_CHARS), g2, "g2"), ~two).fill_null("")
    cols["name"] = concat(
        [
            pick(list(_SURNAMES), surname, "s"),
            pick(list(_GIVEN_CHARS), g1, "g1"),
            given2,
        ],
        "name",
    )
    cols["phone"] = phones(rng, n, 0.03)

    age = np.clip(rng.normal(36.0, 11.0, size=n), 18.0, 70.0)
    birth_day = AS_OF_DAY - (age * 365.25).astype(np.int64)
    cols["birth_date"] = null_where(dates(birth_day, "birth_date"), missing(rng, n, 0.01))

    edu = rng.choice(len(_EDUCATIONS), size=n, p=np.array(_EDU_P) / sum(_EDU_P))
    birth_year = (birth_day / 365.2425 + 1970).astype(np.int64)
    jitter = rng.integers(0, 2, size=n)  # a gap year or a longer programme
    # still studying: the coming summer's graduates stay, the rest step down a degree
    for _ in range(len(_EDUCATIONS)):
        too_young = (birth_year + _GRAD_AGE[edu] + jitter > SYNTH_AS_OF.year) & (edu > 0)
        if not too_young.any():
            break
        edu = np.where(too_young, edu - 1, edu)
    grad_year = birth_year + _GRAD_AGE[edu] + jitter
    grad_days = (
        pl.select(pl.date(pl.lit(pl.Series(grad_year)), 6, 30).alias("d"))
        .to_series()
        .cast(pl.Int32)
        .to_numpy()
        .astype(np.int64)
    )
    edu_missing = missing(rng, n, 0.05)
    cols["education"] = null_where(pick(_EDUCATIONS, edu, "education"), edu_missing)
    no_degree = (edu == 0) | edu_missing
    cols["graduation_date"] = null_where(dates(grad_days, "graduation_date"), no_degree)

    zj_hukou = rng.random(n) < 0.78
    hukou_zj = region_choice(rng, n)
    other = rng.integers(0, len(OTHER_PROVINCES), size=n)
    hukou = pl.select(
        pl.when(pl.lit(zj_hukou))
        .then(region_series(hukou_zj, "h"))
        .otherwise(pick(OTHER_PROVINCES, other, "o"))
        .alias("hukou_region")
    ).to_series()
    cols["hukou_region"] = hukou
    same = zj_hukou & (rng.random(n) < 0.75)
    res_idx = np.where(same, hukou_zj, region_choice(rng, n))
    residence = region_series(res_idx, "residence_region")
    cols["residence_region"] = residence

    start_age = np.where(edu == 0, 19, _GRAD_AGE[edu])
    work_months = np.maximum(0.0, (age - start_age) * 12)
    insured = np.floor(work_months * rng.beta(5.0, 2.0, size=n)).astype(np.int64)
    insured[rng.random(n) < 0.08] = 0
    cols["social_insurance_months"] = null_where(
        pl.Series("social_insurance_months", insured), missing(rng, n, 0.03)
    )

    region_int = np.array([int(c) for c in REGION_CODES], dtype=np.int64)[res_idx]
    employed = rng.random(n) < 0.85
    cols["employer_uscc"] = null_where(
        make_usccs(rng, region_int).alias("employer_uscc"), ~employed
    )

    p_talent = np.array([0.005, 0.01, 0.05, 0.2, 0.5])[edu]
    talent = rng.random(n) < p_talent
    lvl = np.where(
        edu == 4,
        rng.choice(5, size=n, p=[0.05, 0.15, 0.3, 0.3, 0.2]),
        rng.choice(5, size=n, p=[0.01, 0.04, 0.15, 0.3, 0.5]),
    )
    cols["talent_level"] = null_where(pick(list("ABCDE"), lvl, "talent_level"), ~talent)

    household = rng.choice(6, size=n, p=[0.15, 0.25, 0.33, 0.17, 0.07, 0.03]) + 1
    cols["household_size"] = null_where(
        pl.Series("household_size", household.astype(np.int64)), missing(rng, n, 0.04)
    )

    def insured_region() -> pl.Series:
        moved = rng.random(n) < 0.1
        return pl.select(
            pl.when(pl.lit(moved))
            .then(region_series(region_choice(rng, n), "x"))
            .otherwise(residence)
        ).to_series()

    def employment_region() -> pl.Series:
        moved = rng.random(n) < 0.15
        return pl.select(
            pl.when(pl.lit(moved))
            .then(region_series(region_choice(rng, n), "x"))
            .otherwise(residence)
        ).to_series()

    known_series: dict[str, tuple[FieldType, Maker]] = {
        "insured_region": (FieldType.STRING, insured_region),
        "employment_region": (FieldType.STRING, employment_region),
        "has_house_in_city": (
            FieldType.BOOL,
            lambda: pl.Series(rng.random(n) < np.clip(0.25 + 0.01 * (age - 22), 0.1, 0.8)),
        ),
    }
    fill_extensions(cols, schema, known_series, rng, n)
    return frame(cols, schema)
