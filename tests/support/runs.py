"""Helpers shared by the run and worker tests (no tests here)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import insert, select, text

from zhida.profiles.schema import Audience
from zhida.profiles.synth import synthesize_enterprises
from zhida.ranking.evaluate import evaluate_to_jsonl
from zhida.rules.loader import Pack, load_pack
from zhida.store.db import session_scope
from zhida.store.models import Officer, PolicyVersion, Profile, Run
from zhida.store.profiles import profile_json

PACK_DIR = Path(__file__).resolve().parents[2] / "examples" / "policies"
AS_OF = dt.date(2026, 4, 1)
AS_OF_LATER = dt.date(2027, 4, 1)  # a year on: years_since criteria move


def use_env(
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    redis_url: str = "",
    chunk_size: int = 500,
    *,
    plan_after_run: bool = False,
) -> None:
    """Point settings (and the Celery app) at this database and broker. Runs alone:
    a finished run plans no notifications unless `plan_after_run`."""
    from zhida.settings import get_settings
    from zhida.worker import configure

    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    monkeypatch.setenv("ZHIDA_REDIS_URL", redis_url)
    monkeypatch.setenv("ZHIDA_CHUNK_SIZE", str(chunk_size))
    monkeypatch.setenv("ZHIDA_PLAN_AFTER_RUN", "1" if plan_after_run else "0")
    get_settings.cache_clear()
    configure()


def reset_env() -> None:
    from zhida.settings import get_settings
    from zhida.worker import configure

    get_settings.cache_clear()
    configure()


def pack() -> Pack:
    loaded = load_pack([PACK_DIR])
    assert not loaded.errors
    return loaded


def population(n: int, seed: int = 1) -> pl.DataFrame:
    return synthesize_enterprises(n, seed, pack().schemas)


def seed_profiles(db_url: str, frame: pl.DataFrame, kind: str = "enterprise") -> None:
    rows = [
        {"id": r["id"], "kind": kind, "data": profile_json(r), "source": "test"}
        for r in frame.iter_rows(named=True)
    ]
    with session_scope(db_url) as session:
        if session.connection().dialect.name == "postgresql":
            raw = session.connection().connection.driver_connection
            assert raw is not None
            with raw.cursor().copy("COPY profiles (id, kind, data, source) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(
                        (r["id"], r["kind"], json.dumps(r["data"], ensure_ascii=False), r["source"])
                    )
        else:
            session.execute(insert(Profile), rows)


def update_profiles(db_url: str, changes: dict[str, dict[str, Any]]) -> None:
    """Replace some fields of some profiles (None removes a field)."""
    with session_scope(db_url) as session:
        for pid, fields in changes.items():
            prof = session.get(Profile, pid)
            assert prof is not None
            data = dict(prof.data)
            for k, v in fields.items():
                if v is None:
                    data.pop(k, None)
                else:
                    data[k] = v.isoformat() if isinstance(v, dt.date) else v
            prof.data = data


def publish(
    db_url: str,
    names: list[str] | None = None,
    audience: str = "enterprise",
    texts: dict[str, str] | None = None,
) -> dict[str, int]:
    """Published versions of the example pack's policies (or given texts): policy id ->
    version id. A second call with a changed text adds version 2 and retires version 1."""
    schema_yaml = (PACK_DIR / "schema.yaml").read_text(encoding="utf-8")
    sources: dict[str, str] = dict(texts or {})
    if not texts:
        for path in sorted(PACK_DIR.glob("*.yaml")):
            if path.name == "schema.yaml":
                continue
            body = path.read_text(encoding="utf-8")
            if f"audience: {audience}" not in body:
                continue
            pid = path.stem
            if names is None or pid in names:
                sources[pid] = body
    out: dict[str, int] = {}
    with session_scope(db_url) as session:
        officer = session.scalar(select(Officer).where(Officer.name == "tester"))
        if officer is None:
            officer = Officer(name="tester", role="admin", token_hash="x" * 64)
            session.add(officer)
            session.flush()
        for pid, body in sources.items():
            old = list(session.scalars(select(PolicyVersion).where(PolicyVersion.policy_id == pid)))
            for o in old:
                o.status = "retired"
            version = PolicyVersion(
                policy_id=pid,
                version=len(old) + 1,
                status="published",
                audience=audience,
                title=pid,
                yaml_text=body,
                schema_yaml=schema_yaml,
                sha256=f"{pid}-{len(old) + 1}",
                author_id=officer.id,
            )
            session.add(version)
            session.flush()
            out[pid] = version.id
    return out


def decisions(
    db_url: str,
) -> dict[tuple[str, str], tuple[int, int, tuple[str, ...], float | None, float]]:
    """(profile, policy) -> (version id, outcome, unknown ids, benefit, score)."""
    with session_scope(db_url) as session:
        rows = session.execute(
            text(
                "SELECT profile_id, policy_id, policy_version_id, "
                "outcome, unknown, benefit, score FROM decisions"
            )
        ).all()
    out = {}
    for r in rows:
        unknown = r[4] if isinstance(r[4], list) else json.loads(r[4])
        out[(r[0], r[1])] = (int(r[2]), int(r[3]), tuple(unknown), r[5], float(r[6]))
    return out


def decision_stamps(db_url: str) -> dict[tuple[str, str], tuple[Any, Any]]:
    with session_scope(db_url) as session:
        rows = session.execute(
            text("SELECT profile_id, policy_id, run_id, updated_at FROM decisions")
        ).all()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def transitions(db_url: str, run_id: int | None = None) -> list[tuple[str, str, int, int, int]]:
    sql = (
        "SELECT profile_id, policy_id, policy_version_id, from_outcome, to_outcome FROM transitions"
    )
    params: dict[str, Any] = {}
    if run_id is not None:
        sql += " WHERE run_id = :r"
        params["r"] = run_id
    with session_scope(db_url) as session:
        rows = session.execute(text(sql + " ORDER BY profile_id, policy_id"), params).all()
    return [(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows]


def direct(
    frame: pl.DataFrame, policy_ids: list[str], as_of: dt.date
) -> dict[tuple[str, str], tuple[int, tuple[str, ...], float | None, float]]:
    """`zhida evaluate` on the frame itself: (profile, policy) -> (outcome, unknown ids,
    benefit, score to 4 places), eligible and unknown only."""
    loaded = pack()
    policies = [p for p in loaded.policies if p.id in policy_ids]
    buf = io.BytesIO()
    evaluate_to_jsonl(policies, {Audience.ENTERPRISE: frame}, loaded.schemas, as_of, buf)
    codes = {"eligible": 2, "unknown": 1}
    out = {}
    for line in buf.getvalue().splitlines():
        d = json.loads(line)
        out[(d["profile"], d["policy"])] = (
            codes[d["outcome"]],
            tuple(d["unknown"]),
            d["benefit"],
            d["score"],
        )
    return out


def assert_matches_direct(
    db_url: str, frame: pl.DataFrame, versions: dict[str, int], as_of: dt.date
) -> None:
    want = direct(frame, list(versions), as_of)
    got = decisions(db_url)
    assert set(got) == set(want)
    for key, (outcome, unknown, benefit, score) in want.items():
        vid, g_out, g_unknown, g_benefit, g_score = got[key]
        assert vid == versions[key[1]]
        assert (g_out, g_unknown) == (outcome, unknown), key
        assert (g_benefit is None) == (benefit is None), key
        if benefit is not None:
            assert g_benefit == pytest.approx(benefit), key
        assert abs(g_score - score) <= 0.5e-4 + 1e-9, key  # evaluate prints 4 places


def expected_transitions(
    before: dict[tuple[str, str], tuple[Any, ...]],
    after: dict[tuple[str, str], tuple[Any, ...]],
    versions: dict[str, int],
) -> list[tuple[str, str, int, int, int]]:
    """The transitions a run must record, from decisions before and after (outcome is the
    second field of `decisions()` values)."""
    out = []
    for key in sorted(set(before) | set(after)):
        frm = before[key][1] if key in before else 0
        to = after[key][1] if key in after else 0
        if frm != to:
            out.append((key[0], key[1], versions[key[1]], frm, to))
    return out


def get_run(db_url: str, run_id: int) -> Run:
    with session_scope(db_url) as session:
        run = session.get(Run, run_id)
        assert run is not None
        session.expunge(run)
        return run
