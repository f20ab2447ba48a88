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
from zhida.store.models import Base, Decision, Notification, Officer, PolicyVersion, Profile
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
    }
    base.update(fields)
    return Notification(**base)


def factory_officer(session: Session) -> int:
    """The officer the factories' versions are by (made once per store)."""
    found = session.scalar(select(Officer.id).where(Officer.name == "factory"))
    if found is not None:
        return found
    officer = Officer(name="factory", role="admin", token_hash="f" * 64)
    session.add(officer)
    session.flush()
    return officer.id


def published_row(
    session: Session,
    pid: str,
    yaml_text: str,
    *,
    title: str | None = None,
    audience: str = "enterprise",
    sha256: str | None = None,
) -> int:
    """A published version 1 of `yaml_text` written straight to the store (not checked,
    no run started), as the planner and the sender read it; its id."""
    version = PolicyVersion(
        policy_id=pid,
        version=1,
        status="published",
        audience=audience,
        title=f"测试政策{pid}" if title is None else title,
        yaml_text=yaml_text,
        schema_yaml="",
        sha256=pid if sha256 is None else sha256,
        author_id=factory_officer(session),
    )
    session.add(version)
    session.flush()
    return version.id


def true_notifications(session: Session, rows: list[Notification]) -> list[Notification]:
    """Make SMS rows true, as the sender checks before sending (`presend`): each row's
    policy gets a published version (a small one, made once), its profile a stored
    profile and an eligible decision under that version. Added to the session."""
    versions: dict[str, int] = {}
    for row in rows:
        pid = row.policy_id
        if pid not in versions:
            found = session.scalar(
                select(PolicyVersion.id).where(
                    PolicyVersion.policy_id == pid, PolicyVersion.status == "published"
                )
            )
            if found is None:
                text = (
                    f"id: {pid}\ntitle: 测试政策\naudience: enterprise\ncriteria:\n"
                    "  - {id: c1, label: 条件一, when: revenue >= 1亿}\n"
                )
                found = published_row(session, pid, text, title="测试政策", sha256=f"factory-{pid}")
            versions[pid] = found
        row.policy_version_id = versions[pid]
        if session.get(Profile, row.profile_id) is None:
            data = {"name": f"测试企业{row.profile_id}", "revenue": 2e8}
            session.add(Profile(id=row.profile_id, kind="enterprise", data=data, source="test"))
        if session.get(Decision, (row.profile_id, pid)) is None:
            session.add(
                Decision(
                    profile_id=row.profile_id,
                    policy_id=pid,
                    policy_version_id=versions[pid],
                    outcome=2,
                )
            )
    session.add_all(rows)
    session.flush()
    return rows


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
