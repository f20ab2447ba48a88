"""Plain factory functions with keyword defaults, shared by the tests: objects in memory
(a policy, a profile frame, an enterprise row) and rows put in a store."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhida.profiles.schema import Audience, Field, FieldType, ProfileSchema, SchemaSet
from zhida.rules.loader import load_policy_text
from zhida.rules.policy import Policy
from zhida.store.models import Base, Notification, Profile
from zhida.store.profiles import profile_json

POLARS_TYPES: dict[FieldType, Any] = {
    FieldType.INT: pl.Int64,
    FieldType.NUMBER: pl.Float64,
    FieldType.BOOL: pl.Boolean,
    FieldType.DATE: pl.Date,
    FieldType.STRING: pl.String,
    FieldType.LIST: pl.List(pl.String),
}


def schemas_for_tests() -> SchemaSet:
    """Built-in fields plus a list field and a second date, as a pack's schema.yaml would add."""
    return SchemaSet.builtin().extended(
        {
            Audience.ENTERPRISE: {
                "tags": Field("tags", FieldType.LIST, "标签"),
                "certified": Field("certified", FieldType.DATE, "认证日期"),
            }
        }
    )


def make_policy(
    *,
    criteria: str = "  - {id: c1, label: 条件一, when: revenue >= 1亿}\n",
    pid: str = "p1",
    audience: str = "enterprise",
    extra: str = "",
    schemas: SchemaSet | None = None,
    path: str = "p1.yaml",
) -> Policy:
    text = (
        f"id: {pid}\ntitle: 测试政策\naudience: {audience}\n{textwrap.dedent(extra)}"
        f"criteria:\n{criteria}"
    )
    return load_policy_text(text, path, schemas or schemas_for_tests())


def make_frame(rows: list[dict[str, Any]], schema: ProfileSchema) -> pl.DataFrame:
    data = {name: [r.get(name) for r in rows] for name in schema.fields}
    return pl.DataFrame(data, schema={n: POLARS_TYPES[f.type] for n, f in schema.fields.items()})


def enterprise(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "E1",
        "name": "杭州测试科技有限公司",
        "region": "330106",
        "industry": "C39",
        "established": dt.date(2019, 5, 1),
        "employees": 100,
        "revenue": 1.5e8,
    }
    base.update(fields)
    return base


def notification(**fields: Any) -> Notification:
    """A notification row (not added to a session): an SMS of the example pack's
    小巨人 policy, queued; the fields given replace the defaults."""
    base: dict[str, Any] = {
        "profile_id": "E1",
        "policy_id": "zj-little-giant",
        "policy_version_id": 1,
        "channel": "sms",
        "status": "queued",
        "to": "+8613800000001",
        "segments": 1,
        "body": "【浙里办】贵企业符合专精特新“小巨人”申报条件 回TD退订",
    }
    base.update(fields)
    return Notification(**base)


def store_profiles(
    session: Session, frame: pl.DataFrame, *, kind: str = "enterprise", source: str = "test"
) -> None:
    session.add_all(
        Profile(id=r["id"], kind=kind, data=profile_json(r), source=source)
        for r in frame.to_dicts()
    )
    session.flush()


def row_counts(session: Session) -> dict[str, int]:
    return {
        name: int(session.scalar(select(func.count()).select_from(table)) or 0)
        for name, table in Base.metadata.tables.items()
    }
