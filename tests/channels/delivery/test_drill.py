"""The delivery drill at a small size (bench/drill.py at full size): PostgreSQL, a
private Redis, two prefork Celery workers, the twilio SDK against the local fake.
A pool process SIGKILLed mid-batch and provider faults (500, 429, hang-then-accept,
hang-then-500) lose nothing and send nothing twice; the counts reconcile."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import unavailable


def test_sigkill_mid_batch_and_provider_faults_lose_nothing_send_nothing_twice(
    pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("redis-server") is None:
        unavailable("redis-server", "not on PATH")
    monkeypatch.setenv("ZHIDA_TEST_PG_URL", pg_admin_url)
    import bench.drill as drill

    monkeypatch.setattr(drill, "PG", pg_admin_url)
    result = drill.drill(
        ("sigkill_mid_batch", "provider_faults"),
        150,
        tmp_path,
        timeout=120,
        overrides={"ZHIDA_SWEEP_AFTER_SECONDS": "5"},
    )
    killed, faults = result["phases"]["sigkill_mid_batch"], result["phases"]["provider_faults"]
    for phase in (killed, faults):
        assert (phase["sent"], phase["lost"], phase["duplicates"]) == (150, 0, 0), phase
        assert phase["refs_unmatched"] == 0 and phase["reconciled"], phase
    # the kill left claimed rows behind; each was looked up before any resend
    assert killed["unsure_found"] + killed["unsure_resent"] >= 1, killed
    # the hangs Twilio accepted were found, not sent again
    assert faults["unsure_found"] >= 1, faults
