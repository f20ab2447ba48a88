from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.strategies import examples
from zhida.profiles.uscc import (
    CHARSET,
    check_char,
    check_values,
    codes_to_bytes,
    is_valid_uscc,
    make_uscc,
    uscc_valid_mask,
)

# Published codes of well-known companies (business licence / annual reports).
REAL = [
    "91330100716105852F",  # 阿里巴巴（中国）有限公司
    "914403001922038216",  # 华为技术有限公司
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "91110108551385082Q",  # 小米科技有限责任公司
]


@pytest.mark.parametrize("code", REAL)
def test_real_codes_are_valid(code: str) -> None:
    assert is_valid_uscc(code)
    assert make_uscc(code[:17]) == code


def test_weights_are_powers_of_three_mod_31() -> None:
    from zhida.profiles.uscc import WEIGHTS

    assert list(WEIGHTS) == [pow(3, i, 31) for i in range(17)]


def test_check_31_maps_to_zero() -> None:
    # a body whose weighted sum is 0 mod 31 gets check character "0"
    assert check_char("0" * 17) == "0"
    assert is_valid_uscc("0" * 18)


@pytest.mark.parametrize("code", [*REAL, make_uscc("91330106MA27XY312")])
def test_any_single_character_change_invalidates(code: str) -> None:
    variants = [code[:i] + c + code[i + 1 :] for i in range(18) for c in CHARSET if c != code[i]]
    assert len(variants) == 18 * 30
    assert not any(is_valid_uscc(v) for v in variants)
    assert not uscc_valid_mask(variants).any()


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        "91330100716105852",  # 17 characters
        "91330100716105852FF",  # 19
        "91330100716105852f",  # lower case
        "9133010071610585IF",  # I is not in the set
        "91330100716105852O",
        "９１330100716105852F",  # full-width digits
        "91110000100000589B",  # often quoted, but its check character is wrong
    ],
)
def test_invalid(bad: str | None) -> None:
    assert not is_valid_uscc(bad)
    assert not uscc_valid_mask(pl.Series([bad], dtype=pl.String))[0]


def test_make_uscc_rejects_bad_bodies() -> None:
    with pytest.raises(ValueError):
        make_uscc("9133")
    with pytest.raises(ValueError):
        make_uscc("91330106MA27XY31I")


_chars = st.sampled_from(CHARSET + "IOSVZa0 -中")


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(_chars, min_size=16, max_size=19),
            st.text(st.sampled_from(CHARSET), min_size=17, max_size=17).map(make_uscc),
        ),
        max_size=40,
    )
)
def test_vectorised_equals_scalar(values: list[str | None]) -> None:
    mask = uscc_valid_mask(pl.Series(values, dtype=pl.String))
    assert mask.tolist() == [is_valid_uscc(v) for v in values]
    # also from a plain list and a numpy object array
    assert uscc_valid_mask(values).tolist() == mask.tolist()
    assert uscc_valid_mask(np.array(values, dtype=object)).tolist() == mask.tolist()


def test_vectorised_finds_exactly_the_broken_codes() -> None:
    rng = np.random.default_rng(1)
    vals = rng.integers(0, 31, size=(200_000, 18))
    vals[:, 17] = check_values(vals[:, :17])
    vals[::1000, 17] = (vals[::1000, 17] + 1) % 31  # one in a thousand broken
    raw = codes_to_bytes(vals).view("S18").ravel()
    s = pl.Series(raw, dtype=pl.Binary).cast(pl.String)
    mask = uscc_valid_mask(s)
    assert int((~mask).sum()) == 200
    assert not mask[::1000].any()
