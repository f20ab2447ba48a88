"""`zhida feedback import`, `zhida synth feedback`, `zhida rank train|lift` and
`zhida evaluate --model`, end to end on a small simulated history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from zhida.store.db import upgrade

PACK = Path(__file__).resolve().parents[2] / "examples" / "policies"


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'z.db'}"
    upgrade(url)
    return {"ZHIDA_DATABASE_URL": url, "ZHIDA_VAR_DIR": str(tmp_path / "var")}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("history")
    profiles, feedback = d / "e.parquet", d / "fb.jsonl"
    assert (
        run_cli("synth", "-n", "12000", "--seed", "1", "-p", PACK, "-o", profiles).returncode == 0
    )
    result = run_cli(
        "synth", "feedback", "-p", PACK, "--profiles", profiles, "-o", feedback,
        "--holdout", "0.2", "--seed", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return profiles, feedback


def test_feedback_import_reports_bad_lines_and_is_idempotent(
    tmp_path: Path, env: dict[str, str]
) -> None:
    file = tmp_path / "fb.jsonl"
    file.write_text(
        '{"profile": "E1", "policy": "p1", "event": "sent", "at": "2026-03-01", "channel": "sms"}\n'
        '{"profile": "E1", "policy": "p1", "event": "sent"}\n'
        '{"profile": "E1", "policy": "p1", "event": "applied", "at": "2026-03-02"}\n',
        encoding="utf-8",
    )
    first = run_cli("feedback", "import", file, env=env)
    assert first.returncode == 1
    assert f"{file}:2: error: 'at' must be a non-empty string" in first.stderr
    assert "2 events added, 0 already stored, 1 bad lines skipped" in first.stderr
    again = run_cli("feedback", "import", file, env=env)
    assert "0 events added, 2 already stored" in again.stderr


def test_simulated_feedback_is_deterministic(history: tuple[Path, Path], tmp_path: Path) -> None:
    profiles, feedback = history
    again = tmp_path / "again.jsonl"
    run_cli("synth", "feedback", "-p", PACK, "--profiles", profiles, "-o", again,
            "--holdout", "0.2", "--seed", "0")  # fmt: skip
    assert again.read_bytes() == feedback.read_bytes()


def test_train_then_evaluate_with_the_model(
    history: tuple[Path, Path], tmp_path: Path, env: dict[str, str]
) -> None:
    profiles, feedback = history
    assert run_cli("feedback", "import", feedback, env=env).returncode == 0
    model = tmp_path / "m.skops"
    result = run_cli(
        "rank", "train", "-p", PACK, "--profiles", profiles, "--out", model, "--json", env=env
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["model"]) >= {"roc_auc", "pr_auc", "brier", "precision_at_cap", "calibration"}
    assert json.loads(model.with_suffix(".json").read_text()) == {**report}
    active = Path(env["ZHIDA_VAR_DIR"]) / "models" / "active.skops"
    assert report["activated"], report["reasons"]  # the simulator's signal is there
    assert active.read_bytes() == model.read_bytes()

    args = ["evaluate", "-p", PACK, "--profiles", profiles, "--as-of", "2026-04-01"]
    heuristic = run_cli(*args, env={"ZHIDA_VAR_DIR": str(tmp_path / "none")})
    learnt = run_cli(*args, "--model", model, env=env)
    assert learnt.returncode == 0, learnt.stderr
    h = [json.loads(line) for line in heuristic.stdout.splitlines()]
    m = [json.loads(line) for line in learnt.stdout.splitlines()]
    assert {(r["profile"], r["policy"]) for r in h} == {(r["profile"], r["policy"]) for r in m}
    assert all(0.0 <= r["takeup"] <= 1.0 for r in m)
    assert max(r["takeup"] for r in m) < min(r["takeup"] for r in h)  # calibrated: a few %
    assert run_cli(*args, env=env).stdout == learnt.stdout  # without --model: the active one


def test_lift_from_a_feedback_file(history: tuple[Path, Path], env: dict[str, str]) -> None:
    _, feedback = history
    result = run_cli("rank", "lift", "zj-tech-sme", "--feedback", feedback, "--json", env=env)
    assert result.returncode == 0, result.stderr
    lift = json.loads(result.stdout)
    assert lift["held_out"] > 0 and lift["low"] <= lift["lift"] <= lift["high"]
    text = run_cli("rank", "lift", "zj-tech-sme", "--feedback", feedback, env=env).stdout
    assert text.startswith("zj-tech-sme: notified ") and "95% interval" in text


def test_evaluate_refuses_a_bad_model_file(tmp_path: Path, history: tuple[Path, Path]) -> None:
    profiles, _ = history
    bad = tmp_path / "bad.skops"
    bad.write_bytes(b"PK\x03\x04 not really")
    result = run_cli("evaluate", "-p", PACK, "--profiles", profiles, "--model", bad)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{bad}: not a zhida take-up model")


def test_uplift_report(history: tuple[Path, Path], env: dict[str, str]) -> None:
    profiles, feedback = history
    result = run_cli(
        "rank", "uplift", "-p", PACK, "--profiles", profiles, "--feedback", feedback, env=env
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["uplift_model"]) == {"qini", "uplift_at"}
    assert report["eval_rows"] > 0


def test_uplift_store_activates_only_when_it_beats_takeup(
    history: tuple[Path, Path], env: dict[str, str]
) -> None:
    from zhida.ranking.uplift import ACTIVE_UPLIFT, active_uplift, beats_takeup

    profiles, feedback = history
    args = ("rank", "uplift", "-p", PACK, "--profiles", profiles, "--feedback", feedback)
    result = run_cli(*args, "--store", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["activated"], report["reason"]) == beats_takeup(report)
    stored = Path(report["path"])
    assert (stored / "sms.skops").is_file() and (stored / "inapp.skops").is_file()
    var = Path(env["ZHIDA_VAR_DIR"])
    assert (var / ACTIVE_UPLIFT).is_dir() == report["activated"]
    if report["activated"]:
        model = active_uplift(var)
        assert model is not None and model.vocab
    assert active_uplift(var / "none") is None


def test_beats_takeup_rule() -> None:
    from zhida.ranking.uplift import beats_takeup

    def result(mine: float | None, theirs: float | None) -> dict:
        return {
            "uplift_model": {"uplift_at": {"20%": mine}},
            "by_takeup": {"uplift_at": {"20%": theirs}},
        }

    assert beats_takeup(result(0.05, 0.02))[0] is True
    assert beats_takeup(result(0.02, 0.02))[0] is False
    assert beats_takeup(result(None, 0.02))[0] is False


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_simulated_feedback_trains_but_counts_in_no_results(
    tmp_path: Path, request: pytest.FixtureRequest, db: str
) -> None:
    """`--simulated` (what `zhida demo` imports its made-up history with) stores the
    events marked so: the console's results and lift leave them out."""
    from zhida.publishing.results import counts_by_policy, policy_results
    from zhida.ranking.feedback import load_feedback
    from zhida.store.db import session_scope

    url = str(request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url"))
    env = {"ZHIDA_DATABASE_URL": url, "ZHIDA_VAR_DIR": str(tmp_path / "var")}
    made_up, real = tmp_path / "sim.jsonl", tmp_path / "real.jsonl"
    line = '{{"profile": "{}", "policy": "p1", "event": "{}", "at": "2026-03-0{}"}}\n'
    made_up.write_text(
        line.format("E1", "opened", 1) + line.format("E1", "granted", 2), encoding="utf-8"
    )
    real.write_text(line.format("E2", "granted", 3), encoding="utf-8")
    assert run_cli("feedback", "import", made_up, "--simulated", env=env).returncode == 0
    assert run_cli("feedback", "import", real, env=env).returncode == 0
    with session_scope(url) as s:
        results = policy_results(s, "p1")
        assert (results["granted"], results["opened"]) == (1, 0)
        assert results["hours_to_first_grant"] is None  # never published: no start
        assert counts_by_policy(s)["p1"]["granted"] == 1
        assert load_feedback(s).height == 3  # the model still learns from all of it
        assert load_feedback(s, simulated=False)["profile"].to_list() == ["E2"]
