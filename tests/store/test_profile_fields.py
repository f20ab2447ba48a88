"""`load_frame` of some fields.

Differential: any stored population (the documents of `test_typed_profiles`: nulls, a
pack's extension fields of every type, a name a pack gives another type) loads, for
any choice of fields, the columns of the full load of those fields and the id, in the
schema's order.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.store.test_typed_profiles import SCHEMAS, documents, stored
from zhida.profiles.schema import Audience
from zhida.store.db import session_scope
from zhida.store.profiles import load_frame

ENTERPRISE = SCHEMAS[Audience.ENTERPRISE]
CITIZEN = SCHEMAS[Audience.CITIZEN]


def narrowed(full: Any, schema: Any, fields: list[str]) -> Any:
    return full.select([n for n in schema.fields if n == "id" or n in fields])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    enterprises=documents(ENTERPRISE),
    citizens=documents(CITIZEN),
    fields=st.lists(st.sampled_from([*ENTERPRISE.fields, *CITIZEN.fields, "nope"])),
)
def test_some_fields_load_as_the_full_load_of_them(
    db_url: str,
    enterprises: list[dict[str, Any]],
    citizens: list[dict[str, Any]],
    fields: list[str],
) -> None:
    stored(db_url, {"enterprise": enterprises, "citizen": citizens})
    with session_scope(db_url) as s:
        for audience, schema in ((Audience.ENTERPRISE, ENTERPRISE), (Audience.CITIZEN, CITIZEN)):
            full = load_frame(s, audience.value, schema)
            some = load_frame(s, audience.value, schema, fields=fields)
            want = narrowed(full, schema, fields)
            assert some.equals(want) and some.schema == want.schema, audience
