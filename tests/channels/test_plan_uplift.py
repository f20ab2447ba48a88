"""Where the SMS cap binds, the active uplift model picks who gets the SMS."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.channels.test_plan import DAY, company, notes, settings
from tests.support.factories import make_frame, published_row, store_profiles
from zhida.channels.plan import plan_notifications
from zhida.profiles.schema import builtin_schema
from zhida.ranking.features import CATEGORICAL, FEATURES
from zhida.ranking.model import fit
from zhida.ranking.uplift import ACTIVE_UPLIFT, UpliftModel, save_uplift
from zhida.store.db import session_scope
from zhida.store.models import Transition

POLICY = """id: {pid}
title: 测试政策{pid}
audience: enterprise
department: {dept}
window: {{opens: 2026-05-01, closes: 2026-06-30}}
benefit: {{amount: 50万}}
criteria:
  - {{id: rev, label: 营收不低于1亿元, when: revenue >= 1亿}}
"""
#: policy -> department: the stub model's only signal
POLICIES = {"a": "经信厅", "b": "科技厅", "c": "人社厅"}


def uplift_preferring(department: str) -> UpliftModel:
    """Real take-up models, stored and loaded as the planner does: by SMS, take-up is
    high for `department`'s policies only; in-app, it is flat."""
    vocab = {name: [] for name in CATEGORICAL} | {"department": sorted(POLICIES.values())}
    rng = np.random.default_rng(0)
    n = 4000
    x = np.full((n, len(FEATURES)), np.nan)
    dept = rng.integers(0, len(POLICIES), n)
    x[:, FEATURES.index("department")] = dept
    x[:, FEATURES.index("benefit_log")] = rng.random(n)
    chosen = vocab["department"].index(department)
    sms = fit(x, rng.random(n) < np.where(dept == chosen, 0.8, 0.1))
    inapp = fit(x, rng.random(n) < 0.3)
    sms.vocab = inapp.vocab = vocab
    return UpliftModel(sms, inapp)


def setup(url: str, policies: list[str]) -> None:
    with session_scope(url) as s:
        store_profiles(s, make_frame([company("E1")], builtin_schema("enterprise")))
        for pid in policies:
            text = POLICY.format(pid=pid, dept=POLICIES[pid])
            v_id = published_row(s, pid, text)
            s.add(
                Transition(
                    run_id=1, profile_id="E1", policy_id=pid, policy_version_id=v_id,
                    from_outcome=0, to_outcome=2,
                )
            )  # fmt: skip


def sms_sent_for(url: str) -> dict[str, str]:
    return {n.policy_id: n.status for n in notes(url) if n.channel == "sms"}


def test_capped_sms_goes_to_the_highest_uplift(db_url: str, tmp_path: Path) -> None:
    setup(db_url, ["a", "b"])
    save_uplift(uplift_preferring("科技厅"), tmp_path / ACTIVE_UPLIFT)
    with session_scope(db_url) as s:
        summary = plan_notifications(
            s, DAY, settings(sms_cap=1, var_dir=tmp_path, sms_digests=False)
        )
    assert (summary.inapp, summary.sms_queued, summary.skipped["frequency_cap"]) == (2, 1, 1)
    assert sms_sent_for(db_url) == {"b": "queued", "a": "skipped"}  # a: in-app only


def test_without_a_model_the_order_is_todays(db_url: str, tmp_path: Path) -> None:
    setup(db_url, ["a", "b"])
    with session_scope(db_url) as s:
        summary = plan_notifications(
            s, DAY, settings(sms_cap=1, var_dir=tmp_path, sms_digests=False)
        )
    assert (summary.inapp, summary.sms_queued) == (2, 1)
    assert sms_sent_for(db_url) == {"a": "queued", "b": "skipped"}


def test_where_the_cap_does_not_bind_nothing_moves(db_url: str, tmp_path: Path) -> None:
    setup(db_url, ["a", "b", "c"])
    save_uplift(uplift_preferring("人社厅"), tmp_path / ACTIVE_UPLIFT)
    with session_scope(db_url) as s:
        summary = plan_notifications(
            s, DAY, settings(sms_cap=3, var_dir=tmp_path, sms_digests=False)
        )
    assert summary.sms_queued == 3
    with session_scope(db_url) as s:  # c preferred, but all three fit: planned in id order
        order = [n.policy_id for n in notes(db_url) if n.channel == "sms"]
    assert order == ["a", "b", "c"]


def test_the_active_model_is_loaded_once_per_activation(tmp_path: Path) -> None:
    """Each planning pass asks for the active model: the same files give the model
    loaded before; a new activation (copied in, then renamed over the old) the new one."""
    import shutil

    from zhida.ranking.uplift import active_uplift

    active = tmp_path / ACTIVE_UPLIFT
    save_uplift(uplift_preferring("科技厅"), active)
    first = active_uplift(tmp_path)
    assert first is not None and active_uplift(tmp_path) is first
    new = active.with_name(active.name + ".new")
    save_uplift(uplift_preferring("人社厅"), new)
    shutil.rmtree(active)
    new.rename(active)
    second = active_uplift(tmp_path)
    assert second is not None and second is not first
    assert active_uplift(tmp_path) is second
    shutil.rmtree(active)
    assert active_uplift(tmp_path) is None
