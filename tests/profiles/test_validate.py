from __future__ import annotations

import polars as pl
import pytest

from zhida.profiles.validate import (
    format_of,
    is_valid_date,
    is_valid_phone,
    is_valid_region,
    mask_phone,
    parse_dates,
    phone_valid_mask,
    region_valid_mask,
)

PHONES = {
    "+8613812345678": True,
    "+8619912345678": True,
    "+8657187654321": True,  # Hangzhou landline, via phonenumbers
    "+16502530000": True,  # US, via phonenumbers
    "+8612812345678": False,  # no 12x mobile prefix
    "+861381234567": False,  # too short
    "13812345678": False,  # not E.164
    "+86 138 1234 5678": False,  # spaces
    "+86138123456789": False,
    "abc": False,
}


@pytest.mark.parametrize(("phone", "ok"), PHONES.items())
def test_is_valid_phone(phone: str, ok: bool) -> None:
    assert is_valid_phone(phone) is ok


def test_phone_mask_matches_scalar() -> None:
    values = [*PHONES, None, "+8613812345678"]
    mask = phone_valid_mask(pl.Series(values, dtype=pl.String))
    assert mask.tolist() == [is_valid_phone(v) for v in values]


def test_mask_phone() -> None:
    assert mask_phone("+8613812345678") == "+86138****5678"
    assert "12345678" not in mask_phone("+8613812345678")
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+1 650 253 0000") == "+1 650****0000"
    assert mask_phone("123") == "****"


def test_region() -> None:
    assert is_valid_region("330106")
    for bad in ["33010", "3301060", "33010a", "", None]:
        assert not is_valid_region(bad)
    s = pl.Series(["330782", "3307", None, "330782 "], dtype=pl.String)
    assert region_valid_mask(s).tolist() == [True, False, False, False]


def test_dates() -> None:
    good, bad = ["2024-02-29", "1995-01-01"], ["2023-02-29", "2024-13-01", "2024-1-5", "20240105"]
    assert all(is_valid_date(d) for d in good)
    assert not any(is_valid_date(d) for d in bad)
    parsed = parse_dates(pl.Series([*good, *bad, None], dtype=pl.String))
    assert parsed.dtype == pl.Date
    assert parsed.is_not_null().to_list() == [True, True, False, False, False, False, False]


FORMAT_SAMPLES = {
    "uscc": ["91330106MA2AX8W430", "91330106MA2AX8W43A", "123", "91330106MA2AX8WI30"],
    "employer_uscc": ["91330106MA2AX8W430", "91330106MA2AX8W431"],
    "phone": ["+8613812345678", "+16502530000", "+8612812345678", "12345"],
    "mobile": ["+8613812345678", "abc"],
    "region": ["330106", "3301", "33010a"],
    "hukou_region": ["330106", "3301x1"],
    "industry": ["C", "C39", "C391", "C3911", "C3", "C39111", "Z12"],
    "id_hash": ["0123456789abcdef" * 2, "0123456789abcdef" * 8 + "0", "330106199001011234"],
    "tax_credit": ["A", "B", "M", "C", "D", "E", "AA"],
    "talent_level": ["A", "E", "F"],
}


@pytest.mark.parametrize(("name", "values"), FORMAT_SAMPLES.items())
def test_each_format_checks_a_value_and_a_column_alike(name: str, values: list[str]) -> None:
    fmt = format_of(name)
    assert fmt is not None
    column = fmt.valid_mask(pl.Series([*values, None], dtype=pl.String)).tolist()
    assert column == [*(fmt.is_valid(v) for v in values), False]
    assert any(column) and not all(column)


def test_fields_without_a_format() -> None:
    assert format_of("name") is None
    assert format_of("business_scope") is None
