"""Who gets the SMS where the frequency cap binds: by predicted uplift.

The planner gives SMS in the order it plans a batch's transitions (by id), until a
phone's cap is reached. With an active uplift model (`zhida.ranking.uplift`), the
eligible candidates of a phone that has more of them than its cap still allows are
planned first by predicted uplift (SMS minus in-app take-up), highest first, in the
places those candidates had (every other transition keeps its place); ties keep id
order. Without a model, or where the cap does not bind, nothing moves.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from zhida.matcher.columns import Columns
from zhida.publishing.catalogue import CompiledVersion
from zhida.ranking.features import Batch, matrix
from zhida.ranking.uplift import UpliftModel
from zhida.rules.vectors import date_to_days
from zhida.settings import Settings
from zhida.store.models import Profile
from zhida.store.profiles import frame_from_json


class Planning(Protocol):
    """What the planner (`plan._Plan`) offers the ordering."""

    session: Session
    settings: Settings
    today: dt.date
    versions: dict[int, CompiledVersion]

    def sms_sent(self, phone: str, sent_since: int | None) -> int: ...


def order_by_uplift(plan: Planning, model: UpliftModel, rows: list[Row[Any]]) -> list[Row[Any]]:
    """`rows` with each capped phone's SMS candidates reordered: a phone is capped when
    it has more candidates than `settings.sms_cap` minus the SMS counted against it."""
    cap = plan.settings.sms_cap
    groups: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(rows):
        sms_planned = (t.channels or 0) & 2
        if (
            t.to_outcome == 2
            and t.found is not None
            and t.phone
            and not (t.opted_out or sms_planned)
        ):
            groups[t.phone].append(i)
    capped = [
        g
        for g in groups.values()
        if len(g) > cap - plan.sms_sent(rows[g[0]].phone, rows[g[0]].sent_since)
    ]
    if not capped:
        return rows
    flat = [i for g in capped for i in g]
    predicted = _uplift(plan, model, [rows[i] for i in flat])
    score = dict(zip(flat, predicted, strict=True))
    out = list(rows)
    for g in capped:
        ranked = sorted(g, key=lambda i: -score[i])  # stable: ties keep id order
        for place, i in zip(g, ranked, strict=True):
            out[place] = rows[i]
    return out


def _uplift(plan: Planning, model: UpliftModel, rows: list[Row[Any]]) -> list[float]:
    """Predicted uplift per row, from its stored profile (past engagement counted as
    none, as `ranking.score` does)."""
    ids = sorted({t.profile_id for t in rows})
    versions = plan.versions
    stored = plan.session.execute(
        select(Profile.id, Profile.kind, Profile.data).where(Profile.id.in_(ids))
    ).all()
    by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for pid, kind, data in stored:
        by_kind[kind].append((pid, data))
    out = np.zeros(len(rows))
    for kind, found in by_kind.items():
        position = {pid: k for k, (pid, _) in enumerate(found)}
        mine = [j for j, t in enumerate(rows) if t.profile_id in position]
        schema = versions[rows[mine[0]].policy_version_id].schemas[kind]
        frame = frame_from_json([{**data, "id": pid} for pid, data in found], schema)
        policies = [versions[rows[j].policy_version_id].policy for j in mine]
        batch = Batch(
            columns=Columns(frame, schema),
            rows=np.array([position[rows[j].profile_id] for j in mine], dtype=np.intp),
            policies=policies,
            pol=np.arange(len(mine)),
            benefit=np.array(
                [np.nan if rows[j].benefit is None else rows[j].benefit for j in mine],
                dtype=np.float64,
            ),
            as_of=date_to_days(plan.today),
            channel="sms",
        )
        out[mine] = model.predict(matrix(batch, model.vocab))
    return out.tolist()
