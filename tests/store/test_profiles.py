"""load_frame: stored JSON back as a typed frame, whatever the text holds."""

from __future__ import annotations

import datetime as dt

from tests.support.factories import enterprise, make_frame, store_profiles
from zhida.profiles.schema import SchemaSet
from zhida.store.db import session_scope
from zhida.store.profiles import load_frame

SCHEMA = SchemaSet.builtin()["enterprise"]
NAMES = [
    'a "quoted" name',
    "back\\slash \\N and \\\\ two",
    "tab\there, newline\nthere, cr\rhere",
    "controls \x01 \x02 \x7f",
    "杭州，测试；科技",
    "",
]


def test_tricky_text_loads_back_exactly(db_url: str) -> None:
    rows = [
        enterprise(id=f"E{i}", name=name, established=dt.date(2020, 2, 29))
        for i, name in enumerate(NAMES)
    ]
    frame = make_frame(rows, SCHEMA)
    with session_scope(db_url) as s:
        store_profiles(s, frame)
    with session_scope(db_url) as s:
        back = load_frame(s, "enterprise", SCHEMA)
        part = load_frame(s, "enterprise", SCHEMA, lo="E1", hi="E3")
        none = load_frame(s, "enterprise", SCHEMA, lo="X")
    assert back.equals(frame.sort("id"))
    assert part["id"].to_list() == ["E1", "E2"]
    assert none.height == 0 and none.columns == frame.columns
