"""Settings: the secret that signs sessions, and bad values as clear errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zhida.errors import ConfigError
from zhida.settings import (
    DEV_SECRET,
    Settings,
    get_settings,
    is_loopback,
    require_real_secret,
    write_demo_secret,
)

REAL = "q" * 43


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost", True),
        ("http://[::1]:8000", True),
        ("https://127.0.0.1", False),
        ("http://0.0.0.0:8000", False),
        ("https://zhida.example.gov.cn", False),
        ("http://10.0.0.5:8000", False),
    ],
)
def test_only_http_on_this_machine_is_loopback(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_the_development_secret_serves_only_the_loopback_demo(tmp_path: Path) -> None:
    require_real_secret(Settings(var_dir=tmp_path))  # http://127.0.0.1:8000
    for secret in ("", "short-secret"):
        with pytest.raises(ConfigError, match="ZHIDA_SECRET_KEY is not set"):
            require_real_secret(
                Settings(
                    var_dir=tmp_path, secret_key=secret, base_url="https://zhida.example.gov.cn"
                )
            )
    require_real_secret(Settings(secret_key=REAL, base_url="https://zhida.example.gov.cn"))


def test_the_secret_comes_from_the_environment_else_the_demo_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings(var_dir=tmp_path).secret_key == DEV_SECRET
    file = write_demo_secret(tmp_path)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    stored = file.read_text().strip()
    assert len(stored) >= 32 and stored != DEV_SECRET
    assert write_demo_secret(tmp_path).read_text().strip() == stored  # kept, not replaced
    assert Settings(var_dir=tmp_path).secret_key == stored
    monkeypatch.setenv("ZHIDA_SECRET_KEY", REAL)
    assert Settings(var_dir=tmp_path).secret_key == REAL


def test_serve_refuses_to_start_with_the_public_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zhida.cli import app

    monkeypatch.setenv("ZHIDA_BASE_URL", "https://zhida.example.gov.cn")
    monkeypatch.setenv("ZHIDA_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("ZHIDA_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--port", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "error: ZHIDA_SECRET_KEY is not set" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMS_PROVIDER", "carrier-pigeon"),
        ("SMS_RATE_PER_SECOND", "0"),
        ("QUIET_START_HOUR", "24"),
        ("CHUNK_SIZE", "0"),
        ("SMS_CAP", "-1"),
        ("SMS_DB_POOL", "lots"),
    ],
)
def test_a_bad_setting_is_a_config_error_naming_it(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"ZHIDA_{name}", value)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match=f"ZHIDA_{name}"):
            get_settings()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
