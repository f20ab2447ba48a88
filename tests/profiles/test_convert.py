"""A formatted text column whose every value is valid as it stands is taken as it is
(`convert._valid_as_given`), skipping the strip, case, NUL and format stages.

Property: a value a format finds valid is its own normal form (stripped, in the
format's case, non-empty, without NUL), the condition that makes the short cut exact.
Differential: any batch of such columns, valid, nearly valid (a space, a lower-case
letter, a NUL, a full-width space) or missing, gives the same frames and the same bad
rows with the short cut as through the full plan.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhida.profiles.readers import convert
from zhida.profiles.readers.raw import Raw
from zhida.profiles.readers.rows import to_batch
from zhida.profiles.schema import Audience, SchemaSet
from zhida.profiles.uscc import CHARSET, make_uscc
from zhida.profiles.validate import format_of

SCHEMAS = SchemaSet.builtin()

#: a valid value of each formatted field of the built-in schemas, by audience
VALID = {
    Audience.ENTERPRISE: {
        "uscc": st.text(st.sampled_from(CHARSET), min_size=17, max_size=17).map(make_uscc),
        "phone": st.sampled_from(["+8613812345678", "+8619912345678", "+16502530000"]),
        "region": st.sampled_from(["330106", "330212", "110000"]),
        "industry": st.sampled_from(["C", "C39", "C391", "I65", "T"]),
        "tax_credit": st.sampled_from(["A", "B", "M", "C", "D"]),
    },
    Audience.CITIZEN: {
        "id_hash": st.text(st.sampled_from("0123456789abcdef"), min_size=32, max_size=40),
        "hukou_region": st.sampled_from(["330106", "330212"]),
        "employer_uscc": st.text(st.sampled_from(CHARSET), min_size=17, max_size=17).map(make_uscc),
        "talent_level": st.sampled_from(["A", "B", "E"]),
        "phone": st.sampled_from(["+8613812345678", "+8657187654321"]),
    },
}

_EDITS = [
    lambda v: v,
    lambda v: f" {v}",
    lambda v: f"{v}\t",
    lambda v: f"{v}\u3000",  # a full-width space, which strip removes too
    lambda v: v.lower(),
    lambda v: v.upper(),
    lambda v: f"{v[:1]}\x00{v[1:]}",
    lambda v: "",
    lambda v: "   ",
]


def _values(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    """Valid values, mostly; now and then one edited, an empty or a missing one."""
    edited = st.tuples(valid, st.sampled_from(_EDITS)).map(lambda t: t[1](t[0]))
    return st.one_of(valid, valid, valid, edited, st.none())


@pytest.mark.parametrize(
    ("audience", "name"), [(a, n) for a, fields in VALID.items() for n in fields]
)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_valid_value_is_its_own_normal_form(
    audience: Audience, name: str, data: st.DataObject
) -> None:
    fmt = format_of(name)
    assert fmt is not None
    values = data.draw(st.lists(_values(VALID[audience][name]), min_size=1, max_size=12))
    valid = fmt.valid_mask(pl.Series(values, dtype=pl.String))
    for v, ok in zip(values, valid.tolist(), strict=True):
        if ok:
            assert v is not None and v and "\x00" not in v
            assert fmt.normalise(v) == v


def _batch(audience: Audience, columns: dict[str, list[str | None]], n: int) -> object:
    df = pl.DataFrame(
        {"id": [f"X{i}" for i in range(n)], **columns},
        schema={"id": pl.String, **{c: pl.String for c in columns}},
    )
    b = to_batch(Raw(df, np.arange(2, n + 2, dtype=np.int64)), SCHEMAS, audience, "p.csv")
    return b.frames[audience], [(e.line, e.reason) for e in b.errors]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), audience=st.sampled_from(list(VALID)), n=st.integers(1, 8))
def test_the_short_cut_gives_what_the_full_plan_gives(
    data: st.DataObject, audience: Audience, n: int
) -> None:
    # each column all valid (the short cut) or drawn with edits (the full plan)
    columns = {
        name: data.draw(
            st.lists(
                st.one_of(valid, _values(valid)) if data.draw(st.booleans()) else valid,
                min_size=n,
                max_size=n,
            ),
            label=name,
        )
        for name, valid in VALID[audience].items()
    }
    short = _batch(audience, columns, n)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(convert, "_valid_as_given", lambda *_: None)
        full = _batch(audience, columns, n)
    (frame, errors), (full_frame, full_errors) = short, full  # type: ignore[misc]
    assert frame.equals(full_frame) and frame.schema == full_frame.schema
    assert errors == full_errors


def test_the_short_cut_is_taken_only_when_every_value_is_valid() -> None:
    field = SCHEMAS[Audience.ENTERPRISE].fields["industry"]
    given_ = convert._valid_as_given(pl.Series(["C39", None, "I65"]), field)
    assert given_ is not None and given_.bad is None
    assert convert._valid_as_given(pl.Series(["C39", " I65"]), field) is None
    assert convert._valid_as_given(pl.Series(["c39"]), field) is None
    name = SCHEMAS[Audience.ENTERPRISE].fields["name"]  # no format: the full plan
    assert convert._valid_as_given(pl.Series(["某某公司"]), name) is None
